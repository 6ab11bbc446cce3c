"""The geometry and texturing the synthetic scenes are built from."""

import math

import numpy as np
import pytest

from bggan.data.defocus import Lens
from bggan.data.scenes import Camera, perspective_texture, random_scene, shape_alpha


def test_a_camera_looking_at_a_point_sees_the_ground_there_at_that_depth():
    camera = Camera.looking_at(1.4, 3.0, row=180.0, focal_px=800.0, cx=144.0, cy=96.0)
    depth, lateral, forward = camera.ground(192, 288)
    assert depth[180, 144] == pytest.approx(3.0, rel=0.01)  # row 180's pixel centre is 180.5: close
    assert camera.ground_row(3.0) == pytest.approx(180.0, abs=1e-6)
    column = depth[:, 144]
    finite = np.isfinite(column)
    assert np.all(np.diff(column[finite]) < 0)  # the ground comes nearer down the frame
    assert np.all(lateral[:, :144][finite] < 0) and np.all(forward[finite] > 0)
    # depth along the optical axis of a ground point at height -H, forward F: the thin lens's distance
    f_ = forward[180, 144]
    assert depth[180, 144] == pytest.approx(f_ * math.cos(camera.pitch) + 1.4 * math.sin(camera.pitch), rel=1e-6)


def test_above_the_horizon_the_ground_is_not_seen():
    camera = Camera(1.5, 0.0, 500.0, 100.0, 100.0)  # level: the horizon through the middle
    depth, _, _ = camera.ground(200, 10)
    assert camera.horizon_row() == pytest.approx(100.0)
    assert np.isinf(depth[:100]).all() and np.isfinite(depth[100:]).all()
    assert np.isfinite(camera.wall_depth(200, 30.0)).all()


def test_depth_at_coc_inverts_the_thin_lens():
    lens = Lens()
    for depth in (0.7, 1.5, 2.5, 10.0, 80.0):
        coc = float(lens.coc_px(depth, 2.5, 768)) * (1 if depth >= 2.5 else -1)
        assert lens.depth_at_coc(coc, 2.5, 768) == pytest.approx(depth, rel=1e-9)
    assert math.isinf(lens.depth_at_coc(1e6, 2.5, 768))


def test_perspective_texture_minifies_without_aliasing():
    """A one-pixel checkerboard seen ever farther away fades to its mean grey; plain lookups would flicker."""
    check = np.repeat((np.indices((64, 64)).sum(0) % 2)[..., None], 3, axis=-1).astype(np.float32)
    u = np.tile(np.linspace(0, 1000, 256), (4, 1))  # 4 texels per pixel across
    v = np.tile(np.arange(4.0)[:, None], (1, 256))
    out = perspective_texture(check, u, v)
    assert abs(float(out.mean()) - 0.5) < 0.02 and float(out.std()) < 0.05
    grid_v, grid_u = np.indices((64, 64)) + 0.5
    near = perspective_texture(check, grid_u, grid_v)
    assert float(near.std()) > 0.45  # the negative control: at one texel per pixel the checks stay
    assert np.all(perspective_texture(check, np.full((2, 2), np.inf), np.zeros((2, 2))) == 0)


def test_shapes_fill_their_box_and_may_reach_outside_the_frame():
    rng = np.random.default_rng(0)
    for kind in range(3):
        alpha = shape_alpha(rng, 50, 60, (10.0, 40.0, 15.0, 45.0), kind)
        ys, xs = np.nonzero(alpha > 0.5)
        assert 10 <= ys.min() and ys.max() < 40 and 15 <= xs.min() and xs.max() < 45
    cut = shape_alpha(rng, 50, 60, (30.0, 400.0, 10.0, 50.0), 0)  # a tall ellipse: only its top shows
    assert cut[30:].max() == 1 and cut[:29].max() == 0
    assert shape_alpha(rng, 50, 60, (60.0, 90.0, 10.0, 20.0)).max() == 0  # wholly below the frame


def test_scenes_are_deterministic_and_their_depth_is_the_nearest_thing():
    a, b = random_scene(11, 96, 144), random_scene(11, 96, 144)
    assert np.array_equal(a.depth, b.depth) and np.array_equal(a.render(True), b.render(True))
    subject = next(layer for layer in a.layers if layer.name == "subject")
    nearer = sum(layer.alpha for layer in a.layers if layer.depth_m < subject.depth_m and layer.diameter_px is None)
    shown = (subject.alpha >= 0.5) & (np.asarray(nearer) < 0.5)
    assert shown.any() and np.allclose(a.depth[shown], subject.depth_m)
    assert np.allclose(a.coc()[shown], 0, atol=1e-4)
