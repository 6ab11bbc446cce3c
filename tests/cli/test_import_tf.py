import subprocess

import numpy as np
import pytest
import torch

from bggan.cli import import_tf
from bggan.cli.common import run_command
from bggan.models.tf_checkpoint import import_tf_checkpoint
from bggan.models.weights import load_generator
from tests.conftest import console_script
from tests.tf_reference import random_weights, released_layers, write_checkpoint

pytestmark = pytest.mark.export


def _run(argv):
    return run_command(import_tf.PROG, import_tf.main, argv)


@pytest.fixture(scope="module")
def released_ckpt(tf, tmp_path_factory):
    folder = tmp_path_factory.mktemp("released")
    write_checkpoint(tf, str(folder), random_weights(released_layers(), seed=3))
    return folder


def test_imports_the_released_layout(released_ckpt, tmp_path, capsys):
    out = tmp_path / "generator.safetensors"
    assert _run([str(released_ckpt), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "59 variables" in printed and "10,352,784 parameters" in printed
    loaded = load_generator(out)
    reference = import_tf_checkpoint(released_ckpt).model
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], reference(x)[0])


def test_existing_output_is_kept_without_overwrite(released_ckpt, tmp_path, capsys):
    out = tmp_path / "generator.safetensors"
    out.write_bytes(b"precious")
    assert _run([str(released_ckpt), "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert _run([str(released_ckpt), "--out", str(out), "--overwrite"]) == 0
    assert load_generator(out).config["c2"] == 24


@pytest.mark.parametrize("case", ["not a checkpoint", "missing", "bad shapes", "no output folder"])
def test_bad_input_is_one_line_exit_2_and_no_file(tf, tmp_path, capsys, case):
    src, out = tmp_path / "ckpt", tmp_path / "generator.safetensors"
    src.mkdir()
    if case == "not a checkpoint":
        (src / "notes.txt").write_text("hello")
    elif case == "bad shapes":
        weights = random_weights(released_layers(4, 6, 1))
        weights[3] = (np.zeros((3, 3, 16, 7), np.float32), None)
        write_checkpoint(tf, str(src), weights)
    elif case == "missing":
        src.rmdir()
    elif case == "no output folder":
        write_checkpoint(tf, str(src), random_weights(released_layers(4, 6, 1)))
        out = tmp_path / "nope" / "generator.safetensors"
    assert _run([str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bggan-import-tf: error: ") and err.count("\n") == 1
    assert not out.exists()
    assert [p.name for p in out.parent.glob(".*.tmp")] == [] if out.parent.exists() else True


def test_console_script_prints_one_line_without_traceback(tmp_path):
    exe = console_script("bggan-import-tf")
    (tmp_path / "junk").write_bytes(b"\x00\x01 not a checkpoint")
    proc = subprocess.run([exe, str(tmp_path / "junk"), "--out", str(tmp_path / "g.safetensors")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "junk is binary data of an unknown kind, not a TensorFlow checkpoint" in proc.stderr
