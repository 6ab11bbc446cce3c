import csv
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bggan.cli import eval as eval_cli
from bggan.cli.common import run_command
from bggan.models import GlassNet, save_generator
from tests.evaluate.common import image as _image
from tests.evaluate.common import save as _save

SMALL_SYNTHETIC = ["--data", "synthetic", "pairs.n=3", "pairs.holdout=2", "pairs.size=[32,48]", "pairs.cache=false"]


def _run(argv):
    return run_command(eval_cli.PROG, eval_cli.main, argv)


def _rows(out):
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def folders(tmp_path):
    """pred/ target/ input/ with pairs 1, 2, 10 (natural order), plus one unmatched file in pred/."""
    for i, name in enumerate(("10", "2", "1")):
        target = _image(seed=i)
        noisy = np.clip(target.astype(int) + np.random.default_rng(9).integers(-20, 21, target.shape), 0, 255)
        _save(tmp_path / "pred" / f"{name}.png", noisy.astype(np.uint8))
        _save(tmp_path / "target" / f"{name}.jpg" if name == "2" else tmp_path / "target" / f"{name}.png", target)
        _save(tmp_path / "input" / f"{name}.webp", _image(seed=20 + i))
    _save(tmp_path / "pred" / "extra.png", _image(seed=99))
    return tmp_path


@pytest.fixture
def fake_lpips(monkeypatch):
    """``bggan.models.lpips`` replaced by a module whose metric is the mean absolute difference in [-1, 1]."""
    fake = types.ModuleType("bggan.models.lpips")
    fake.find_lpips = lambda: (lambda a, b: (a - b).abs().mean(dim=(1, 2, 3)), "fake LPIPS for the tests")
    monkeypatch.setitem(sys.modules, "bggan.models.lpips", fake)


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return str(save_generator(GlassNet(c1=4, c2=4, n_res=1, init="he"), tmp_path / "g.safetensors"))


def test_pred_mode_writes_csv_markdown_grid(folders, capsys, fake_lpips):
    out = folders / "out"
    argv = ["--pred", str(folders / "pred"), "--target", str(folders / "target"), "--out", str(out), "--grid", "2"]
    assert _run(argv) == 0
    printed = capsys.readouterr()
    assert "1 files without a partner, not scored: pred/extra.png" in printed.out
    assert "| pred (" in printed.out and str(out / "metrics.csv") in printed.out and str(out / "grid.png") in printed.out
    rows = _rows(out)
    assert [r["name"] for r in rows] == ["1", "2", "10"] and list(rows[0]) == ["name", "psnr", "ssim", "lpips", "seconds"]
    target = np.asarray(Image.open(folders / "target" / "1.png"))
    pred = np.asarray(Image.open(folders / "pred" / "1.png"))
    mse = ((pred / 255.0 - target / 255.0) ** 2).mean()
    assert float(rows[0]["psnr"]) == pytest.approx(-10 * math.log10(mse), abs=1e-3)
    assert float(rows[0]["lpips"]) == pytest.approx(np.abs(pred / 127.5 - target / 127.5).mean(), rel=1e-4)
    assert all(r["seconds"] == "" for r in rows)
    md = (out / "metrics.md").read_text()
    assert "whole images (no border crop)" in md and "data range 1" in md and "fake LPIPS for the tests" in md
    assert "3 images scored, 0 pairs skipped" in md and "Unmatched: 1 files without a partner" in md
    assert Image.open(out / "grid.png").size == (3 * 358 + 2 * 4, 2 * 256 + 4)  # 40x56 -> 256x358, 2 rows of 3


def test_input_folder_adds_identity_and_input_column(folders):
    out = folders / "out"
    assert _run(["--pred", str(folders / "pred"), "--target", str(folders / "target"), "--input",
                 str(folders / "input"), "--out", str(out), "--no-lpips", "--grid", "1"]) == 0
    rows = _rows(out)
    assert "identity_psnr" in rows[0] and all(r["lpips"] == "" and r["identity_psnr"] for r in rows)
    assert float(rows[0]["identity_psnr"]) < float(rows[0]["psnr"])  # the inputs are unrelated noise
    md = (out / "metrics.md").read_text()
    assert "| identity (output = input) | 3 |" in md and "LPIPS off (--no-lpips)" in md
    assert Image.open(out / "grid.png").size == (4 * 358 + 3 * 4, 256)  # input | pred | target | error


