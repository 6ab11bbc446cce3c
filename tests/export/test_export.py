"""The export bridge end to end on tiny models: every hop's parity, the op census, the report, bad inputs.

Sizes are chosen like the full model's traps: with c1=4, c2=6 at 256x384 the stage-1 bottleneck has
32 channels at 32x48 (C == H/8) and stage 2 has 48 (C == W/8), as 128 and 192 channels at 128x192
for the released model at 1024x1536. 200x296 is not a power of two anywhere.
"""

import json
import subprocess

import numpy as np
import pytest
import torch

from bggan.errors import BgganError
from bggan.export import ExportConfig, export
from bggan.export.runners import run_tflite
from bggan.export.tflite_check import FORBIDDEN_OPS
from bggan.models.tf_checkpoint import import_tf_checkpoint
from bggan.models.weights import save_generator
from bggan.quiet import TENSORFLOW_NOISE
from tests.conftest import console_script, gpu_mode
from tests.tf_reference import glassnet_tf, random_weights, released_layers, write_checkpoint

pytestmark = pytest.mark.export


def tiny_weights(path, seed=0):
    torch.manual_seed(seed)
    from bggan.models import GlassNet

    save_generator(GlassNet(c1=4, c2=6, n_res=1, init="he"), path)
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tf):
    """One export at the trap size with every optional file, shared by the tests below."""
    import onnx2tf.utils.common_functions as onnx2tf_common

    root = tmp_path_factory.mktemp("export")

    def no_network(*args, **kwargs):
        raise AssertionError("the export tried to download something")

    original = onnx2tf_common.requests.get
    onnx2tf_common.requests.get = no_network
    try:
        cfg = ExportConfig(weights=tiny_weights(root / "tiny.safetensors"), out=str(root / "out"), size=(256, 384),
                           int8_dynamic_range=True, int8=True, calibration_count=2, gpu=gpu_mode())
        result = export(cfg, log=lambda line: None)
    finally:
        onnx2tf_common.requests.get = original
    return cfg, result


def test_every_hop_meets_its_threshold(exported):
    _, result = exported
    by_hop = {(p.hop, p.against): p for p in result.parity}
    for hop in ["export graph (pool norm, no concat)", "onnx (onnxruntime)", "saved_model", "model_float32.tflite"]:
        assert by_hop[hop, "pytorch"].psnr >= 60 and by_hop[hop, "pytorch"].max_abs < 1e-4, hop
    assert by_hop["model_float16.tflite", "pytorch"].psnr >= 45
    # each hop is judged by its own threshold (a hop under it fails the export: see the exit-1 test below)
    assert [by_hop[hop, "pytorch"].min_psnr for hop in ("onnx (onnxruntime)", "model_float16.tflite")] == [60, 45]
    assert by_hop["model_int8.tflite", "model_float32.tflite"].min_psnr is None  # reported, not judged
    assert by_hop["model_int8.tflite", "model_float32.tflite"].psnr > 15  # quantized, but the same picture


