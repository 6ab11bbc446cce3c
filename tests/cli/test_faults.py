"""Faults in long work: a full disk or a removed output folder while bggan-render renders a folder or bggan-export
converts. The finished outputs stay whole, no partial file is left, and the run ends in one line with exit code 1."""

from __future__ import annotations

import errno
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bggan.cli.common import run_command
from bggan.files import OutputLost
from bggan.models import GlassNet, save_generator

NAMES = ["a.png", "b.png", "c.png", "d.png", "e.png"]


@pytest.fixture()
def photos(tmp_path):
    """Five photos in ``tmp_path/in`` and a tiny generator, ``(folder, weights)``."""
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for name in NAMES:
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "in" / name)
    torch.manual_seed(0)
    save_generator(GlassNet(c1=4, c2=6, n_res=1), tmp_path / "g.safetensors")
    return tmp_path / "in", tmp_path / "g.safetensors"


def render(*args) -> int:
    from bggan.cli.render import PROG, main

    return run_command(PROG, main, [str(a) for a in args])


def full_disk_on(monkeypatch, out: Path, nth: int) -> None:
    """The ``nth`` image saved under ``out`` writes half its bytes, then fails as a full disk does."""
    real, calls = Image.Image.save, []

    def save(self, fp, *args, **kwargs):
        if isinstance(fp, str | Path) and Path(fp).parent == out:
            calls.append(fp)
            if len(calls) == nth:
                buffer = io.BytesIO()
                real(self, buffer, *args, **kwargs)
                Path(fp).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)


def whole(path: Path) -> bool:
    with Image.open(path) as im:
        im.load()  # a cut file fails here
        return im.size == (32, 24)


def test_a_full_disk_stops_a_folder_render_keeping_every_finished_output_and_no_partial_file(photos, tmp_path,
                                                                                            monkeypatch, capsys):
    folder, weights = photos
    out = tmp_path / "out"
    out.mkdir()
    (out / "c.png").write_bytes(b"last week's render")  # replaced with --overwrite only once the new one is whole
    full_disk_on(monkeypatch, out, nth=3)
    assert render(folder, "--weights", weights, "--out", out, "--overwrite") == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # d and e not tried
    assert whole(out / "a.png") and whole(out / "b.png")
    assert (out / "c.png").read_bytes() == b"last week's render"
    err = capsys.readouterr().err
    assert "stopped: cannot write" in err and "No space left on device; 2 of 5 written, the rest not tried" in err
    assert "Traceback" not in err and "skipped" not in err  # stopped at the first, not five failures


def test_an_output_folder_removed_mid_render_stops_it_without_a_traceback_or_a_new_folder(photos, tmp_path,
                                                                                         monkeypatch, capsys):
    from bggan.render import renderer

    folder, weights = photos
    out = tmp_path / "out"
    real, calls = renderer.render_photo, []

    def render_photo(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            shutil.rmtree(out)  # the user cleans up while the third photo renders
        return real(*args, **kwargs)

    monkeypatch.setattr(renderer, "render_photo", render_photo)
    assert render(folder, "--weights", weights, "--out", out) == 1
    err = capsys.readouterr().err
    assert "stopped: cannot write" in err and "does not exist; 2 of 5 written" in err and "Traceback" not in err
    assert not out.exists()  # not made again behind the user's back
    assert sorted(p.name for p in folder.iterdir()) == NAMES and all(whole(folder / n) for n in NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors", "in"]  # no temporary file anywhere


def test_without_the_fault_the_same_render_writes_all_five(photos, tmp_path):
    """The negative control: the faults above, not the setup, stop those renders."""
    folder, weights = photos
    assert render(folder, "--weights", weights, "--out", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == NAMES


# --------------------------------------------------------------------------- export
@pytest.mark.parametrize("fault", ["full disk", "folder removed"])
def test_an_export_that_hits_a_fault_leaves_the_previous_export_whole_and_nothing_else(tmp_path, monkeypatch, fault):
    from bggan.export import ExportConfig, pipeline

    save_generator(GlassNet(c1=4, c2=6, n_res=1), tmp_path / "g.safetensors")
    out = tmp_path / "exports" / "phone"
    out.mkdir(parents=True)
    (out / "model_float32.tflite").write_bytes(b"yesterday's model")

    def convert(cfg, generator, staging, log):
        (staging / "model.onnx").write_bytes(b"half a model")  # a file in progress when the fault hits
        if fault == "folder removed":
            shutil.rmtree(out.parent)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(staging / "saved_model"))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "require_extra", lambda: None)
    monkeypatch.setattr(pipeline, "_convert", convert)
    cfg = ExportConfig(weights=str(tmp_path / "g.safetensors"), out=str(out), overwrite=True, size=(64, 96))
    with pytest.raises(OutputLost, match=f"cannot write the export in {out.parent}: No") as info:
        pipeline.export(cfg, log=lambda line: None)
    assert info.value.exit_code == 1 and "\n" not in str(info.value)
    if fault == "full disk":
        assert sorted(p.name for p in out.parent.iterdir()) == ["phone"]  # no staging folder left
        assert [p.name for p in out.iterdir()] == ["model_float32.tflite"]
        assert (out / "model_float32.tflite").read_bytes() == b"yesterday's model"
    else:
        assert not out.parent.exists()  # not made again


def test_a_converter_failing_for_its_own_reasons_is_not_called_a_full_disk(tmp_path, monkeypatch):
    """The negative control: a missing file inside a converter (the staging folder still there) is the converter's
    failure, named as such."""
    from bggan.errors import ExportFailed
    from bggan.export import ExportConfig, pipeline

    save_generator(GlassNet(c1=4, c2=6, n_res=1), tmp_path / "g.safetensors")

    def convert(cfg, generator, staging, log):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "onnx2tf/work/model.json")

    monkeypatch.setattr(pipeline, "require_extra", lambda: None)
    monkeypatch.setattr(pipeline, "_convert", convert)
    cfg = ExportConfig(weights=str(tmp_path / "g.safetensors"), out=str(tmp_path / "out"), size=(64, 96))
    with pytest.raises(ExportFailed, match="conversion failed: FileNotFoundError") as info:
        pipeline.export(cfg, log=lambda line: None)
    assert not isinstance(info.value, OutputLost)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors"]
