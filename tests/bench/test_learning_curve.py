"""bench/learning_curve.py trains through the real code and scores every kept checkpoint on unseen scenes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bggan.cli.demo import training_precision

BENCH = Path(__file__).resolve().parents[2] / "bench" / "learning_curve.py"


def curve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_one_row_per_kept_checkpoint_each_scored_on_its_own_weights(tmp_path):
    result = curve("--pairs", "12", "--epochs", "3", "--every", "1", "--test-scenes", "2", "--size", "64x96",
                   "--out", str(tmp_path / "run"), "stage.lr=1e-2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 training pairs at 64x96, 1 steps per epoch" in result.stdout
    assert f"scored on 2 unseen scenes (seeds 12-13); {training_precision('auto')}; overrides: stage.lr=1e-2" in result.stdout
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ") and "epochs" not in line]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(1, 1), (2, 2), (3, 3)]
    gains = [float(r[2]) for r in rows]
    assert len(set(gains)) == 3  # each row its own checkpoint: the weights change at every step at this rate
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("epoch*.ckpt")) == \
        ["epoch000-step1.ckpt", "epoch001-step2.ckpt", "epoch002-step3.ckpt"]
    again = curve("--pairs", "12", "--epochs", "1", "--every", "1", "--out", str(tmp_path / "run"))
    assert again.returncode == 2 and again.stderr.strip().splitlines()[-1].endswith(
        "already holds checkpoints: resume with ckpt_path=last, or start a new run folder (name=... or hydra.run.dir=...)")


@pytest.mark.parametrize(("args", "message"), [
    (["--every", "0"], "need --every >= 1"),
    (["--size", "100x150"], "--size must be multiples of 8"),
    (["data.pairs.nope=3"], "Could not override 'data.pairs.nope'"),
])
def test_bad_arguments_are_one_line_exit_2_before_training(args, message):
    result = curve(*args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr  # argparse's usage, then one error line
    assert result.stderr.strip().splitlines()[-1].startswith("learning_curve.py: error: ")
