"""bggan-render end to end: folders, formats, never clobbering, bad files skipped, one-line errors, backends."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from bggan.cli.common import run_command
from bggan.cli.render import main
from bggan.devices import cpu_has_bf16
from bggan.models import GlassNet, save_generator
from bggan.models.int8 import int8_available
from bggan.render import backends
from tests.conftest import console_script

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_generator(GlassNet(c1=4, c2=6, n_res=1, init="he"), path)
    return str(path)


def picture(h=40, w=60):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def render(*args):
    return run_command("bggan-render", main, [str(a) for a in args])


def test_files_and_folders_render_with_sizes_formats_and_subfolders_kept(tmp_path, weights, capsys):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(picture()).save(tmp_path / "in" / "a.jpg")
    Image.fromarray(picture(33, 47)).save(tmp_path / "in" / "sub" / "b.png")
    Image.fromarray(picture()).save(tmp_path / "in" / "c.webp")
    (tmp_path / "in" / "notes.txt").write_text("not a photo, not looked at")
    Image.fromarray(picture(24, 24)).save(tmp_path / "single.png")
    assert render(tmp_path / "in", tmp_path / "single.png", "--weights", weights, "--out", tmp_path / "out") == 0
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["a.jpg", "c.webp", "single.png", "sub/b.png"]
    for name, size, fmt in [("a.jpg", (60, 40), "JPEG"), ("sub/b.png", (47, 33), "PNG"), ("c.webp", (60, 40), "WEBP")]:
        with Image.open(out / name) as im:
            assert (im.size, im.format) == (size, fmt)
    printed = capsys.readouterr().out
    assert "rendered 4 of 4 photo(s)" in printed and "PyTorch on cpu" in printed


def test_format_option_and_tiling(tmp_path, weights, capsys):
    Image.fromarray(picture(70, 130)).save(tmp_path / "a.jpg")
    assert render(tmp_path / "a.jpg", "--weights", weights, "--out", tmp_path / "out", "--format", "png",
                  "--tile", "32x48", "--overlap", "8") == 0
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.format == "PNG" and im.size == (130, 70)
    assert "1 tiled" in capsys.readouterr().out


def test_bad_files_are_skipped_the_rest_render_and_the_exit_code_says_so(tmp_path, weights, capsys):
    (tmp_path / "in").mkdir()
    Image.fromarray(picture()).save(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "text.jpg").write_text("hello")
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    Image.new("RGB", (1, 1)).save(tmp_path / "in" / "dot.png")
    assert render(tmp_path / "in", "--weights", weights, "--out", tmp_path / "out") == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if line.startswith("bggan-render: skipped")]
    assert len(skipped) == 3 and "Traceback" not in captured.err
    assert "rendered 1 of 4 photo(s)" in captured.out and "3 failed" in captured.out


def test_existing_outputs_are_kept_without_overwrite(tmp_path, weights, capsys):
    Image.fromarray(picture()).save(tmp_path / "a.png")
    Image.fromarray(picture()).save(tmp_path / "b.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"precious")
    assert render(tmp_path / "a.png", tmp_path / "b.png", "--weights", weights, "--out", tmp_path / "out") == 2
    assert "1 output(s) exist" in capsys.readouterr().err
    assert (tmp_path / "out" / "a.png").read_bytes() == b"precious" and not (tmp_path / "out" / "b.png").exists()
    assert render(tmp_path / "a.png", tmp_path / "b.png", "--weights", weights, "--out", tmp_path / "out",
                  "--skip-existing") == 0
    assert (tmp_path / "out" / "a.png").read_bytes() == b"precious" and (tmp_path / "out" / "b.png").is_file()
    assert render(tmp_path / "a.png", "--weights", weights, "--out", tmp_path / "out", "--overwrite") == 0
    assert (tmp_path / "out" / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files left


def bomb(path):
    """A PNG declaring 20000x20000 pixels (over Pillow's decompression-bomb limit) with almost no data."""
    from tests.render.test_photo import png_bomb

    png_bomb(path, 20000)


BAD = {
    "missing input": (lambda t, w: [t / "nope.jpg", "--weights", w, "--out", t / "out"], "nope.jpg: no such file"),
    "empty folder": (lambda t, w: [t / "empty", "--weights", w, "--out", t / "out"], "no .jpg"),
    "weights not a generator": (lambda t, w: [t / "a.png", "--weights", t / "a.png", "--out", t / "out"], "a.png"),
    "missing weights": (lambda t, w: [t / "a.png", "--weights", t / "w.ckpt", "--out", t / "out"], "no such file"),
    "output under a file": (lambda t, w: [t / "a.png", "--weights", w, "--out", t / "a.png" / "x"], "cannot be made"),
    "output over its input": (lambda t, w: [t / "a.png", "--weights", w, "--out", t], "replace its own input"),
    "bad tile": (lambda t, w: [t / "a.png", "--weights", w, "--out", t / "out", "--tile", "big"], "--tile"),
    "onnx backend with a torch file": (lambda t, w: [t / "a.png", "--weights", w, "--out", t / "out",
                                                     "--backend", "onnx"], ".onnx"),
    "unknown precision": (lambda t, w: [t / "a.png", "--weights", w, "--out", t / "out", "--precision", "fp8"],
                          "--precision"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, weights, capsys, case):
    Image.fromarray(picture()).save(tmp_path / "a.png")
    (tmp_path / "empty").mkdir()
    args, message = BAD[case]
    assert render(*args(tmp_path, weights)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bggan-render: error:") and "\n" not in err and message in err
    assert not (tmp_path / "out").exists()


def test_a_decompression_bomb_in_a_folder_is_reported_in_one_line(tmp_path, weights):
    (tmp_path / "in").mkdir()
    bomb(tmp_path / "in" / "bomb.png")
    Image.fromarray(picture()).save(tmp_path / "in" / "ok.png")
    result = subprocess.run([console_script("bggan-render"), str(tmp_path / "in"), "--weights", weights, "--out",
                             str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "bomb.png: refused" in result.stderr and "decompression bomb" in result.stderr
    assert (tmp_path / "out" / "ok.png").is_file()


def test_an_unwritable_output_file_fails_that_photo_only(tmp_path, weights, monkeypatch, capsys):
    """A write that fails for that file (permissions) is one line for that photo; nothing half-written is left. (A
    full disk or a removed folder stops the run: tests/cli/test_faults.py.)"""
    for name in ("a", "b"):
        Image.fromarray(picture()).save(tmp_path / f"{name}.png")
    real_save = Image.Image.save

    def failing_save(self, fp, *args, **kwargs):
        if ".a.png." in str(fp):
            raise PermissionError(13, "Permission denied")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    assert render(tmp_path / "a.png", tmp_path / "b.png", "--weights", weights, "--out", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "Permission denied" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.png"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, weights):
    """The tiny generator exported at 64x96 (the GPU hop is tested with the export), and two photos: one at the
    export size (one run, no tiles), one larger (tiles of the export size)."""
    from bggan.export import ExportConfig, export

    root = tmp_path_factory.mktemp("exported")
    export(ExportConfig(weights=weights, out=str(root / "exp"), size=(64, 96), gpu="off"), log=lambda line: None)
    Image.fromarray(picture(64, 96)).save(root / "a.png")
    Image.fromarray(picture(90, 150)).save(root / "b.png")
    return root


@pytest.mark.export
def test_onnx_and_tflite_backends_match_torch(tmp_path, weights, exported, capsys):
    results = {}
    for backend, model in [("torch", weights), ("onnx", exported / "exp"), ("tflite", exported / "exp")]:
        out = tmp_path / backend
        assert render(exported / "a.png", exported / "b.png", "--weights", model, "--out", out,
                      "--backend", backend) == 0
        results[backend] = {n: np.asarray(Image.open(out / n)).astype(int) for n in ("a.png", "b.png")}
    printed = capsys.readouterr().out
    assert "ONNX Runtime" in printed and "TFLite" in printed and "1 tiled" in printed
    for backend in ("onnx", "tflite"):
        assert np.abs(results[backend]["a.png"] - results["torch"]["a.png"]).max() <= 1  # rounding only
        assert results[backend]["b.png"].shape == (90, 150, 3)
    assert np.abs(results["onnx"]["b.png"] - results["tflite"]["b.png"]).max() <= 1  # the same tiles


@pytest.mark.export
def test_the_tflite_gpu_backend_renders_what_the_cpu_one_does(tmp_path, exported, gpu_runtime, capsys):
    results = {}
    for backend, precision in [("tflite", "fp16"), ("tflite-gpu", "fp32"), ("tflite-gpu", "fp16")]:
        out = tmp_path / f"{backend}-{precision}"
        assert render(exported / "a.png", exported / "b.png", "--weights", exported / "exp", "--out", out,
                      "--backend", backend, "--gpu-precision", precision) == 0
        results[backend, precision] = {n: np.asarray(Image.open(out / n)).astype(int) for n in ("a.png", "b.png")}
    assert "LiteRT's GPU accelerator (fp32, " in capsys.readouterr().out
    cpu = results["tflite", "fp16"]  # --gpu-precision means nothing to the CPU backend
    for name in ("a.png", "b.png"):  # b.png goes through tiles of the export size on the GPU too
        assert np.abs(results["tflite-gpu", "fp32"][name] - cpu[name]).max() <= 1
        assert np.abs(results["tflite-gpu", "fp16"][name] - cpu[name]).max() <= 3  # fp16 arithmetic


@pytest.mark.export
def test_the_tflite_gpu_backend_without_a_runtime_is_one_line_exit_2(tmp_path, exported, monkeypatch):
    monkeypatch.setenv("BGGAN_LITERT_GPU", str(tmp_path / "nowhere"))
    run = subprocess.run([console_script("bggan-render"), str(exported / "a.png"), "--weights", str(exported / "exp"),
                          "--out", str(tmp_path / "out"), "--backend", "tflite-gpu"], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    nowhere = tmp_path / "nowhere"
    assert run.stderr.strip().splitlines() == [(f"bggan-render: error: no LiteRT GPU runtime at {nowhere} (make "
                                                f"gpu-runtime, or python -m bggan.litert_gpu setup {nowhere}; "
                                                "BGGAN_LITERT_GPU=DIR points elsewhere)")]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("precision", [
    pytest.param("bf16", marks=pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 instructions")),
    pytest.param("int8", marks=pytest.mark.skipif(not int8_available(), reason="no oneDNN int8 convolutions")),
])
def test_a_lower_precision_renders_close_to_fp32(tmp_path, weights, capsys, precision):
    Image.fromarray(picture(64, 96)).save(tmp_path / "a.png")
    results = {}
    for name in ("fp32", precision):
        assert render(tmp_path / "a.png", "--weights", weights, "--out", tmp_path / name, "--device", "cpu",
                      "--precision", name) == 0
        assert f"({name}, channels_last)" in capsys.readouterr().out
        results[name] = np.asarray(Image.open(tmp_path / name / "a.png")).astype(int)
    difference = np.abs(results[precision] - results["fp32"])
    assert difference.max() > 0  # the control: the lower precision really ran
    assert difference.mean() < 1.5  # a few levels of 255 at most


def test_int8_runs_on_the_cpu_and_a_gpu_is_refused_in_one_line(tmp_path, weights, monkeypatch, capsys):
    from bggan import devices

    asked = []
    monkeypatch.setattr(devices, "pick_device", lambda name: asked.append(name) or torch.device(name or "cuda"))
    Image.fromarray(picture()).save(tmp_path / "a.png")
    assert render(tmp_path / "a.png", "--weights", weights, "--out", tmp_path / "out", "--device", "cuda",
                  "--precision", "int8") == 2
    err = capsys.readouterr().err.strip()
    assert err == "bggan-render: error: --precision int8 runs on the CPU (oneDNN), not cuda; add --device cpu"
    assert not (tmp_path / "out").exists()
    backends.TorchBackend(weights, None, "int8")  # no --device: the CPU, where auto would take a GPU
    assert asked == ["cuda", "cpu"]


@pytest.mark.parametrize(("precision", "has_bf16", "files", "message"), [
    ("bf16", False, [], "needs a CPU with bfloat16"),
    ("bf16", True, ["m.onnx"], "is for the torch backend"),
    ("int8", True, ["m.onnx"], "is for the torch backend"),
])
def test_precision_refusals_are_one_line(tmp_path, weights, monkeypatch, capsys, precision, has_bf16, files, message):
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: has_bf16)
    Image.fromarray(picture()).save(tmp_path / "a.png")
    for name in files:
        (tmp_path / name).write_bytes(b"not loaded: refused before")
    model = tmp_path / files[0] if files else weights
    assert render(tmp_path / "a.png", "--weights", model, "--out", tmp_path / "out", "--device", "cpu",
                  "--precision", precision) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bggan-render: error:") and "\n" not in err and message in err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- the aperture as an input


@pytest.fixture(scope="module")
def aperture_weights(tmp_path_factory):
    """A generator with the aperture as an input channel whose output depends strongly on it."""
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="channel")
    with torch.no_grad():
        for stage in (model.rough, model.refine):
            stage.encoder[0][0].weight[:, -1] *= 50  # the strength channel's weights
    path = tmp_path_factory.mktemp("aperture") / "channel.safetensors"
    save_generator(model, path)
    return str(path), model


def test_aperture_renders_what_the_model_gives_at_that_strength(tmp_path, aperture_weights, capsys):
    path, model = aperture_weights
    photo = picture()
    Image.fromarray(photo).save(tmp_path / "a.png")
    outputs = {}
    for f in ("2.8", "16"):
        assert render(tmp_path / "a.png", "--weights", path, "--out", tmp_path / f, "--aperture", f) == 0
        outputs[f] = np.asarray(Image.open(tmp_path / f / "a.png"))
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        want = model.eval()(x, 1.8 / 2.8)[0]
    want = ((want[0] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert np.abs(outputs["2.8"].astype(int) - want).max() <= 1
    assert np.abs(outputs["2.8"].astype(int) - outputs["16"]).mean() > 2  # the f-number changes the render
    assert "the aperture as an input (channel)" in capsys.readouterr().out


def test_sweep_writes_one_render_per_f_number_and_a_strip(tmp_path, aperture_weights, capsys):
    path, _ = aperture_weights
    Image.fromarray(picture()).save(tmp_path / "a_b.jpg")
    assert render(tmp_path / "a_b.jpg", "--weights", path, "--out", tmp_path / "out", "--sweep", "inf,8,2") == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a_b_f2.jpg", "a_b_f8.jpg", "a_b_noblur.jpg", "a_b_strip.jpg"]
    with Image.open(tmp_path / "out" / "a_b_strip.jpg") as im:
        assert im.height == 320 + 28 and im.width > 3 * 320 * 60 / 40  # three renders of a 40x60 photo, labelled
    assert "rendered 3 of 3 render(s)" in capsys.readouterr().out
    assert render(tmp_path / "a_b.jpg", "--weights", path, "--out", tmp_path / "out", "--sweep", "inf,8,2") == 2
    assert "exist already" in capsys.readouterr().err  # nothing replaced without --overwrite
    assert render(tmp_path / "a_b.jpg", "--weights", path, "--out", tmp_path / "out2", "--sweep") == 0
    assert len(list((tmp_path / "out2").iterdir())) == 7 + 1  # the default f/16 ... f/1.4, and the strip


APERTURE_BAD = {
    "no f-number for a conditional model": (True, [], "pass --aperture F"),
    "an f-number for a model without the input": (False, ["--aperture", "2.8"], "renders one fixed look"),
    "a sweep for a model without the input": (False, ["--sweep"], "renders one fixed look"),
    "f-number zero": (True, ["--aperture", "0"], "positive number"),
    "f-number negative in a sweep": (True, ["--sweep", "8,-2"], "positive number"),
    "not a number": (True, ["--aperture", "wide"], "f-numbers such as 2.8"),
    "twice in a sweep": (True, ["--sweep", "8,8"], "given twice"),
    "several for --aperture": (True, ["--aperture", "8,2"], "takes one f-number"),
    "sweep with skip-existing": (True, ["--sweep", "--skip-existing"], "does not go with --sweep"),
}


@pytest.mark.parametrize("case", APERTURE_BAD)
def test_aperture_misuse_is_one_line_and_writes_nothing(tmp_path, weights, aperture_weights, capsys, case):
    conditional, extra, message = APERTURE_BAD[case]
    Image.fromarray(picture()).save(tmp_path / "a.png")
    w = aperture_weights[0] if conditional else weights
    assert render(tmp_path / "a.png", "--weights", w, "--out", tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bggan-render: error:") and "\n" not in err and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def aperture_exported(tmp_path_factory, aperture_weights):
    """The conditional generator exported at 64x96 (two inputs), and a photo of that size beside it."""
    from bggan.export import ExportConfig, export

    root = tmp_path_factory.mktemp("aperture_exported")
    export(ExportConfig(weights=aperture_weights[0], out=str(root / "exp"), size=(64, 96), gpu="off"),
           log=lambda line: None)
    Image.fromarray(picture(64, 96)).save(root / "a.png")
    return root


@pytest.mark.export
def test_an_exported_generator_with_the_aperture_as_input_renders_each_f_number_as_torch_does(
        tmp_path, aperture_weights, aperture_exported, capsys):
    path, _ = aperture_weights
    (tmp_path / "exp").symlink_to(aperture_exported / "exp")
    (tmp_path / "a.png").symlink_to(aperture_exported / "a.png")
    results = {}
    for backend, model in [("torch", path), ("onnx", tmp_path / "exp"), ("tflite", tmp_path / "exp")]:
        out = tmp_path / backend
        assert render(tmp_path / "a.png", "--weights", model, "--out", out, "--backend", backend,
                      "--sweep", "inf,2.8") == 0
        results[backend] = {f: np.asarray(Image.open(out / f"a_{f}.png")).astype(int) for f in ("noblur", "f2.8")}
    for backend in ("onnx", "tflite"):
        for f in ("noblur", "f2.8"):
            assert np.abs(results[backend][f] - results["torch"][f]).max() <= 1  # rounding only
    assert np.abs(results["tflite"]["noblur"] - results["tflite"]["f2.8"]).mean() > 2
    assert capsys.readouterr().out.count("the aperture as an input") == 3
    assert render(tmp_path / "a.png", "--weights", tmp_path / "exp", "--out", tmp_path / "none") == 2
    assert "pass --aperture F" in capsys.readouterr().err


@pytest.mark.export
def test_the_tflite_gpu_backend_passes_the_strength_too(tmp_path, aperture_exported, gpu_runtime, capsys):
    (tmp_path / "exp").symlink_to(aperture_exported / "exp")
    (tmp_path / "a.png").symlink_to(aperture_exported / "a.png")
    results = {}
    for backend in ("tflite", "tflite-gpu"):
        assert render(tmp_path / "a.png", "--weights", tmp_path / "exp", "--out", tmp_path / backend, "--backend",
                      backend, "--gpu-precision", "fp32", "--sweep", "inf,2.8") == 0
        results[backend] = [np.asarray(Image.open(tmp_path / backend / f"a_{f}.png")).astype(int)
                            for f in ("noblur", "f2.8")]
    for cpu, gpu in zip(results["tflite"], results["tflite-gpu"], strict=True):
        assert np.abs(cpu - gpu).max() <= 1
    assert np.abs(results["tflite-gpu"][0] - results["tflite-gpu"][1]).mean() > 2
