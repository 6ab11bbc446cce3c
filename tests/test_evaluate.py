import csv
import io
import math
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from bggan import evaluate as ev
from bggan.errors import BgganError
from bggan.images import to_tensor
from bggan.models import GlassNet


def _image(h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def _mean_abs(a, b):
    """A stand-in LPIPS: mean absolute difference of (N, 3, H, W) tensors in [-1, 1], per image."""
    return (a - b).abs().mean(dim=(1, 2, 3))


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


# ---------------------------------------------------------------------------------------------------- metrics


def test_scorer_matches_direct_torchmetrics_calls():
    a, b = _image(seed=1), _image(seed=2)
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
    a = _image()
    m = ev.Scorer()(to_tensor(a), to_tensor(a))
    assert math.isinf(m.psnr) and m.psnr > 0 and m.ssim == pytest.approx(1.0)
    scores = [ev.ImageScore("a", m)]
    assert ev.csv_rows(scores)[1][1] == "inf"
    assert "| inf | 1.0000 |" in ev.metrics_table(scores)


def test_crop_border_ignores_a_damaged_border():
    a = _image()
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
    a = _image()
    with pytest.raises(BgganError, match="40x50 but its target is 40x56"):
        ev.Scorer()(to_tensor(a[:, :50]), to_tensor(a))
    over = to_tensor(a) * 3  # far outside [-1, 1]: clamped before scoring
    clamped = to_tensor(a).mul(3).clamp(-1, 1)
    assert ev.Scorer()(over, to_tensor(a)).psnr == pytest.approx(ev.Scorer()(clamped, to_tensor(a)).psnr)


def test_lpips_column_comes_from_the_metric_in_minus_one_one():
    a, b = _image(seed=3), _image(seed=4)
    m = ev.Scorer(lpips=_mean_abs, lpips_note="fake LPIPS")(to_tensor(a), to_tensor(b))
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
    fake.find_lpips = lambda: (_mean_abs, "fake LPIPS loaded")
    monkeypatch.setitem(sys.modules, "bggan.models.lpips", fake)
    assert ev.load_lpips_metric() == (_mean_abs, "fake LPIPS loaded")

    def broken():
        raise RuntimeError("boom")

    fake.find_lpips = broken
    metric, note = ev.load_lpips_metric()
    assert metric is None and "boom" in note


# ---------------------------------------------------------------------------------------------------- pairing


def test_pair_folders_matches_stems_in_natural_order_across_suffixes(tmp_path):
    for name in ("10.png", "2.jpg", "1.webp", "only_pred.png", "dup.png", "dup.jpg"):
        _save(tmp_path / "pred" / name, _image(8, 8))
    for name in ("2.png", "10.jpeg", "1.png", "only_target.png", "dup.png"):
        _save(tmp_path / "target" / name, _image(8, 8))
    (tmp_path / "target" / "notes.txt").write_text("not an image")
    pairing = ev.pair_folders(tmp_path / "pred", tmp_path / "target")
    assert [name for name, _ in pairing.pairs.entries] == ["1", "2", "10"]
    assert pairing.pairs.entries[1][1] == {"pred": tmp_path / "pred" / "2.jpg", "target": tmp_path / "target" / "2.png"}
    assert sorted(pairing.unmatched) == ["pred/only_pred.png", "target/only_target.png"]
    assert pairing.unmatched_line().startswith("2 files without a partner, not scored: ")
    assert [s.name for s in pairing.ambiguous] == ["dup"] and "pred/dup.jpg" in pairing.ambiguous[0].reason


def test_pair_folders_with_inputs_needs_all_three(tmp_path):
    for folder in ("pred", "target", "input"):
        for name in ("a", "b"):
            if not (folder == "input" and name == "b"):
                _save(tmp_path / folder / f"{name}.png", _image(8, 8))
    pairing = ev.pair_folders(tmp_path / "pred", tmp_path / "target", tmp_path / "input")
    assert [n for n, _ in pairing.pairs.entries] == ["a"]
    assert sorted(pairing.unmatched) == ["pred/b.png", "target/b.png"]
    item = pairing.pairs[0]
    assert set(item) == {"name", "pred", "target", "input"} and item["pred"].shape == (8, 8, 3)


def test_unmatched_line_shows_the_first_few_names(tmp_path):
    pairing = ev.Pairing(ev.FilePairs([]), [f"pred/{i}.png" for i in range(8)], [])
    assert pairing.unmatched_line() == ("8 files without a partner, not scored: pred/0.png, pred/1.png, pred/2.png, "
                                        "pred/3.png, pred/4.png and 3 more")
    assert ev.Pairing(ev.FilePairs([]), [], []).unmatched_line() is None


def test_pair_folders_missing_folder(tmp_path):
    with pytest.raises(BgganError, match="no such folder"):
        ev.pair_folders(tmp_path / "nope", tmp_path)


# ---------------------------------------------------------------------------------------------------- scoring


def test_score_pairs_skips_bad_pairs_and_keeps_panels(tmp_path):
    a, b = _image(seed=5), _image(seed=6)
    _save(tmp_path / "pred" / "1.png", a)
    _save(tmp_path / "target" / "1.png", b)
    _save(tmp_path / "pred" / "2.png", a[:, :50])  # size differs from its target
    _save(tmp_path / "target" / "2.png", b)
    (tmp_path / "pred" / "3.png").write_bytes(b"not a png")
    _save(tmp_path / "target" / "3.png", b)
    _save(tmp_path / "pred" / "4.png", b)
    _save(tmp_path / "target" / "4.png", b)
    pairing = ev.pair_folders(tmp_path / "pred", tmp_path / "target")
    scores, skipped = ev.score_pairs(pairing.pairs, ev.Scorer(), keep=1)
    assert [s.name for s in scores] == ["1", "4"] and [s.name for s in skipped] == ["2", "3"]
    assert "sizes differ: pred 40x50, target 40x56" in skipped[0].reason
    assert "not a readable image" in skipped[1].reason
    assert scores[0].identity is None and scores[0].seconds is None
    assert len(scores[0].panels) == 3 and scores[1].panels is None  # pred | target | error, first image only
    assert math.isinf(scores[1].model.psnr)


def test_score_pairs_with_a_model_times_it_and_scores_the_identity_baseline():
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=4, n_res=1, init="he")
    items = [{"name": str(i), "input": _image(20, 28, seed=i), "target": _image(20, 28, seed=10 + i)} for i in range(3)]
    pairs = _Pairs(items)
    scores, skipped = ev.score_pairs(pairs, ev.Scorer(), model, keep=2)
    assert not skipped and [s.name for s in scores] == ["0", "1", "2"]
    assert all(s.seconds is not None and s.seconds > 0 for s in scores)
    with torch.inference_mode():
        out = model(to_tensor(items[0]["input"]))[0]
    assert scores[0].model == ev.Scorer()(out, to_tensor(items[0]["target"]))
    assert scores[0].identity == ev.Scorer()(to_tensor(items[0]["input"]), to_tensor(items[0]["target"]))
    assert [len(s.panels or []) for s in scores] == [4, 4, 0]
    assert np.array_equal(scores[0].panels[0], items[0]["input"])
    # the identity row agrees with the older evaluate() (used by bggan-demo)
    old = ev.evaluate(None, pairs)
    assert old.psnr == pytest.approx(ev.mean_metrics(scores, "identity").psnr, abs=1e-4)
    assert old.ssim == pytest.approx(ev.mean_metrics(scores, "identity").ssim, abs=1e-5)


