"""The README's main job (bggan-demo) end to end on a small budget, and the notebook executed on its artifacts."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from bggan.cli.demo import MARKER, prepare_folder, training_precision
from bggan.errors import BgganError
from tests.conftest import console_script

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "explore_outputs.ipynb"


def run_demo(out: Path, command: str, *args: str) -> tuple[Path, subprocess.CompletedProcess]:
    """``command --out OUT ARGS`` with the export extra required: ``(out, result)``."""
    result = subprocess.run([console_script(command), "--out", str(out), *args], capture_output=True, text=True,
                            check=False, env={**os.environ, "BGGAN_REQUIRE_EXPORT": "1"})
    return out, result


def listed_artifacts(stdout: str) -> list[str]:
    """The paths a demo lists after ``artifacts:``."""
    return re.findall(r"^  [a-zA-Z() -]+: +(\S+)$", stdout.split("artifacts:")[1], re.MULTILINE)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``bggan-demo`` with a few epochs on 12 pairs (8 validate) and 8 test scenes, with its default criteria: every
    step runs, and a model trained this little must be refused at the end (exit 1), its artifacts kept for a look."""
    return run_demo(tmp_path_factory.mktemp("demo") / "demo", "bggan-demo", "--pretrain-epochs", "2",
                    "--adversarial-epochs", "1", "--pairs", "12", "--test-scenes", "8", "--size", "96x144")


