import math
import sys
import types

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from bggan import evaluate as ev
from bggan.errors import BgganError
from bggan.images import to_tensor
from tests.evaluate.common import image, mean_abs


def test_scorer_matches_direct_torchmetrics_calls():
    a, b = image(seed=1), image(seed=2)
    m = ev.Scorer()(to_tensor(a), to_tensor(b))
    ua, ub = torch.from_numpy(a).permute(2, 0, 1)[None] / 255.0, torch.from_numpy(b).permute(2, 0, 1)[None] / 255.0
    assert m.psnr == pytest.approx(float(peak_signal_noise_ratio(ua, ub, data_range=1.0)), abs=1e-4)
    assert m.ssim == pytest.approx(float(structural_similarity_index_measure(ua, ub, data_range=1.0)), abs=1e-5)
    assert m.lpips is None
    cropped = ev.Scorer(crop_border=5)(to_tensor(a), to_tensor(b))
    ca, cb = ua[..., 5:-5, 5:-5], ub[..., 5:-5, 5:-5]
    assert cropped.psnr == pytest.approx(float(peak_signal_noise_ratio(ca, cb, data_range=1.0)), abs=1e-4)
    assert cropped.ssim == pytest.approx(float(structural_similarity_index_measure(ca, cb, data_range=1.0)), abs=1e-5)


def test_identical_images_give_inf_psnr_and_ssim_one_and_print_inf():
    a = image()
    m = ev.Scorer()(to_tensor(a), to_tensor(a))
    assert math.isinf(m.psnr) and m.psnr > 0 and m.ssim == pytest.approx(1.0)
    scores = [ev.ImageScore("a", m)]
    assert ev.csv_rows(scores)[1][1] == "inf"
    assert "| inf | 1.0000 |" in ev.metrics_table(scores)


def test_crop_border_ignores_a_damaged_border():
    a = image()
    b = a.copy()
    b[:3] = 255 - b[:3]  # the top 3 rows differ
    whole, cropped = ev.Scorer()(to_tensor(b), to_tensor(a)), ev.Scorer(crop_border=3)(to_tensor(b), to_tensor(a))
    assert math.isfinite(whole.psnr) and whole.ssim < 1
    assert math.isinf(cropped.psnr) and cropped.ssim == pytest.approx(1.0)
    assert "3 px cropped from every side" in ev.Scorer(crop_border=3).conventions()
    assert "no border crop" in ev.Scorer().conventions()
    with pytest.raises(BgganError, match="too small for --crop-border 20"):
        ev.Scorer(crop_border=20)(to_tensor(a), to_tensor(a))
    with pytest.raises(BgganError):
        ev.Scorer(crop_border=-1)


def test_scorer_rejects_different_sizes_and_clamps_the_output():
    a = image()
    with pytest.raises(BgganError, match="40x50 but its target is 40x56"):
        ev.Scorer()(to_tensor(a[:, :50]), to_tensor(a))
    over = to_tensor(a) * 3  # far outside [-1, 1]: clamped before scoring
    clamped = to_tensor(a).mul(3).clamp(-1, 1)
    assert ev.Scorer()(over, to_tensor(a)).psnr == pytest.approx(ev.Scorer()(clamped, to_tensor(a)).psnr)


def test_lpips_column_comes_from_the_metric_in_minus_one_one():
    a, b = image(seed=3), image(seed=4)
    m = ev.Scorer(lpips=mean_abs, lpips_note="fake LPIPS")(to_tensor(a), to_tensor(b))
    expected = np.abs(a.astype(float) - b.astype(float)).mean() / 127.5
    assert m.lpips == pytest.approx(expected, rel=1e-5)

    def too_small(x, y):
        raise ValueError("H, W >= 31")

    scorer = ev.Scorer(lpips=too_small)
    assert scorer(to_tensor(a), to_tensor(b)).lpips is None and scorer.lpips_failures == 1


def test_load_lpips_metric_is_lazy_and_never_raises(monkeypatch):
    assert ev.load_lpips_metric(False) == (None, "LPIPS off (--no-lpips)")
    monkeypatch.setitem(sys.modules, "bggan.models.lpips", None)  # import raises ImportError
    assert ev.load_lpips_metric() == (None, "LPIPS skipped (bggan.models.lpips not available)")
    fake = types.ModuleType("bggan.models.lpips")
    fake.find_lpips = lambda: (mean_abs, "fake LPIPS loaded")
    monkeypatch.setitem(sys.modules, "bggan.models.lpips", fake)
    assert ev.load_lpips_metric() == (mean_abs, "fake LPIPS loaded")

    def broken():
        raise RuntimeError("boom")

    fake.find_lpips = broken
    metric, note = ev.load_lpips_metric()
    assert metric is None and "boom" in note