def test_means_skip_missing_lpips():
    scores = [ev.ImageScore("a", ev.Metrics(20.0, 0.5, 0.2), seconds=1.0),
              ev.ImageScore("b", ev.Metrics(30.0, 0.7, None), seconds=3.0)]
    assert ev.mean_metrics(scores) == ev.Metrics(25.0, pytest.approx(0.6), pytest.approx(0.2))
    assert ev.mean_metrics(scores, "identity") is None
    assert ev.mean_seconds(scores) == 2.0


# ---------------------------------------------------------------------------------------------------- writers


def test_csv_has_one_row_per_image_and_identity_columns_when_known(tmp_path):
    scores = [ev.ImageScore("a", ev.Metrics(20.0, 0.5, 0.25), ev.Metrics(18.0, 0.4), 0.5),
              ev.ImageScore("b", ev.Metrics(30.0, 0.75))]
    path = ev.write_csv(tmp_path / "m.csv", scores)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == [*ev.CSV_COLUMNS, *ev.IDENTITY_COLUMNS] and len(rows) == 2
    assert float(rows[0]["psnr"]) == 20.0 and float(rows[0]["lpips"]) == 0.25 and float(rows[0]["seconds"]) == 0.5
    assert float(rows[0]["identity_psnr"]) == 18.0 and rows[0]["identity_lpips"] == ""
    assert rows[1]["lpips"] == rows[1]["seconds"] == rows[1]["identity_psnr"] == ""
    assert ev.csv_rows(scores[1:])[0] == list(ev.CSV_COLUMNS)  # no identity at all: no identity columns
    with pytest.raises(BgganError, match="exists"):
        ev.write_csv(tmp_path / "m.csv", scores)