@pytest.mark.slow
@pytest.mark.export
def test_the_demo_runs_every_step_and_refuses_a_model_that_misses_its_criteria(demo):
    out, result = demo
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bggan-demo: error: the final model misses its criteria: ")
    assert "PSNR gain over the identity baseline" in last or "in-focus detail kept" in last
    for step in range(1, 6):
        assert f"[{step}/5]" in result.stdout
    precision = training_precision("auto")  # its mapping from the CPU is tested below
    assert f"training precision: {precision}" in result.stdout
    assert f"precision: {precision}" in (out / "pretrain" / "config.yaml").read_text()
    assert f"precision: {precision}" in (out / "adversarial" / "config.yaml").read_text()
    listed = listed_artifacts(result.stdout)
    assert len(listed) == 15 and all(Path(p).exists() for p in listed)
    scores = (out / "scores.md").read_text()
    assert scores.startswith("held-out synthetic scenes: 8 at 96x144, 85 mm f/1.8 (seeds 12-19: ")  # after the 12 pairs
    for row in ("identity (output = input)", "classical renderer (true depth)", "after pretrain", "after adversarial"):
        assert f"| {row} |" in scores
    assert "in focus: PSNR, detail" in scores and "Criteria for the final model" in scores
    report = json.loads((out / "export" / "report.json").read_text())
    assert report["parity"] and all(p["passed"] for p in report["parity"])
    assert sorted(p.name for p in (out / "rendered").iterdir()) == [f"{i:02d}.png" for i in range(8)]
    with open(out / "eval" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and any(row["detail_in_focus"] for row in rows)  # bggan-eval found the depth files
    assert "identity" in (out / "eval" / "metrics.md").read_text()


@pytest.fixture(scope="module")
def aperture_demo(tmp_path_factory):
    """``bggan-aperture-demo`` with 2 + 1 epochs on 12 pairs of 96x144 (8 held out) and a rank correlation no model
    can reach (1.01): every step runs, and the refusal at the end is certain."""
    return run_demo(tmp_path_factory.mktemp("aperture") / "aperture_demo", "bggan-aperture-demo", "--epochs", "2",
                    "--adversarial-epochs", "1", "--pairs", "12", "--size", "96x144", "--min-rank-correlation", "1.01")


@pytest.mark.slow
@pytest.mark.export
def test_the_aperture_demo_trains_measures_exports_and_sweeps(aperture_demo):
    out, result = aperture_demo
    assert result.returncode == 1, result.stderr[-3000:]
    assert re.search(r"bggan-aperture-demo: error: the control's rank correlation is -?[\d.]+, under 1.01$",
                     result.stderr.strip())
    for step in range(1, 6):
        assert f"[{step}/5]" in result.stdout
    listed = listed_artifacts(result.stdout)
    assert len(listed) == 9 and all(Path(p).exists() for p in listed)
    assert listed[2].endswith("adversarial/checkpoints/last.ckpt")  # the model: the adversarial stage's last epoch
    with open(out / "control.csv", newline="") as f:
        points = list(csv.DictReader(f))
    assert [p["f_number"] for p in points] == ["inf", "16", "8", "5.6", "4", "2.8", "2", "1.4"]
    assert float(points[0]["blur_target"]) == 1.0 and float(points[-1]["blur_target"]) < 0.5  # the lens's curve
    assert float(points[0]["psnr_vs_photo"]) == 100  # gated (the default): no blur is the photo (PSNR capped at 100)
    assert float(points[1]["psnr_vs_photo"]) < 100  # ... and f/16 is not
    assert "| rank correlation, strength vs blur |" in (out / "control.md").read_text()
    report = json.loads((out / "export" / "report.json").read_text())
    assert len(report["parity"]) == 5 and all(p["passed"] for p in report["parity"])
    assert "f/8, f/2.8, f/1.4" in (out / "export" / "report.md").read_text()
    names = sorted(p.name for p in (out / "sweep").iterdir())
    stem = Path(listed[-1]).name.split("_strip")[0]
    assert names == sorted([f"{stem}_f{f}.png" for f in ("16", "8", "5.6", "4", "2.8", "2", "1.4")]
                           + [f"{stem}_strip.png"])


def test_aperture_demo_bad_options_are_one_line_exit_2(tmp_path):
    for args, message in ((["--epochs", "0"], "--epochs"), (["--adversarial-epochs", "-1"], "--adversarial-epochs"),
                          (["--pairs", "5"], "--pairs"), (["--size", "90x144"], "--size"), (["--size", "big"], "--size"),
                          (["--no-blur", "1.5"], "--no-blur")):
        result = subprocess.run([console_script("bggan-aperture-demo"), "--out", str(tmp_path / "d"), *args],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
@pytest.mark.export
def test_the_notebook_runs_top_to_bottom_on_the_demo(demo, aperture_demo, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    out, result = demo
    assert "artifacts:" in result.stdout  # every step ran (the model itself is refused: exit 1)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["BGGAN_DEMO"], os.environ["BGGAN_APERTURE_DEMO"] = str(out), str(aperture_demo[0])
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        del os.environ["BGGAN_DEMO"], os.environ["BGGAN_APERTURE_DEMO"]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the pairs, TFLite diff, detail vs CoC, the control curve and the strip
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 5
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    max_abs = float(re.search(r"TFLite vs PyTorch on \S+: max abs (\S+),", text).group(1))
    assert max_abs < 1e-4
    assert "8 pairs, 96x144" in text and "median detail kept in focus (|CoC| < 1 px)" in text


def test_demo_refuses_to_delete_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("a user's file")
    with pytest.raises(BgganError, match="did not write"):
        prepare_folder(tmp_path, overwrite=True)
    with pytest.raises(BgganError, match="--overwrite"):
        prepare_folder(tmp_path, overwrite=False)
    assert (tmp_path / "mine.txt").read_text() == "a user's file"
    (tmp_path / MARKER).write_text("{}")
    prepare_folder(tmp_path, overwrite=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("choice", "has_bf16", "expected"), [
    ("auto", True, "bf16-mixed"), ("auto", False, "32-true"),  # the CPU decides
    ("32-true", True, "32-true"), ("bf16-mixed", False, "bf16-mixed"),  # a choice is kept (bggan-train judges it)
])
def test_demo_trains_in_bf16_where_the_cpu_has_bfloat16_instructions(monkeypatch, choice, has_bf16, expected):
    monkeypatch.setattr("bggan.devices.cpu_has_bf16", lambda: has_bf16)
    assert training_precision(choice) == expected


def test_demo_bad_options_are_one_line_exit_2(tmp_path):
    for args, message in ((["--pairs", "5"], "--pairs"), (["--size", "90x144"], "multiples of 8"),
                          (["--size", "big"], "--size"), (["--test-scenes", "0"], "--test-scenes"),
                          (["--precision", "fp16"], "--precision")):
        result = subprocess.run([console_script("bggan-demo"), "--out", str(tmp_path / "d"), *args],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "d").exists()
