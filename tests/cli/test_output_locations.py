"""Output folders and checkpoints refused in one line before any work: a demo's, bggan-render's or bggan-export's
output folder that is a file or under one, Hydra's run folder under a file, a file that is not a resumable
checkpoint."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch

from bggan.errors import BgganError
from bggan.files import check_output_folder
from bggan.models.weights import check_resumable
from tests.conftest import console_script


def test_an_output_folder_is_refused_when_it_is_a_file_or_under_one(tmp_path):
    (tmp_path / "file").write_text("mine")
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # may be made
    assert check_output_folder(tmp_path) == tmp_path  # exists
    with pytest.raises(BgganError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(BgganError, match=r"cannot be made: .*file is a file"):
        check_output_folder(tmp_path / "file" / "a" / "b")
    assert not (tmp_path / "new").exists()  # nothing made


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_folder_under_a_read_only_folder_is_refused(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(BgganError, match="not writable"):
        check_output_folder(tmp_path / "ro" / "out")


def test_only_a_bggan_training_checkpoint_with_its_loop_state_resumes(tmp_path):
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint")
    torch.save({"state_dict": {}}, tmp_path / "lightning.ckpt")
    torch.save({"bggan": {"generator": {}}, "state_dict": {}}, tmp_path / "weights_only.ckpt")
    full = {"bggan": {"generator": {}}, "state_dict": {}, "optimizer_states": [], "loops": {}, "epoch": 0,
            "global_step": 0}
    torch.save(full, tmp_path / "full.ckpt")
    check_resumable(tmp_path / "full.ckpt")
    for name, message in (("garbage.ckpt", "not a readable training checkpoint"), ("lightning.ckpt", "no 'bggan'"),
                          ("weights_only.ckpt", "cannot be resumed"), ("missing.ckpt", "no such file")):
        with pytest.raises(BgganError, match=message):
            check_resumable(tmp_path / name)


@pytest.mark.parametrize(("command", "args", "message"), [
    ("bggan-demo", ["--out", "FILE"], "--out FILE is a file, not a folder"),
    ("bggan-aperture-demo", ["--out", "FILE/run"], "cannot be made: FILE is a file"),
    ("bggan-depth-demo", ["--out", "FILE"], "is a file, not a folder"),
    ("bggan-train", ["hydra.run.dir=FILE/run"], "hydra.run.dir FILE/run cannot be made: FILE is a file"),
    ("bggan-train", ["hydra.run.dir=RUN", "ckpt_path=FILE"], "not a readable training checkpoint"),
    ("bggan-render", ["PHOTO", "--weights", "WEIGHTS", "--out", "FILE/run"], "--out FILE/run cannot be made"),
    ("bggan-export", ["weights=WEIGHTS", "out=FILE/run"], "out FILE/run cannot be made: FILE is a file"),
])
def test_commands_refuse_them_in_one_line_and_leave_the_file_alone(tmp_path, command, args, message):
    user_file = tmp_path / "FILE"
    user_file.write_text("the user's notes")
    from PIL import Image

    from bggan.models import GlassNet, save_generator

    save_generator(GlassNet(c1=4, c2=6, n_res=1), tmp_path / "g.safetensors")
    Image.new("RGB", (32, 24)).save(tmp_path / "photo.png")
    args = [a.replace("FILE", str(user_file)).replace("RUN", str(tmp_path / "run")).replace(
        "WEIGHTS", str(tmp_path / "g.safetensors")).replace("PHOTO", str(tmp_path / "photo.png")) for a in args]
    run = subprocess.run([console_script(command), *args], capture_output=True, text=True, cwd=tmp_path,
                         check=False, timeout=120)
    err = run.stderr.strip()
    assert run.returncode == 2 and "Traceback" not in run.stderr and len(err.splitlines()) == 1, run.stderr[-2000:]
    assert message.replace("FILE", str(user_file)) in err
    assert user_file.read_text() == "the user's notes" and not (tmp_path / "run").exists()


def test_a_run_folder_hydra_made_for_a_refused_run_is_removed_and_one_that_existed_is_kept(tmp_path):
    from bggan.config_check import _made_by_hydra, _missing_folders, discard_new_run_folder

    run = tmp_path / "runs" / "pretrain" / "now"
    _made_by_hydra[:] = _missing_folders(run)
    assert _made_by_hydra == [tmp_path / "runs", tmp_path / "runs" / "pretrain", run]
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("x: 1")
    (run / "train.log").write_text("")
    assert discard_new_run_folder(run) and not (tmp_path / "runs").exists()

    (run / "logs").mkdir(parents=True)  # the run had begun: its own files stay
    _made_by_hydra[:] = [run]
    assert not discard_new_run_folder(run) and (run / "logs").is_dir()
    _made_by_hydra.clear()  # a folder that existed before the run (nothing recorded) stays too
    (run / "logs").rmdir()
    assert not discard_new_run_folder(run) and run.is_dir()
