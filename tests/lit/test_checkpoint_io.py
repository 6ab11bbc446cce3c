import os
import stat

import pytest
import torch

import bggan.lit.checkpoint_io
from bggan.files import FILE_MODE
from bggan.lit import AtomicCheckpointIO


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_a_new_file_then_replaces_it(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"  # the folder is made
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    io.save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    loaded = io.load_checkpoint(path)
    assert loaded["step"] == 2 and torch.equal(loaded["w"], torch.zeros(3))
    assert os.listdir(path.parent) == ["last.ckpt"]  # no temporary file left
    assert _mode(path) == FILE_MODE


def test_file_mode_follows_the_umask(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    assert FILE_MODE == 0o666 & ~umask
    if umask != 0o022:
        pytest.skip(f"umask is {umask:03o}, not 022")
    path = tmp_path / "x.ckpt"
    AtomicCheckpointIO().save_checkpoint({}, path)
    assert _mode(path) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, path)
    good = path.read_bytes()

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip file")
        raise RuntimeError("killed")

    monkeypatch.setattr(bggan.lit.checkpoint_io.torch, "save", dies_halfway)
    with pytest.raises(RuntimeError, match="killed"):
        io.save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["last.ckpt"]
    with pytest.raises(RuntimeError, match="killed"):
        io.save_checkpoint({"step": 2}, tmp_path / "new.ckpt")
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_storage_options_are_refused(tmp_path):
    with pytest.raises(TypeError, match="storage_options"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "x.ckpt", storage_options={"anon": True})
    assert not (tmp_path / "x.ckpt").exists()
