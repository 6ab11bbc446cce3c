"""Hops 2 and 3: ONNX -> TensorFlow (NHWC) with onnx2tf, then SavedModel and TFLite files.

onnx2tf builds the Keras model only (``disable_model_save``); the SavedModel and every TFLite file are
written here from a plain ``tf.function``, which skips Keras' SavedModel serialization (minutes of
JSON work for a graph of a thousand lambda layers) and lets one converter call per file pick its
own quantization.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from bggan.export.onnx_file import DEFOCUS_NAME, INPUT_NAME, OUTPUT_NAME, STRENGTH_NAME, STRENGTH_SHAPE
from bggan.export.tflite_rewrite import unfuse_transpose_conv_activations
from bggan.quiet import TENSORFLOW_NOISE, filtered_stderr, import_tensorflow

#: What onnx2tf loads from the working directory when a model's input is a small batch of 3-channel
#: images (and downloads when it is missing): 20 images, 128x128, NHWC, float32 in [0, 1].
ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"

TFLITE_KINDS = ("float32", "float16", "int8_dynamic_range", "int8")


def onnx2tf_samples(images: list[np.ndarray]) -> np.ndarray:
    """``(20, 128, 128, 3)`` float32 in [0, 1] from uint8 ``(H, W, 3)`` images (repeated to 20)."""
    from PIL import Image

    small = [np.asarray(Image.fromarray(im).resize((128, 128), Image.Resampling.BILINEAR), np.float32) / 255
             for im in images]
    return np.stack([small[i % len(small)] for i in range(20)])


@contextlib.contextmanager
def _without_onnx2tf_probe() -> Iterator[None]:
    """Skip onnx2tf's ONNX Runtime run that keeps every intermediate tensor of the graph.

    onnx2tf 1.29 runs the whole ONNX graph once with every node's output requested, for its own
    accuracy checks (off here: strict mode disabled) and shape hints (not needed: every shape in the
    exported graph is static). At 1024x1536 that run alone holds about 5 GB. onnx2tf treats a failed
    run as "cannot infer, skip"; this makes it fail on purpose. The export checks parity itself.
    """
    import_tensorflow()  # before onnx2tf imports it, so that its start-up noise is filtered
    import onnx2tf.onnx2tf as core

    def skip(**_: object) -> list[np.ndarray]:
        raise RuntimeError("skipped by bggan: the export checks parity itself")

    original = core.dummy_onnx_inference
    core.dummy_onnx_inference = skip
    try:
        yield
    finally:
        core.dummy_onnx_inference = original


def onnx_to_keras(onnx_path: Path, replacements: list[dict], workdir: Path, samples: np.ndarray):
    """Convert ``onnx_path`` with onnx2tf into an in-memory Keras model (NHWC input ``1xHxWx3``).

    ``workdir`` (a fresh temporary folder) receives onnx2tf's sample file, the op replacement file
    and whatever else onnx2tf writes; it runs there so nothing is downloaded or left in the caller's
    working directory.
    """
    import_tensorflow()
    import onnx2tf

    onnx_path, workdir = onnx_path.resolve(), workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    np.save(workdir / ONNX2TF_SAMPLE_FILE, samples.astype(np.float32))
    replace_file = workdir / "replace.json"
    replace_file.write_text(json.dumps({"format_version": 1, "operations": replacements}, indent=1))
    with contextlib.chdir(workdir), _without_onnx2tf_probe():
        try:
            return onnx2tf.convert(input_onnx_file_path=str(onnx_path), output_folder_path=str(workdir / "tf"),
                                   param_replacement_file=str(replace_file), not_use_onnxsim=True,
                                   disable_strict_mode=True, disable_model_save=True, non_verbose=True)
        except SystemExit as e:  # onnx2tf reports its own errors, then calls sys.exit(1)
            raise RuntimeError(f"onnx2tf stopped (exit code {e.code}); its message is above") from None


def save_saved_model(model, path: Path, height: int, width: int, condition: str | None = None) -> None:
    """Write ``model`` as a SavedModel with one signature, ``serving_default``: ``image`` -> ``bokeh``,
    both ``(1, H, W, 3)`` float32 in [-1, 1]; a second input by the generator's ``condition``: ``defocus``
    ``(1, H, W, 1)`` for ``"defocus"``, else ``strength`` ``(1, 1, 1, 1)``; none for ``None``."""
    tf = import_tensorflow()

    spec = tf.TensorSpec([1, height, width, 3], tf.float32, name=INPUT_NAME)
    if condition is None:
        serve = tf.function(lambda image: {OUTPUT_NAME: model(image)}, input_signature=[spec])
    else:
        second = tf.TensorSpec([1, height, width, 1], tf.float32, name=DEFOCUS_NAME) if condition == "defocus" \
            else tf.TensorSpec(STRENGTH_SHAPE, tf.float32, name=STRENGTH_NAME)
        serve = tf.function(lambda image, other: {OUTPUT_NAME: model([image, other])}, input_signature=[spec, second])
    root = tf.Module()
    root.serve = serve
    root.weights = list(model.variables)  # onnx2tf embeds weights as constants; kept in case a version does not
    tf.saved_model.save(root, str(path), signatures={"serving_default": serve.get_concrete_function()})


def write_tflite(saved_model: Path, path: Path, kind: str, representative: Iterable[np.ndarray] = ()) -> None:
    """Convert ``saved_model`` into one TFLite file.

    ``kind``: ``float32``; ``float16`` (fp16 weights, run in fp16 by the GPU delegate); ``int8_dynamic_range``
    (int8 weights, float activations); ``int8`` (full-integer ops calibrated on ``representative``, NHWC
    float32 images in [-1, 1], or ``{input name: array}`` for a model with two inputs; float32 input and output,
    quantized at the ends).
    """
    tf = import_tensorflow()

    if kind not in TFLITE_KINDS:
        raise ValueError(f"kind must be one of {TFLITE_KINDS}, got {kind!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        samples = [x if isinstance(x, dict) else np.asarray(x, np.float32) for x in representative]
        if not samples:
            raise ValueError("int8 needs calibration images")
        converter.representative_dataset = lambda: (x if isinstance(x, dict) else [x] for x in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with filtered_stderr(TENSORFLOW_NOISE):
        flatbuffer = converter.convert()
    flatbuffer, _ = unfuse_transpose_conv_activations(flatbuffer)  # TRANSPOSE_CONV v4 is refused by the GPU delegate
    path.write_bytes(flatbuffer)