def test_markdown_states_conventions_lpips_error_scale_and_skips():
    scores = [ev.ImageScore("a", ev.Metrics(20.0, 0.5), ev.Metrics(18.0, 0.4), 0.5)]
    text = ev.metrics_markdown(scores, ev.Scorer(crop_border=2, lpips_note="LPIPS off (--no-lpips)"), "model (g)",
                               "weights: g", [ev.SkippedPair("x", "unreadable")], ["Timing: forward only"])
    assert "| model (g) | 1 | 20.00 | 0.5000 | - | 0.5000 |" in text
    assert "| identity (output = input) | 1 | 18.00 | 0.4000 | - | - |" in text
    assert "2 px cropped from every side" in text and "11x11 Gaussian window (sigma 1.5)" in text
    assert "LPIPS off (--no-lpips)." in text and "full brightness at 0.25 of the [0, 1] range" in text
    assert "- x: unreadable" in text and "- Timing: forward only." in text and "1 images scored, 1 pairs skipped" in text


# ---------------------------------------------------------------------------------------------------- pictures


def test_error_map_scaling_and_colormap():
    target = np.full((4, 4, 3), 100, np.uint8)
    assert np.array_equal(ev.error_map(target, target), np.zeros((4, 4, 3), np.uint8) + ev.colorize(0.0))
    assert tuple(ev.colorize(0.0)) == (0, 0, 4) and tuple(ev.colorize(1.0)) == (252, 255, 164)
    full = target + np.uint8(64)  # 64/255 > 0.25: saturated
    assert np.array_equal(ev.error_map(full, target)[0, 0], ev.colorize(1.0))
    half = target + np.uint8(32)  # 32/255 / 0.25 = 0.502
    assert np.array_equal(ev.error_map(half, target)[0, 0], ev.colorize(32 / 255 / 0.25))
    lightness = ev.colorize(np.linspace(0, 1, 101)).astype(float) @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(lightness) >= 0)  # brighter means a larger error
    with pytest.raises(BgganError):
        ev.error_map(target, target[:2])


def test_comparison_grid_resizes_rows_to_one_height():
    rows = [[_image(40, 60)] * 4, [_image(20, 20)] * 3]
    grid = ev.comparison_grid(rows, height=30, gap=2)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * 30 + 2, 4 * 45 + 3 * 2, 3)  # 40x60 -> 30x45; the 3-tile row is padded
    assert np.all(grid[32:, 3 * 30 + 2 * 2:] == 255)
    with pytest.raises(ValueError):
        ev.comparison_grid([])
