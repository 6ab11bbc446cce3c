"""The depth-aware yardstick on images built so that the right answer is known in every band."""

import math

import numpy as np
import pytest
import torch

from bggan.data.defocus import blur
from bggan.data.scenes import fractal_noise
from bggan.evaluate.bands import BAND_NAMES, CocBands, band_masks, band_metrics, detail_energy, mean_bands


def _scene(h=96, w=288, seed=0):
    """A textured image whose thirds are in focus, in the transition and out of focus, and its bokeh target.

    Returns ``(input, target, coc)``: ``(1, 3, H, W)`` in [-1, 1] and ``(1, 1, H, W)`` px.
    """
    rng = np.random.default_rng(seed)
    texture = np.stack([fractal_noise(rng, h, w, octaves=7, base=8) for _ in range(3)], -1)
    grain = blur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), 1.5)  # periods of a few px, like grass
    sharp = np.clip(0.15 + 0.5 * texture + 0.35 * grain, 0, 1).astype(np.float32)
    coc = np.zeros((h, w), np.float32)
    coc[:, w // 3:2 * w // 3] = 4.0
    coc[:, 2 * w // 3:] = -16.0  # in front of the focal plane: the sign does not matter
    target = sharp.copy()
    for lo, hi, d in ((w // 3, 2 * w // 3, 4.0), (2 * w // 3, w, 16.0)):
        target[:, lo:hi] = blur(sharp, d)[:, lo:hi]

    def tensor(a):  # as 8-bit images, like photographs and rendered pairs
        return torch.from_numpy(np.round(np.clip(a, 0, 1) * 255) / 255).float().permute(2, 0, 1)[None] * 2 - 1

    return tensor(sharp), tensor(target), torch.from_numpy(coc)[None, None]


def _detail(pred, target, coc):
    return {k: v.detail for k, v in band_metrics(pred, target, coc)[0].items()}


def test_the_target_itself_keeps_all_detail_with_infinite_psnr():
    _, target, coc = _scene()
    scores = band_metrics(target, target, coc)[0]
    assert list(scores) == list(BAND_NAMES)
    for band in scores.values():
        assert band.detail == pytest.approx(1.0) and math.isinf(band.psnr)
    assert sum(b.fraction for b in scores.values()) == pytest.approx(1.0)


def _blurred(image: torch.Tensor, diameter: float) -> torch.Tensor:
    """``image`` blurred by a disk, as an 8-bit image (like the target: 8-bit steps carry a little energy)."""
    blurred = blur(((image[0] + 1) / 2).permute(1, 2, 0).numpy(), diameter)
    return torch.from_numpy(np.round(np.clip(blurred, 0, 1) * 255) / 255).float().permute(2, 0, 1)[None] * 2 - 1


def test_identity_blur_and_over_sharpening_order_as_expected_in_every_band():
    sharp, target, coc = _scene()
    identity = _detail(sharp, target, coc)
    blur_everything = _detail(_blurred(sharp, 16.0), target, coc)  # the right blur for the background only
    half_blur = _detail(_blurred(sharp, 8.0), target, coc)
    over = _detail((target + (target - _blurred(target, 3.0))).clamp(-1, 1), target, coc)
    # in focus: the input is the target; a global blur washes the subject out
    assert identity["in_focus"] == pytest.approx(1.0) and blur_everything["in_focus"] < 0.01
    assert half_blur["in_focus"] < 0.05
    # out of focus: the input keeps far too much; the right blur is 1, half of it too little blur
    assert identity["out_of_focus"] > 100 and blur_everything["out_of_focus"] == pytest.approx(1.0, abs=0.05)
    assert identity["out_of_focus"] > half_blur["out_of_focus"] > 2
    assert identity["transition"] > 2 > blur_everything["transition"]
    for band in BAND_NAMES:  # over-sharpening shows as more detail than the target everywhere
        assert over[band] > 1.05


def test_psnr_is_per_band():
    sharp, target, coc = _scene()
    scores = band_metrics(sharp, target, coc)[0]
    assert math.isinf(scores["in_focus"].psnr)  # the input is exact where the target is in focus
    assert scores["transition"].psnr > scores["out_of_focus"].psnr  # a little blur is a small error


def test_bands_follow_their_edges_and_flat_targets_report_no_detail():
    coc = torch.tensor([0.0, 0.99, 1.0, 8.0, 8.01, -20.0]).view(1, 1, 1, 6)
    masks = band_masks(coc, CocBands())
    assert masks["in_focus"].flatten().tolist() == [True, True, False, False, False, False]
    assert masks["transition"].flatten().tolist() == [False, False, True, True, False, False]
    assert masks["out_of_focus"].flatten().tolist() == [False, False, False, False, True, True]
    flat = torch.zeros(1, 3, 64, 64)
    scores = band_metrics(flat, flat, torch.zeros(1, 1, 64, 64))[0]
    assert scores["in_focus"].detail is None and scores["out_of_focus"].fraction == 0
    with pytest.raises(ValueError):
        band_metrics(flat, flat, torch.zeros(1, 1, 32, 64))
    with pytest.raises(ValueError):
        CocBands(in_focus=9, out_of_focus=8)


def test_detail_ignores_flat_images_and_means_skip_missing_values():
    assert float(detail_energy(torch.full((1, 3, 16, 16), 0.5)).max()) == 0
    rows = [{"in_focus": band} for band in band_metrics(*_scene()[1:2] * 2, _scene()[2])[0].values()]
    mean = mean_bands([{"in_focus": rows[0]["in_focus"]}, {"in_focus": type(rows[0]["in_focus"])(0.5, None, None)}])
    assert mean["in_focus"].detail == pytest.approx(1.0) and mean["in_focus"].fraction == pytest.approx(0.4167, 1e-3)
