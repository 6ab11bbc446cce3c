"""The released inference script's size handling: bicubic resize to a multiple of 8 and back.

The authors' script resized any image whose width was not a multiple of 8 with
``tf.image.resize(..., method=BICUBIC)`` (TF 2: Keys cubic, a = -0.5, half-pixel centres, no antialiasing;
taps outside the image get weight 0 and the rest are renormalised), ran the model, and resized the output back
the same way. :func:`released_resize` computes exactly that resize in NumPy, so no TensorFlow is needed.
"""

from __future__ import annotations

import numpy as np

SIZE_MULTIPLE = 8


#: TensorFlow samples the cubic kernel from a table of this many steps per pixel (``resize_bicubic_op.cc``).
TABLE_SIZE = 1024


def _keys_table(a: float = -0.5) -> np.ndarray:
    """``(TABLE_SIZE + 1, 2)`` float32: Keys' kernel at distance x and x + 1 for x = i / TABLE_SIZE."""
    x = np.arange(TABLE_SIZE + 1, dtype=np.float64) / TABLE_SIZE
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    return np.stack([near, far], axis=1).astype(np.float32)


def bicubic_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """TensorFlow 2's bicubic resize along one axis: ``(n_out, 4)`` source indices and float32 weights (its float32
    arithmetic, its kernel table, taps outside the image dropped and the rest renormalised)."""
    scale = np.float32(n_in) / np.float32(n_out)
    centre = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    base = np.floor(centre).astype(np.int64)
    offset = np.rint((centre - base).astype(np.float32) * np.float32(TABLE_SIZE)).astype(np.int64)
    table = _keys_table()
    weights = np.stack([table[offset, 1], table[offset, 0], table[TABLE_SIZE - offset, 0],
                        table[TABLE_SIZE - offset, 1]], axis=1)
    taps = np.stack([base - 1, base, base + 1, base + 2], axis=1)
    weights[(taps < 0) | (taps >= n_in)] = 0
    weights /= weights.sum(axis=1, keepdims=True)
    return np.clip(taps, 0, n_in - 1), weights


def _resize_axis(image: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    taps, weights = bicubic_taps(image.shape[axis], n_out)
    shape = [1] * image.ndim
    shape[axis] = n_out
    out = np.zeros(image.shape[:axis] + (n_out,) + image.shape[axis + 1:], np.float32)
    for k in range(4):
        out += np.take(image, taps[:, k], axis=axis) * weights[:, k].reshape(shape)
    return out


def released_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, C)`` -> ``(h, w, C)`` float32 by TensorFlow 2's bicubic resize (values not clipped)."""
    out = image.astype(np.float32)
    for axis, n in enumerate(size):
        if n != out.shape[axis]:
            out = _resize_axis(out, n, axis)
    return out


def released_size(size: tuple[int, int]) -> tuple[int, int]:
    """Each side rounded up to a multiple of 8 (the script did the width; EBB!'s heights were already 1024)."""
    return tuple(-(-s // SIZE_MULTIPLE) * SIZE_MULTIPLE for s in size)