def test_the_folder_holds_every_artifact_and_nothing_else(exported):
    _, result = exported
    names = sorted(p.name for p in result.out.iterdir())
    assert names == ["model.onnx", "model_float16.tflite", "model_float32.tflite", "model_int8.tflite",
                     "model_int8_dynamic_range.tflite", "report.json", "report.md", "saved_model"]
    assert not [p for p in result.out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_op_census_pool_norm_and_no_layout_copies(exported):
    _, result = exported
    assert "InstanceNormalization" not in result.onnx_ops and result.onnx_ops["AveragePool"] == 8
    assert "Concat" not in result.onnx_ops and "Transpose" not in result.onnx_ops
    for name in ["model_float32.tflite", "model_float16.tflite"]:
        check = result.tflite[name]
        assert check.ops["AVERAGE_POOL_2D"] == 8  # 2 per norm, 2 norms per block, 1 block per stage
        assert check.ops["ADD"] == 4  # only "variance + eps", on 1x1 maps: skips are SUBs
        assert not set(check.ops) & FORBIDDEN_OPS  # no TRANSPOSE, MEAN, STRIDED_SLICE, PAD, CONCATENATION
        assert check.ops_allowed


def test_every_float_file_runs_fully_accelerated_on_the_gpu_at_both_precisions(exported):
    _, result = exported
    if result.gpu.status != "ran":  # gpu=auto without a runtime; make test requires it
        pytest.skip(result.gpu.reason)
    runs = {(r.file, r.precision): r for r in result.gpu.runs}
    for name in ["model_float32.tflite", "model_float16.tflite"]:
        for precision, threshold in (("fp32", 60), ("fp16", 40)):
            run = runs[name, precision]
            assert run.judged and run.fully_accelerated and run.passed
            assert run.parity.min_psnr == threshold and run.parity.psnr >= threshold
    assert runs["model_float32.tflite", "fp32"].parity.psnr > 100  # fp32 on the GPU: float rounding only
    assert {(f, p) for f, p in runs if f.startswith("model_int8")} == {
        (f, p) for f in ("model_int8.tflite", "model_int8_dynamic_range.tflite") for p in ("fp32", "fp16")}
    assert not any(r.judged for r in result.gpu.runs if r.file.startswith("model_int8"))
    text = (result.out / "report.md").read_text()
    assert "## LiteRT's GPU accelerator" in text and result.gpu.adapter in text
    report = json.loads((result.out / "report.json").read_text())
    assert report["gpu"]["status"] == "ran" and all(r["passed"] for r in report["gpu"]["runs"] if r["judged"])


def test_tflite_matches_an_independent_tensorflow_network(tf, tmp_path):
    """Weights in the released TF layout -> bggan-import-tf's loader -> export; the TFLite output must equal
    the spec's network written directly in TensorFlow (tests/tf_reference.py), not only PyTorch."""
    weights = random_weights(released_layers(4, 6, 1), seed=3)
    write_checkpoint(tf, str(tmp_path / "ckpt"), weights)
    model = import_tf_checkpoint(tmp_path / "ckpt").model
    save_generator(model, tmp_path / "g.safetensors")
    result = export(ExportConfig(weights=str(tmp_path / "g.safetensors"), out=str(tmp_path / "out"), size=(200, 296),
                                 parity_images=1), log=lambda line: None)
    from bggan.export.inputs import export_images, to_model_nhwc

    x = to_model_nhwc(export_images(1, 200, 296, seed=5))
    expected, _ = glassnet_tf(tf, x, weights, n_res=1)
    got = run_tflite(result.out / "model_float32.tflite", x)
    assert np.std(expected) > 0.05  # tf_reference scales the output convs down, away from tanh's flat ends
    assert np.abs(got - expected).max() < 1e-4


def test_report_states_parity_ops_time_and_memory(exported):
    _, result = exported
    report = json.loads((result.out / "report.json").read_text())
    assert report["config"]["size"] == [256, 384]
    assert {s["name"] for s in report["steps"]} >= {"onnx", "tensorflow", "tflite_float32", "tflite_float16"}
    assert all(s["seconds"] > 0 and s["peak_rss_gb"] > 0 for s in report["steps"])
    assert all(p["passed"] for p in report["parity"])
    assert report["tflite"]["model_float32.tflite"]["ops_allowed"] is True
    assert report["source"]["config"]["c1"] == 4 and len(report["source"]["sha256"]) == 64
    text = (result.out / "report.md").read_text()
    assert "| model_float16.tflite | pytorch |" in text and "AVERAGE_POOL_2D" in text


def test_saved_model_is_nhwc(exported, tf):
    _, result = exported
    serve = tf.saved_model.load(str(result.out / "saved_model")).signatures["serving_default"]
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [1, 256, 384, 3]


def run_export(*args, cwd):
    return subprocess.run([console_script("bggan-export"), *args], check=False, capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_a_hop_below_its_threshold_fails_with_exit_1_and_leaves_nothing(tmp_path):
    weights = tiny_weights(tmp_path / "g.safetensors")
    # the first hop (fp32 rounding, about 140 dB here) fails, so the test is quick; every hop is checked the same way
    run = run_export(f"weights={weights}", "size=[64,96]", "out=out", "parity_images=1", "min_psnr_float32=1000",
                     cwd=tmp_path)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("bggan-export: error: parity failed at export graph (pool norm, no concat) vs pytorch")
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors"]


def test_overwrite_replaces_an_existing_export(tmp_path):
    weights = tiny_weights(tmp_path / "g.safetensors")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    run = run_export(f"weights={weights}", "size=[64,96]", "out=out", "parity_images=1", "gpu=off", "--overwrite",
                     cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "out" / "old.txt").exists() and (tmp_path / "out" / "model_float32.tflite").is_file()
    assert "out/report.md" in run.stdout
    noise = [line for line in run.stderr.splitlines() if TENSORFLOW_NOISE.search(line)]
    assert not noise, noise  # TensorFlow's and LiteRT's C++ start-up and converter lines are filtered


@pytest.mark.parametrize("args, message", [
    (["weights=missing.safetensors"], "missing.safetensors: no such file"),
    (["weights=notes.safetensors"], "notes.safetensors"),
    (["weights=g.safetensors", "size=[100,96]"], "size must be two multiples of 8"),
    (["weights=g.safetensors", "out=taken"], "taken exists; pass --overwrite"),
    ([], "weights= is required"),
    (["weights=g.safetensors", "calibration_dir=nowhere"], "calibration folder nowhere does not exist"),
])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tmp_path, args, message):
    tiny_weights(tmp_path / "g.safetensors")
    (tmp_path / "notes.safetensors").write_text("not a generator")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    run = run_export(*args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("bggan-export: error: ") and message in lines[-1], run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_missing_export_extra_is_one_clear_error(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx2tf" else real(name, *a))
    with pytest.raises(BgganError, match=r"export extra is not installed \(missing onnx2tf\)"):
        export(ExportConfig(weights=tiny_weights(tmp_path / "g.safetensors"), out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- the aperture as an input


@pytest.mark.parametrize(("condition", "gate"), [("channel", False), ("film", True)])
def test_a_generator_with_the_aperture_as_input_exports_with_two_inputs_at_every_hop(tmp_path, tf, condition, gate):
    from bggan.export.pipeline import PARITY_F_NUMBERS
    from bggan.export.runners import tflite_inputs, tflite_interpreter
    from bggan.models import GlassNet

    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he", condition=condition, gate=gate)
    for film in (m for m in model.modules() if hasattr(m, "linear")):  # FiLM starts at zero: make it matter
        torch.nn.init.normal_(film.linear.weight, std=0.5)
    save_generator(model, tmp_path / "g.safetensors")
    cfg = ExportConfig(weights=str(tmp_path / "g.safetensors"), out=str(tmp_path / "out"), size=(64, 96),
                       gpu=gpu_mode())
    lines = []
    result = export(cfg, log=lines.append)
    hops = ["export graph (pool norm, no concat)", "onnx (onnxruntime)", "saved_model", "model_float32.tflite",
            "model_float16.tflite"]
    assert [p.hop for p in result.parity] == hops and all(p.passed for p in result.parity)
    assert result.parity[3].psnr > 100  # float32: rounding only, at every f-number
    assert "each at no blur, f/8, f/2.8, f/1.4" in lines[0] and len(PARITY_F_NUMBERS) == 4
    assert all(t.ops_allowed for t in result.tflite.values())
    if result.gpu.status == "ran":
        assert all(run.passed and run.fully_accelerated for run in result.gpu.runs)
    interpreter = tflite_interpreter(tmp_path / "out" / "model_float32.tflite")
    image, strength = tflite_inputs(interpreter)
    assert list(image["shape"]) == [1, 64, 96, 3] and list(strength["shape"]) == [1, 1, 1, 1]
    # the strength input matters: the same photo at f/1.4 and with no blur differs
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 96, 3)).astype(np.float32)
    outs = [run_tflite(tmp_path / "out" / "model_float32.tflite", x, conditions=np.array([s], np.float32))
            for s in (0.0, 1.8 / 1.4)]
    assert np.abs(outs[0] - outs[1]).mean() > 0.01
    if gate:  # no blur gives the photo back
        assert np.abs(outs[0] - x).max() < 1e-5
    assert "second input, `strength`" in (tmp_path / "out" / "report.md").read_text()
    if condition == "channel":  # full-integer int8, calibrated with both inputs (what int8=true does), once
        from bggan.export.pipeline import calibration_samples
        from bggan.export.tf_model import write_tflite

        write_tflite(tmp_path / "out" / "saved_model", tmp_path / "int8.tflite", "int8", calibration_samples(
            np.repeat(x, 4, axis=0), condition))
        for s, fp32 in zip((0.0, 1.8 / 1.4), outs, strict=True):
            y = run_tflite(tmp_path / "int8.tflite", x, conditions=np.array([s], np.float32))
            assert np.abs(y - fp32).mean() < 0.5 * np.abs(outs[0] - outs[1]).mean()  # follows the strength
