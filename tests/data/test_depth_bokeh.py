import itertools

import numpy as np
import pytest

from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import depth_from_map, depth_layers, render_with_depth, slice_coordinate, slice_diameter
from bggan.errors import BgganError
from tests.data.test_synthetic import sharpness


def _stripes(h, w):
    xx = np.mgrid[0:h, 0:w][1]
    return np.repeat(np.where((xx // 3) % 2 == 0, 220, 30).astype(np.uint8)[..., None], 3, -1)


def test_depth_maps_become_metres():
    values = np.array([[0, 128, 255]], np.float32)
    depth = depth_from_map(values, 1.0, 11.0, disparity=False)
    assert np.allclose(depth, [[1.0, 1 + 10 * 128 / 255, 11.0]])
    inverse = depth_from_map(values, 1.0, 11.0, disparity=True)
    assert np.allclose(inverse[0, [0, 2]], [11.0, 1.0])  # bright = near
    assert np.isclose(1 / inverse[0, 1], 1 / 11 + 128 / 255 * (1 - 1 / 11))  # linear in 1/depth
    with pytest.raises(BgganError, match="near < far"):
        depth_from_map(values, 5.0, 2.0, False)


def test_layers_share_every_pixel_exactly_once():
    rng = np.random.default_rng(0)
    coc = rng.uniform(-7, 12, (20, 30)).astype(np.float32)
    coc[0, 0] = 0
    layers, diameters = depth_layers(np.zeros((20, 30, 3), np.float32), np.ones((20, 30)), coc, step=1.5)
    assert np.allclose(sum(layer.alpha for layer in layers), 1, atol=1e-6)
    assert 0.0 in diameters and all(np.isclose(d / 1.5, round(d / 1.5)) for d in diameters)
    assert layers[0].name.startswith("coc+")  # far (behind focus) first


def test_focal_plane_stays_sharp_and_blur_grows_with_distance():
    h, w = 96, 480
    image = _stripes(h, w)
    depth = np.empty((h, w), np.float32)
    depths = [2.0, 2.6, 4.0, 12.0]
    for i, d in enumerate(depths):
        depth[:, i * 120:(i + 1) * 120] = d
    out = render_with_depth(image, depth, focus_m=2.0)
    inner = [np.zeros((h, w), bool) for _ in depths]
    for i, m in enumerate(inner):
        m[10:-10, i * 120 + 30:i * 120 + 90] = True
    ratios = [sharpness(out, m) / sharpness(image, m) for m in inner]
    assert ratios[0] > 0.99 and 0.5 > ratios[1] > ratios[2] > ratios[3]
    assert np.abs(out.astype(int) - image).mean() > 5


def test_a_photo_all_at_the_focus_distance_is_unchanged():
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    out = render_with_depth(image, np.full((40, 56), 3.0, np.float32), focus_m=3.0)
    assert np.abs(out.astype(int) - image).max() <= 1  # sRGB round trip only


def test_highlight_gain_makes_bright_discs():
    image = np.full((64, 64, 3), 40, np.uint8)
    image[31:33, 31:33] = 255
    depth = np.full((64, 64), 20.0, np.float32)
    plain = render_with_depth(image, depth, 2.0, Lens(), highlight_gain=1)
    boosted = render_with_depth(image, depth, 2.0, Lens(), highlight_gain=8)
    assert boosted[32, 32].mean() > plain[32, 32].mean() + 20
    assert (boosted[20:44, 20:44] > 60).sum() > (plain[20:44, 20:44] > 60).sum()  # a wider bright disc


def test_bad_arguments():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(BgganError, match="depth map is 8x9"):
        render_with_depth(image, np.ones((8, 9), np.float32), 2.0)
    with pytest.raises(BgganError, match="focal length"):
        render_with_depth(image, np.ones((8, 8), np.float32), 0.01)


def test_layers_are_a_pixel_apart_near_focus_and_spread_out_beyond():
    coc = np.linspace(-30, 60, 20 * 30, dtype=np.float32).reshape(20, 30)
    layers, diameters = depth_layers(np.zeros((20, 30, 3), np.float32), np.ones((20, 30)), coc)
    total = sum(layer.alpha for layer in layers)
    np.testing.assert_allclose(total, 1, atol=1e-6)  # still a partition of every pixel
    small = sorted(d for d in diameters if d <= 4)
    assert small == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]  # both sides of the focal plane, 1 px apart
    far = sorted(d for d in diameters if d > 4)
    assert all(b / a == pytest.approx(1.25) for a, b in itertools.pairwise(far) if b != a)  # then geometric
    assert len(layers) < 40 and max(diameters) >= 60  # far fewer than 90 one-pixel layers, and the whole range
    t = slice_coordinate(coc)
    assert np.all(np.diff(t.ravel()) > 0)  # monotonic: neighbouring pixels share neighbouring layers
    assert slice_diameter(int(np.floor(slice_coordinate(np.array(20.0))))) <= 20 < slice_diameter(
        int(np.floor(slice_coordinate(np.array(20.0)))) + 1)
