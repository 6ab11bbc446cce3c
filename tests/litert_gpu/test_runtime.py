"""LiteRT's GPU accelerator through bggan.litert_gpu: GPU-only compiles, parity, the negative control, missing runtimes."""

import subprocess
import sys

import numpy as np
import pytest

from bggan.litert_gpu import GpuCompileFailed, GpuModel, GpuRuntimeMissing, find_runtime
from bggan.litert_gpu.runtime import GpuRuntime
from tests.litert_gpu.tflite_models import SHAPE, argmax_model, conv_model, two_input_model

pytestmark = pytest.mark.export


def _psnr(a, b):
    return 10 * np.log10(4 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.mark.parametrize(("precision", "min_psnr", "max_psnr"), [("fp32", 100, np.inf), ("fp16", 40, 90)])
def test_a_gpu_only_compile_runs_fully_accelerated_at_both_precisions(tf, gpu_runtime, tmp_path, precision, min_psnr,
                                                                      max_psnr):
    path, twin = conv_model(tf, tmp_path / "conv.tflite")
    x = np.random.default_rng(1).uniform(-1, 1, SHAPE).astype(np.float32)
    with GpuModel(path, precision, gpu_runtime) as model:
        assert model.fully_accelerated
        assert model.inputs == {"image": {"shape": list(SHAPE), "dtype": "float32"}}
        (y,) = model.run(x).values()
        assert model.adapter  # the runtime names its device ("llvmpipe ..." on a machine without a GPU)
    # fp32 matches a float64 twin closely; the GPU's default precision is fp16, measurably coarser (not exact)
    assert min_psnr <= _psnr(y, twin(x)) < max_psnr


def test_a_second_input_such_as_an_aperture_passes_through(tf, gpu_runtime, tmp_path):
    path = two_input_model(tf, tmp_path / "two.tflite")
    x = np.random.default_rng(2).uniform(-1, 1, SHAPE).astype(np.float32)
    with GpuModel(path, "fp32", gpu_runtime) as model:
        assert model.fully_accelerated and set(model.inputs) == {"image", "strength"}
        outputs = [next(iter(model.run({"image": x, "strength": np.full((1, 1, 1, 1), s, np.float32)}).values()))
                   for s in (0.0, 1.0)]
    np.testing.assert_allclose(outputs[0], x, atol=1e-6)  # strength 0: the image itself
    blurred = tf.nn.avg_pool2d(x, ksize=3, strides=1, padding="SAME").numpy()
    np.testing.assert_allclose(outputs[1], blurred, atol=1e-5)


def test_an_op_the_gpu_cannot_run_fails_the_compile(tf, gpu_runtime, tmp_path):
    """The negative control: with no CPU fallback, an int64 ARG_MAX is refused, and the reason names it."""
    path = argmax_model(tf, tmp_path / "argmax.tflite")
    with pytest.raises(GpuCompileFailed, match="ARG_MAX"):
        GpuModel(path, "fp32", gpu_runtime)


def test_no_vulkan_device_is_a_missing_runtime_not_a_refused_model(tf, gpu_runtime, tmp_path):
    path, _ = conv_model(tf, tmp_path / "conv.tflite")
    broken = GpuRuntime(gpu_runtime.folder, gpu_runtime.python, gpu_runtime.lib, tmp_path / "no_icd.json",
                        gpu_runtime.litert)
    with pytest.raises(GpuRuntimeMissing, match="no Vulkan device"):
        GpuModel(path, "fp32", broken)


def test_a_missing_runtime_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BGGAN_LITERT_GPU", str(tmp_path / "nowhere"))
    with pytest.raises(GpuRuntimeMissing, match="make gpu-runtime"):
        find_runtime()
    run = subprocess.run([sys.executable, "-m", "bggan.litert_gpu", "check", str(tmp_path / "m.tflite")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "no LiteRT GPU runtime" in run.stderr


def test_the_runtime_environment_passes_pip_check_and_holds_only_the_runtime(gpu_runtime):
    check = subprocess.run([str(gpu_runtime.python), "-m", "pip", "check"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    listed = subprocess.run([str(gpu_runtime.python), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                            text=True, check=True).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "ai-edge-litert" in names and "numpy" in names
    assert not names & {"tensorflow", "torch", "bggan", "onnx2tf"}  # a runtime, not the converter
