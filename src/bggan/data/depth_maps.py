"""The per-pair depth file: where a pair's circle of confusion is kept beside its images.

``bggan-synth --out DIR`` writes one per pair, ``DIR/depth/NAME.npz`` (NumPy's zip of arrays), holding:

- ``depth_m``: ``(H, W)`` float32, metres from the lens of what each pixel of the input shows;
- ``coc_px``: ``(H, W)`` float32, the target's signed circle-of-confusion diameter in pixels (negative in
  front of the focal plane);
- ``focus_m``, ``focal_mm``, ``f_number``, ``sensor_width_mm``: the focus distance and the lens (scalars).

``bggan-eval`` reads ``coc_px`` to score per band of the circle of confusion (:mod:`bggan.evaluate.bands`).
Your own pairs can carry the same: an ``.npz`` with ``coc_px``, or with ``depth_m`` and the four scalars
(the thin-lens CoC is then computed), or a plain ``.npy`` of the signed CoC in pixels.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from bggan.data.defocus import Lens
from bggan.errors import BgganError
from bggan.files import atomic_output

#: What a depth file may be named with, by the stem of its pair.
DEPTH_SUFFIXES = (".npz", ".npy")
#: The folder beside ``original/`` and ``bokeh/`` (or beside the images) that holds them.
DEPTH_FOLDER = "depth"
LENS_KEYS = ("focal_mm", "f_number", "sensor_width_mm")


def write_depth_file(path: str | os.PathLike, depth_m: np.ndarray, coc_px: np.ndarray, focus_m: float, lens: Lens,
                     overwrite: bool = False) -> Path:
    """Write one pair's depth file atomically (see the module docstring)."""
    with atomic_output(path, overwrite) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, depth_m=depth_m.astype(np.float32), coc_px=coc_px.astype(np.float32),
                            focus_m=np.float64(focus_m), **{k: np.float64(getattr(lens, k)) for k in LENS_KEYS})
    return Path(path)


def depth_f_number(path: str | os.PathLike) -> float | None:
    """The ``f_number`` a depth file names (``inf`` for a no-blur pair), or ``None`` where there is no such file
    or value. Reads that one scalar, not the maps.

    Raises:
        BgganError: the file exists and is not a readable ``.npz``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return float(data["f_number"]) if "f_number" in data.files else None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise BgganError(f"{path}: not a readable .npz file ({e})") from None


def read_coc(path: str | os.PathLike) -> np.ndarray:
    """The signed circle of confusion ``(H, W)`` float32 px from a depth file (``.npz``) or a CoC map (``.npy``).

    Raises:
        BgganError: unreadable, or without what is needed.
    """
    from bggan.data.depth_bokeh import signed_coc

    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise BgganError(f"{path}: not a readable .npz or .npy file ({e})") from None
    if isinstance(data, np.ndarray):
        coc = data
    elif "coc_px" in data:
        coc = data["coc_px"]
    elif "depth_m" in data and all(k in data for k in ("focus_m", *LENS_KEYS)):
        lens = Lens(**{k: float(data[k]) for k in LENS_KEYS})
        depth = data["depth_m"]
        coc = signed_coc(depth, float(data["focus_m"]), lens, depth.shape[-1])
    else:
        raise BgganError(f"{path}: needs coc_px, or depth_m with focus_m, {', '.join(LENS_KEYS)}")
    coc = np.squeeze(np.asarray(coc, np.float32))
    if coc.ndim != 2 or not np.isfinite(coc).all():
        raise BgganError(f"{path}: the circle of confusion must be a finite 2-D map, got shape {coc.shape}")
    return coc
