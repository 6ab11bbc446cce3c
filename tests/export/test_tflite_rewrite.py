"""Unfusing TRANSPOSE_CONV's activation: same numbers on the CPU, and the GPU delegate takes the file."""

import numpy as np
import pytest

from bggan.export.runners import run_tflite
from bggan.export.tflite_check import check_tflite
from bggan.export.tflite_rewrite import unfuse_transpose_conv_activations
from bggan.litert_gpu import GpuCompileFailed, GpuModel

pytestmark = pytest.mark.export


def up_relu(tf, bias: float):
    """A stride-2 transposed convolution + bias + ReLU, the decoder's pattern, converted to TFLite bytes."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (4, 4, 4, 3)).astype(np.float32)  # (kh, kw, out, in)
    b = np.full(4, bias, np.float32) + rng.normal(0, 0.1, 4).astype(np.float32) * (bias != 0)

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 12, 3), tf.float32, name="image")])
    def model(image):
        y = tf.nn.conv2d_transpose(image, w, (1, 16, 24, 4), strides=2, padding="SAME") + b
        return tf.nn.relu(y)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.get_concrete_function()], model)
    return converter.convert()


def _versions(flatbuffer):
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(flatbuffer, 0))
    return {max(c.builtinCode, c.deprecatedBuiltinCode): c.version for c in model.operatorCodes}


def test_the_converter_fuses_relu_into_a_biased_transpose_conv_and_the_rewrite_splits_it(tf, tmp_path):
    from tensorflow.lite.python.schema_py_generated import BuiltinOperator

    fused = up_relu(tf, bias=0.05)
    assert _versions(fused)[BuiltinOperator.TRANSPOSE_CONV] == 4  # what the GPU delegate refuses
    split, count = unfuse_transpose_conv_activations(fused)
    assert count == 1 and _versions(split)[BuiltinOperator.TRANSPOSE_CONV] == 3
    for name, data in (("fused", fused), ("split", split)):
        (tmp_path / f"{name}.tflite").write_bytes(data)
    ops = check_tflite(tmp_path / "split.tflite").ops
    assert ops["TRANSPOSE_CONV"] == 1 and ops["RELU"] == 1
    x = np.random.default_rng(1).uniform(-1, 1, (2, 8, 12, 3)).astype(np.float32)
    before, after = run_tflite(tmp_path / "fused.tflite", x), run_tflite(tmp_path / "split.tflite", x)
    assert (before == 0).mean() > 0.2  # the ReLU clips something
    np.testing.assert_array_equal(after, before)
    # without a bias there is nothing to fuse, and the rewrite leaves the file as it is
    plain = up_relu(tf, bias=0.0)
    assert unfuse_transpose_conv_activations(plain) == (plain, 0)


def test_the_gpu_delegate_refuses_the_fused_file_and_takes_the_split_one(tf, gpu_runtime, tmp_path):
    fused = up_relu(tf, bias=0.05)
    (tmp_path / "fused.tflite").write_bytes(fused)
    (tmp_path / "split.tflite").write_bytes(unfuse_transpose_conv_activations(fused)[0])
    with pytest.raises(GpuCompileFailed, match="TRANSPOSE_CONV: Max version supported: 3"):
        GpuModel(tmp_path / "fused.tflite", "fp32", gpu_runtime)
    with GpuModel(tmp_path / "split.tflite", "fp32", gpu_runtime) as model:
        assert model.fully_accelerated
