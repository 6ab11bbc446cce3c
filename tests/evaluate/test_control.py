import itertools
import math

import kornia
import numpy as np
import pytest
import torch

from bggan.evaluate.control import (
    MIN_NO_BLUR_PSNR,
    ControlCurve,
    ControlPoint,
    SweepScene,
    control_curve,
    spearman,
    synthetic_sweep,
)

SWEEP = (math.inf, 8.0, 4.0, 2.0)


def _blur(x, sigma):
    """A Gaussian blur of ``(B, 3, H, W)``, one sigma per image (0: the image itself)."""
    out = x.clone()
    for i, s in enumerate(sigma.tolist()):
        if s > 0:
            out[i] = kornia.filters.gaussian_blur2d(x[i:i + 1], (31, 31), (s, s), border_type="reflect")[0]
    return out


def _lens(x, strength, scene=None):
    """The ideal model: blur as the strength asks (3 px at strength 1), out of focus only (right half)."""
    out = _blur(x, 3 * strength)
    out[..., : x.shape[-1] // 2] = x[..., : x.shape[-1] // 2]
    return out


@pytest.fixture(scope="module")
def scenes():
    """Photos whose right half is out of focus, their targets made by the ideal model itself."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(2):
        photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
        targets = {}
        for f in SWEEP:
            t = _lens(x, torch.tensor([0.0 if math.isinf(f) else 1.8 / f]))
            targets[f] = ((t[0] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
        coc = np.zeros((48, 64), np.float32)
        coc[:, 32:] = 20.0  # out of focus at the widest aperture
        out.append(SweepScene(str(i), photo, targets, coc))
    return out


def test_the_ideal_model_meets_every_aim(scenes):
    curve = control_curve(_lens, scenes, SWEEP)
    assert [p.f_number for p in curve.points] == list(SWEEP) and curve.scenes == 2
    assert curve.rank_correlation() == pytest.approx(1.0) and curve.rank_correlation("target") == pytest.approx(1.0)
    blur = [p.blur_model for p in curve.points]
    assert blur[0] == pytest.approx(1.0) and all(a > b for a, b in itertools.pairwise(blur))
    assert curve.no_blur_psnr() >= MIN_NO_BLUR_PSNR
    assert all(p.in_focus == pytest.approx(1.0, abs=0.02) for p in curve.points)
    assert all(p.psnr > 40 for p in curve.points)  # the targets are its own outputs (up to rounding)
    assert curve.passed() and "| no blur | 0.000 |" in curve.table()


@pytest.mark.parametrize(("name", "render", "failed"), [
    ("ignores the aperture", lambda x, s, scene: _lens(x, torch.ones_like(s)), {0, 1}),  # no rank, no photo
    ("backwards", lambda x, s, scene: _lens(x, 1.8 - s), {0, 1}),
    ("blurs the subject too", lambda x, s, scene: _blur(x, 3 * s), {2}),
])
def test_each_wrong_model_misses_its_aim(scenes, name, render, failed):
    curve = control_curve(render, scenes, SWEEP)
    met = [ok for *_, ok in curve.aims()]
    assert {i for i, ok in enumerate(met) if not ok} == failed, (name, curve.aims())
    if name == "backwards":
        assert curve.rank_correlation() == pytest.approx(-1.0)


def test_spearman_ranks_ties_and_constants():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)  # ranks, not values
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))


def test_a_curve_without_a_no_blur_point_misses_that_aim():
    point = ControlPoint(2.0, 0.9, 0.2, 0.2, 1.0, 30.0, 0.9, 25.0)
    curve = ControlCurve([point, ControlPoint(4.0, 0.45, 0.5, 0.5, 1.0, 30.0, 0.9, 28.0)], 1)
    assert curve.no_blur_psnr() is None and [ok for *_, ok in curve.aims()] == [True, False, True]


def test_synthetic_sweep_is_one_scene_at_every_f_number():
    (scene,) = synthetic_sweep([3], (48, 72), (math.inf, 8.0, 2.0), focal_mm=85.0)
    assert set(scene.targets) == {math.inf, 8.0, 2.0} and scene.coc.shape == (48, 72)
    assert np.array_equal(scene.targets[math.inf], scene.photo)  # no blur: the photo itself
    from bggan.data.defocus import Lens
    from bggan.data.synthetic import render_sample

    widest = render_sample(3, 48, 72, lens=Lens(focal_mm=85.0, f_number=2.0))
    assert np.array_equal(scene.coc, widest["coc"]) and np.array_equal(scene.targets[2.0], widest["target"])
    diff = {f: np.abs(scene.targets[f].astype(int) - scene.photo).mean() for f in (8.0, 2.0)}
    assert 0 < diff[8.0] < diff[2.0]  # the same scene, blurred less at f/8


def test_a_depth_aware_sweep_gives_the_defocus_map_scaled_by_the_aperture():
    from bggan.data.depth_corruption import PhoneDepth
    from bggan.data.synthetic import DefocusInput
    from bggan.evaluate.control import defocus_at

    sweep = (math.inf, 8.0, 2.0)
    (clean,) = synthetic_sweep([3], (48, 72), sweep, focal_mm=85.0, defocus=DefocusInput())
    np.testing.assert_array_equal(clean.defocus, clean.coc)  # the true depth: the CoC at the widest aperture
    maps = defocus_at(clean, torch.tensor([0.0, 1.8 / 8, 1.8 / 2]), sweep)
    assert maps.shape == (3, 1, 48, 72) and (maps[0] == 0).all()
    torch.testing.assert_close(maps[1, 0], torch.from_numpy(clean.coc) / 4)  # f/8 blurs a quarter of f/2
    (phone,) = synthetic_sweep([3], (48, 72), sweep, focal_mm=85.0, defocus=DefocusInput(PhoneDepth(clean=0.0)))
    assert np.abs(phone.defocus - phone.coc).mean() > 0.01  # the control: a phone's depth is not the true one
    assert synthetic_sweep([3], (48, 72), sweep, focal_mm=85.0)[0].defocus is None
