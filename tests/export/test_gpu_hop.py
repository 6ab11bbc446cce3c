"""The export's GPU hop on its own: skipped or required without a runtime, and failing when it should."""

import shutil

import numpy as np
import pytest

from bggan.errors import ExportFailed
from bggan.export.gpu_hop import gpu_hop
from tests.litert_gpu.tflite_models import SHAPE, argmax_model, conv_model

pytestmark = pytest.mark.export
THRESHOLDS = {"fp32": 60.0, "fp16": 40.0}


@pytest.fixture
def conv(tf, tmp_path):
    """A GPU-friendly model under the name of a judged export file, an input, and its float64 output."""
    path, twin = conv_model(tf, tmp_path / "model_float32.tflite")
    x = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)
    return path, x, twin(x)


def test_it_passes_a_model_the_gpu_runs(gpu_runtime, conv):
    path, x, reference = conv
    hop = gpu_hop([path], x, reference, "required", THRESHOLDS, log=lambda line: None)
    assert hop.status == "ran" and [(r.precision, r.passed) for r in hop.runs] == [("fp32", True), ("fp16", True)]
    assert hop.adapter and hop.litert


def test_it_fails_below_a_threshold(gpu_runtime, conv):
    path, x, reference = conv
    with pytest.raises(ExportFailed, match=r"GPU hop failed: model_float32.tflite on the GPU \(fp16\)"):
        gpu_hop([path], x, reference, "required", {"fp32": 60.0, "fp16": 200.0}, log=lambda line: None)


def test_it_fails_a_judged_model_with_an_op_the_gpu_cannot_run(tf, gpu_runtime, tmp_path, conv):
    _, x, reference = conv
    path = argmax_model(tf, tmp_path / "argmax.tflite")
    (tmp_path / "judged").mkdir()
    judged = shutil.copy(path, tmp_path / "judged" / "model_float16.tflite")
    with pytest.raises(ExportFailed, match="ARG_MAX"):
        gpu_hop([judged], x, reference, "auto", THRESHOLDS, log=lambda line: None)
    reported = gpu_hop([path], x, reference, "auto", THRESHOLDS, log=lambda line: None)  # not judged: reported
    assert [r.passed for r in reported.runs] == [False, False] and "ARG_MAX" in reported.runs[0].error


@pytest.mark.parametrize("mode", ["auto", "required", "off"])
def test_without_a_runtime_it_is_skipped_with_the_reason_or_fails_when_required(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("BGGAN_LITERT_GPU", str(tmp_path / "nowhere"))
    files, x = [tmp_path / "model_float32.tflite"], np.zeros(SHAPE, np.float32)
    if mode == "required":
        with pytest.raises(ExportFailed, match="the GPU hop is required .* no LiteRT GPU runtime"):
            gpu_hop(files, x, x, mode, THRESHOLDS, log=lambda line: None)
        return
    hop = gpu_hop(files, x, x, mode, THRESHOLDS, log=lambda line: None)
    assert hop.status == "skipped" and not hop.runs
    assert ("no LiteRT GPU runtime" in hop.reason) if mode == "auto" else hop.reason == "gpu=off"
