import math

import numpy as np
import pytest

from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import signed_coc
from bggan.data.depth_corruption import (
    NAMED,
    PhoneDepth,
    corrupted_coc,
    grow,
    holes,
    low_resolution,
    metres_from_relative,
    noise,
    quantize,
    relative_disparity,
    shift,
    smooth,
)
from bggan.errors import BgganError


def _square(h=64, w=96, top=20, left=30, size=24):
    """Disparity 1 in a square (a near object), 0.2 around it."""
    d = np.full((h, w), 0.2, np.float32)
    d[top:top + size, left:left + size] = 1.0
    return d


def test_relative_disparity_round_trips_to_metres():
    depth = np.random.default_rng(0).uniform(0.5, 80, (16, 24)).astype(np.float32)
    relative, lo, hi = relative_disparity(depth)
    assert relative.min() == 0 and relative.max() == pytest.approx(1) and relative.dtype == np.float32
    assert relative[np.unravel_index(depth.argmin(), depth.shape)] == pytest.approx(1)  # 1 is the nearest
    np.testing.assert_allclose(metres_from_relative(relative, lo, hi), depth, rtol=1e-5)
    assert not np.allclose(metres_from_relative(relative, lo, 2 * hi), depth, rtol=1e-2)  # control: the range matters


def test_low_resolution_removes_detail_finer_than_its_factor():
    fine = (np.indices((64, 96)).sum(0) % 2).astype(np.float32)  # a 1-px checkerboard
    assert np.ptp(low_resolution(fine, 8)) < 0.05
    coarse = _square()
    out = low_resolution(coarse, 8)
    assert out.shape == coarse.shape and abs(out.mean() - coarse.mean()) < 0.02  # the object stays, blurred
    assert 0.2 < out[20:44, 30:54].mean() < 1.0 and np.ptp(low_resolution(coarse, 1)) == pytest.approx(0.8)


def test_smooth_blurs_an_edge_and_keeps_a_flat_map():
    edge = _square()
    out = smooth(edge, 2.0)
    assert 0.3 < out[32, 30] < 0.9 and out[32, 42] == pytest.approx(1, abs=1e-3)  # the edge softens, the inside not
    np.testing.assert_allclose(smooth(np.full((20, 20), 0.4, np.float32), 3.0), 0.4, atol=1e-6)


@pytest.mark.parametrize("px", [3, -3])
def test_grow_moves_the_edges_of_near_things_by_px(px):
    d = _square()
    out = grow(d, px)
    side = 24 + 2 * px
    assert (out == 1).sum() == side * side
    assert (grow(d, 0) == d).all()


def test_shift_moves_the_map_against_the_photo():
    d = _square()
    out = shift(d, 2, -3)
    rows, cols = np.nonzero(out == 1)
    assert (rows.min(), cols.min()) == (22, 27)
    assert out.shape == d.shape


def test_noise_holes_and_quantisation():
    rng = np.random.default_rng(0)
    flat = np.full((128, 128), 0.5, np.float32)
    assert np.std(noise(flat, 0.02, rng)) == pytest.approx(0.02, rel=0.1)
    out = holes(flat, 0.05, rng)
    assert 0.02 < (out == 0).mean() < 0.1 and set(np.unique(out)) == {0.0, 0.5}
    values = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    q = quantize(values, 8)
    assert len(np.unique(q)) <= 256 and np.abs(q - values).max() <= 0.5 / 255 + 1e-7
    assert len(np.unique(values)) > 256  # control: the input had more levels


def test_every_named_corruption_changes_a_scene_like_map():
    d = smooth(_square(), 0.5)
    for name, corruption in NAMED.items():
        out = corruption(d, np.random.default_rng(0))
        assert out.shape == d.shape and out.min() >= 0 and out.max() <= 1, name
        assert np.abs(out - d).max() > 1e-3, name


def test_phone_depth_is_random_per_draw_and_reproducible_per_seed():
    d = smooth(_square(), 0.5)
    phone = PhoneDepth(clean=0.0)
    a, b = phone(d, np.random.default_rng(5)), phone(d, np.random.default_rng(5))
    assert (a == b).all()
    assert not (a == phone(d, np.random.default_rng(6))).all()
    assert len(np.unique(a)) <= 256 and np.abs(a - d).mean() > 1e-3  # always low resolution and 8 bits
    assert (PhoneDepth(clean=1.0)(d, np.random.default_rng(5)) == d).all()


def test_phone_depth_refuses_bad_settings_in_one_line():
    with pytest.raises(BgganError, match="phone_depth"):
        PhoneDepth(factors=(16.0, 4.0))
    with pytest.raises(BgganError, match="phone_depth"):
        PhoneDepth(p=1.5)
    assert PhoneDepth(factors=[2, 8]).factors == (2.0, 8.0)  # a config's list becomes a tuple


def test_corrupted_coc_is_the_true_one_without_a_corruption_and_zero_without_blur():
    depth = np.random.default_rng(0).uniform(1, 30, (24, 32)).astype(np.float32)
    lens = Lens(85.0, 2.0)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(corrupted_coc(depth, 3.0, lens, 32, None, rng),
                                  signed_coc(depth, 3.0, lens, 32).astype(np.float32))
    assert (corrupted_coc(depth, 3.0, Lens(85.0, math.inf), 32, PhoneDepth(), rng) == 0).all()
    corrupted = corrupted_coc(depth, 3.0, lens, 32, NAMED["noisy"], rng)
    assert np.abs(corrupted - signed_coc(depth, 3.0, lens, 32)).max() > 0.1
