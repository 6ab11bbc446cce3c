"""Small TFLite files made with TensorFlow for the GPU-runtime tests: what the GPU runs, and what it cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHAPE = (1, 32, 48, 3)


def _write(tf, fn, path: Path) -> Path:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    path.write_bytes(converter.convert())
    return path


def conv_model(tf, path: Path) -> tuple[Path, callable]:
    """A conv + average pool + rsqrt normalization (the export's op kinds); returns the file and a NumPy twin."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec(SHAPE, tf.float32, name="image")])
    def model(image):
        y = tf.nn.conv2d(image, w, strides=1, padding="SAME")
        mean = tf.nn.avg_pool2d(y, ksize=SHAPE[1:3], strides=1, padding="VALID")
        centred = y - mean
        var = tf.nn.avg_pool2d(centred * centred, ksize=SHAPE[1:3], strides=1, padding="VALID")
        return tf.tanh(centred * tf.math.rsqrt(var + 1e-3))

    def twin(x: np.ndarray) -> np.ndarray:
        y = tf.nn.conv2d(x, w, strides=1, padding="SAME").numpy().astype(np.float64)
        centred = y - y.mean(axis=(1, 2), keepdims=True)
        return np.tanh(centred / np.sqrt((centred**2).mean(axis=(1, 2), keepdims=True) + 1e-3))

    return _write(tf, model, path), twin


def two_input_model(tf, path: Path) -> Path:
    """An image and a strength ``(1, 1, 1, 1)`` (the aperture input of a conditional model): ``image * strength``
    blended with its 3x3 average."""

    @tf.function(input_signature=[tf.TensorSpec(SHAPE, tf.float32, name="image"),
                                  tf.TensorSpec((1, 1, 1, 1), tf.float32, name="strength")])
    def model(image, strength):
        blurred = tf.nn.avg_pool2d(image, ksize=3, strides=1, padding="SAME")
        return image + strength * (blurred - image)

    return _write(tf, model, path)


def argmax_model(tf, path: Path) -> Path:
    """An int64 ARG_MAX: the GPU cannot run it (the negative control)."""

    @tf.function(input_signature=[tf.TensorSpec(SHAPE, tf.float32, name="image")])
    def model(image):
        return tf.argmax(image * 2.0, axis=-1)

    return _write(tf, model, path)