def test_crop_border_changes_the_numbers(folders):
    pred, target = folders / "pred", folders / "target"
    a = np.asarray(Image.open(target / "1.png")).copy()
    _save(pred / "1.png", a)
    a[:, :4] = 0  # damage only a 4 px border
    a[:, -4:] = 255
    _save(target / "1.png", a)
    for out, extra in ((folders / "whole", []), (folders / "cropped", ["--crop-border", "4"])):
        assert _run(["--pred", str(pred), "--target", str(target), "--out", str(out), "--no-lpips", *extra]) == 0
    whole, cropped = _rows(folders / "whole")[0], _rows(folders / "cropped")[0]
    assert math.isfinite(float(whole["psnr"])) and float(whole["ssim"]) < 1
    assert cropped["psnr"] == "inf" and float(cropped["ssim"]) == pytest.approx(1.0)
    assert "4 px cropped from every side" in (folders / "cropped" / "metrics.md").read_text()
    assert float(_rows(folders / "cropped")[1]["psnr"]) != float(_rows(folders / "whole")[1]["psnr"])


def test_bad_pairs_are_skipped_with_exit_1(folders, capsys):
    _save(folders / "pred" / "2.png", _image(30, 56))  # size differs from its target
    (folders / "pred" / "10.png").write_bytes(b"\x89PNG broken")  # unreadable
    out = folders / "out"
    assert _run(["--pred", str(folders / "pred"), "--target", str(folders / "target"), "--out", str(out),
                 "--no-lpips"]) == 1
    err = capsys.readouterr().err
    assert "skipped 2: sizes differ" in err and "skipped 10: " in err and "2 of 3 pairs skipped" in err
    assert [r["name"] for r in _rows(out)] == ["1"]
    md = (out / "metrics.md").read_text()
    assert "1 images scored, 2 pairs skipped" in md and "- 2: sizes differ: pred 30x56, target 40x56 (HxW)" in md


def test_every_pair_unreadable_is_one_line_and_nothing_written(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "a.png").write_bytes(b"junk")
    _save(tmp_path / "target" / "a.png", _image())
    assert _run(["--pred", str(tmp_path / "pred"), "--target", str(tmp_path / "target"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err  # the progress bar, then one line
    assert err.splitlines()[-1].startswith("bggan-eval: error: none of the 1 pairs could be scored: a: ")
    assert "Traceback" not in err and "skipped a" not in err
    assert not (tmp_path / "out").exists()


def test_weights_mode_scores_model_and_identity_with_timing(tmp_path, weights, capsys):
    out = tmp_path / "out"
    assert _run(["--weights", weights, *SMALL_SYNTHETIC, "--out", str(out), "--no-lpips", "--device", "cpu"]) == 0
    rows = _rows(out)
    assert [r["name"] for r in rows] == ["1", "2"]  # the last 2 of seeds 0..2 validate
    assert all(float(r["seconds"]) > 0 and float(r["identity_psnr"]) > float(r["psnr"]) for r in rows)
    md = (out / "metrics.md").read_text()
    assert "| model (g.safetensors) | 2 |" in md and "| identity (output = input) | 2 |" in md
    assert "model forward alone on cpu" in md
    # input | output | target | error map | CoC bands (synthetic pairs know it), 32x48 -> 256x384
    assert Image.open(out / "grid.png").size == (5 * 384 + 4 * 4, 2 * 256 + 4)
    assert "synthetic pairs: 3 at 32x48" in capsys.readouterr().out


def test_synthetic_pairs_are_scored_per_band_of_their_circle_of_confusion(tmp_path, weights):
    out = tmp_path / "out"
    assert _run(["--weights", weights, "--data", "synthetic", "pairs.n=3", "pairs.holdout=2", "pairs.size=[64,96]",
                 "pairs.cache=false", "pairs.focal_mm=85", "--out", str(out), "--no-lpips", "--grid", "0"]) == 0
    rows = _rows(out)
    assert {"psnr_in_focus", "detail_in_focus", "identity_detail_out_of_focus"} <= set(rows[0])
    for row in rows:  # the input is the target in focus (but for foreground blur over it), far from it out of focus
        assert float(row["identity_detail_in_focus"]) > 0.5
        assert row["identity_detail_out_of_focus"] == "" or float(row["identity_detail_out_of_focus"]) > 2
    md = (out / "metrics.md").read_text()
    assert "| per band of the target's CoC | in focus" in md and "Per band: bands of the target's |CoC|" in md


def test_files_written_by_bggan_synth_are_scored_per_band_in_both_modes(tmp_path, weights):
    from bggan.cli import synth

    pairs = tmp_path / "pairs"
    assert run_command(synth.PROG, synth.main, ["--out", str(pairs), "--n", "3", "--size", "64x96", "--workers", "1",
                                                "--no-progress", "--format", "png", "--focal-length", "85"]) == 0
    out = tmp_path / "files"
    assert _run(["--pred", str(pairs / "original"), "--target", str(pairs / "bokeh"), "--coc", str(pairs / "depth"),
                 "--out", str(out), "--no-lpips", "--grid", "0", "--bands", "0.5,4"]) == 0
    rows = _rows(out)
    assert len(rows) == 3 and all(r["detail_in_focus"] for r in rows)
    assert "in focus < 0.5 px" in (out / "metrics.md").read_text()
    data = tmp_path / "data"
    assert _run(["--weights", weights, "--data", "ebb", f"pairs.root={pairs}", "pairs.holdout=2", "--out", str(data),
                 "--no-lpips", "--grid", "0"]) == 0
    assert _rows(data)[0]["psnr_in_focus"]
    assert _run(["--pred", str(pairs / "original"), "--target", str(pairs / "bokeh"), "--out", str(tmp_path / "x"),
                 "--bands", "8,1"]) == 2  # edges out of order


def test_weights_mode_takes_a_yaml_path_and_crop(tmp_path, weights):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("pairs:\n  _target_: bggan.data.SyntheticPairs\n  n: 2\n  size: [24, 40]\n  holdout: 1\n  seed: 0\n")
    out = tmp_path / "out"
    assert _run(["--weights", weights, "--data", str(cfg), "pairs.seed=5", "--out", str(out), "--no-lpips",
                 "--grid", "0", "--crop-border", "2"]) == 0
    assert [r["name"] for r in _rows(out)] == ["6"] and not (out / "grid.png").exists()


def test_existing_outputs_are_kept_without_overwrite(folders, capsys):
    out = folders / "out"
    out.mkdir()
    (out / "metrics.md").write_text("keep")
    argv = ["--pred", str(folders / "pred"), "--target", str(folders / "target"), "--out", str(out), "--no-lpips"]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "metrics.md already in" in err and "--overwrite" in err and err.count("\n") == 1
    assert (out / "metrics.md").read_text() == "keep" and sorted(p.name for p in out.iterdir()) == ["metrics.md"]
    assert _run([*argv, "--overwrite"]) == 0
    assert (out / "metrics.md").read_text().startswith("# bggan-eval")


def test_bad_inputs_are_one_line_exit_2_and_write_nothing(tmp_path, folders, weights, capsys):
    fake = tmp_path / "fake.safetensors"
    fake.write_text("not weights")
    pred, target = str(folders / "pred"), str(folders / "target")
    before = sorted(p.name for p in Path(pred).iterdir())
    (tmp_path / "empty").mkdir()
    cases = [
        [],  # neither mode
        ["--pred", pred, "--target", target, "--weights", weights, "--data", "synthetic"],  # both
        ["--pred", pred],  # half a mode
        ["--weights", weights],
        ["--pred", str(tmp_path / "missing"), "--target", target],
        ["--pred", pred, "--target", str(tmp_path / "empty")],  # zero matched pairs
        ["--pred", pred, "--target", target, "pairs.n=3"],  # overrides without --data
        ["--pred", pred, "--target", target, "--grid", "-1"],
        ["--pred", pred, "--target", target, "--crop-border", "-2"],
        ["--pred", pred, "--target", target, "--grid", "many"],
        ["--weights", str(fake), *SMALL_SYNTHETIC],
        ["--weights", str(tmp_path / "none.safetensors"), *SMALL_SYNTHETIC],
        ["--weights", weights, "--data", "nosuchdata"],
        ["--weights", weights, "--data", str(tmp_path / "none.yaml")],
        ["--weights", weights, *SMALL_SYNTHETIC, "pairs.nosuchkey=1"],
        ["--weights", weights, *SMALL_SYNTHETIC, "pairs.holdout=5"],  # SyntheticPairs refuses it
        ["--weights", weights, "--data", "ebb", "pairs.root=" + str(tmp_path / "missing")],
        ["--weights", weights, *SMALL_SYNTHETIC, "--device", "nonsense"],
    ]
    for argv in cases:
        assert _run([*argv, "--out", str(tmp_path / "out")]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("bggan-eval: error: ") and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    for argv in (["--out", str(fake / "out")], ["--out", str(fake)], ["--out", pred]):  # under a file, a file, input
        assert _run(["--pred", pred, "--target", target, *argv]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "out").exists() and sorted(p.name for p in Path(pred).iterdir()) == before


def test_module_entry_point_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bggan.cli.eval", "--pred", str(tmp_path / "missing"),
                           "--target", str(tmp_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "missing: no such folder" in proc.stderr


def test_a_generator_with_the_aperture_as_input_is_scored_at_each_pairs_f_number(tmp_path, capsys):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="channel")
    weights = save_generator(model, tmp_path / "c.safetensors")
    out = tmp_path / "out"
    labelled = ["--data", "synthetic", "pairs.n=6", "pairs.holdout=4", "pairs.size=[32,48]", "pairs.cache=false",
                "pairs.apertures=[1.4,22]", "pairs.no_blur=0.3"]
    assert _run(["--weights", str(weights), *labelled, "--out", str(out), "--no-lpips", "--grid", "0"]) == 0
    rows = _rows(out)
    from bggan.data.synthetic import aperture_for
    from bggan.evaluate.metrics import Scorer
    from bggan.images import to_tensor

    want = {r["name"]: aperture_for(int(r["name"]), (1.4, 22.0), 0.3) for r in rows}
    assert {r["name"]: float(r["f_number"]) for r in rows} == pytest.approx(want, rel=1e-5)
    assert len(set(want.values())) > 1
    # the model ran at each pair's own strength: its PSNR is the one of model(x, 1.8 / f)
    from bggan.data.defocus import Lens
    from bggan.data.synthetic import render_sample

    row = rows[0]
    sample = render_sample(int(row["name"]), 32, 48, Lens(f_number=want[row["name"]]))
    with torch.no_grad():
        pred = model.eval()(to_tensor(sample["input"]), 1.8 / want[row["name"]])[0]
    psnr = Scorer()(pred, to_tensor(sample["target"])).psnr
    assert float(row["psnr"]) == pytest.approx(psnr, abs=1e-3)
    wrong = Scorer()(model(to_tensor(sample["input"]), 0.5)[0].detach(), to_tensor(sample["target"])).psnr
    assert abs(wrong - psnr) > 1e-2  # negative control: another strength scores differently
    md = (out / "metrics.md").read_text()
    assert "By the targets' f-number" in md and "| no blur (1 images) |" in md
    assert "by the targets' f-number" in capsys.readouterr().out


def test_a_generator_with_the_aperture_as_input_on_unlabelled_pairs_is_one_line(tmp_path, capsys):
    from bggan.cli import synth

    save_generator(GlassNet(c1=4, c2=6, n_res=1, condition="channel"), tmp_path / "c.safetensors")
    pairs = tmp_path / "pairs"
    assert run_command(synth.PROG, synth.main, ["--out", str(pairs), "--n", "3", "--size", "32x48", "--workers", "1",
                                                "--no-progress"]) == 0
    import shutil

    shutil.rmtree(pairs / "depth")  # the depth files name the f-number (f/1.8): without them nothing does
    out = tmp_path / "out"
    assert _run(["--weights", str(tmp_path / "c.safetensors"), "--data", "ebb", f"pairs.root={pairs}",
                 "pairs.holdout=2", "pairs.f_number=null", "--out", str(out), "--no-lpips"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bggan-eval: error:") and "\n" not in err and "carry no f-number" in err
    assert not out.exists()
