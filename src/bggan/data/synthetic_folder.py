"""Write synthetic pairs to disk in the EBB! training layout, so training reads them like real photos, with
each pair's depth file (:mod:`bggan.data.depth_maps`) in ``depth/`` for ``bggan-eval``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import bggan
from bggan.data.defocus import Lens
from bggan.data.depth_maps import DEPTH_FOLDER, write_depth_file
from bggan.data.paired import make_layout, write_pair
from bggan.data.synthetic import ApertureLenses, render_pairs
from bggan.data.textures import Textures
from bggan.errors import BgganError
from bggan.files import atomic_output, check_output_folder

METADATA = "synthetic.json"


def write_synthetic_folder(out: str | os.PathLike, n: int, size: tuple[int, int], seed: int = 0,
                           workers: int | None = None, suffix: str = ".jpg", overwrite: bool = False,
                           progress: bool = True, lens: Lens | None = None, textures: str | None = None,
                           apertures: tuple[float, float] | None = None, no_blur: float = 0.0) -> float:
    """Render ``n`` pairs (seeds ``seed .. seed+n-1``) into ``out/original/SEED.jpg`` and ``out/bokeh/SEED.jpg``,
    with ``out/depth/SEED.npz`` (depth, the target's circle of confusion, the lens: :mod:`bggan.data.depth_maps`).

    Also writes ``out/synthetic.json`` (the generator's parameters). Files are written one by
    one, atomically; existing files are refused unless ``overwrite``, and nothing else in
    ``out`` is touched.

    Args:
        workers: rendering processes (default: see :func:`bggan.data.synthetic.render_pairs`).
        suffix: ``.jpg`` (quality 95, like EBB!) or ``.png`` (lossless).
        lens: the lens of the targets (default: EBB!'s 50 mm f/1.8 on APS-C).
        textures: a folder of photos for the scenes (``None``: scikit-image's).
        apertures, no_blur: each pair at its own f-number instead (:class:`bggan.data.synthetic.ApertureLenses`),
            written in its depth file's ``f_number`` (``inf`` for a no-blur pair).

    Returns:
        pairs per second, rendering and encoding included.
    """
    out = Path(out)
    if n < 1:
        raise BgganError(f"--n must be >= 1, got {n}")
    if suffix not in (".jpg", ".png"):
        raise BgganError(f"format must be jpg or png, got {suffix.lstrip('.')!r}")
    check_output_folder(out, "--out")
    seeds = range(seed, seed + n)
    lens = lens or Lens()
    lenses = lens if apertures is None else ApertureLenses(lens, tuple(apertures), no_blur)
    if not overwrite:
        taken = [p for p in [out / METADATA] + [out / sub / f"{s}{suffix}" for s in seeds
                                                for sub in ("original", "bokeh")]
                 + [out / DEPTH_FOLDER / f"{s}.npz" for s in seeds] if p.exists()]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise BgganError(f"{taken[0]} exists{more}; pass --overwrite to replace")
    Textures(textures)  # a textures folder without photos: refused before anything is made
    make_layout(out)  # fail before any rendering time is spent
    try:
        (out / DEPTH_FOLDER).mkdir(exist_ok=True)
    except OSError as e:
        raise BgganError(f"{out / DEPTH_FOLDER}: cannot create ({e.strerror or e})") from None

    start = time.perf_counter()
    for name, sample in render_pairs(seeds, size, workers, progress, desc=f"synthetic pairs -> {out}",
                                     textures=textures, lens=lenses):
        write_pair(out, str(name), sample["input"], sample["target"], suffix, overwrite)
        write_depth_file(out / DEPTH_FOLDER / f"{name}.npz", sample["depth"], sample["coc"], sample["focus_m"],
                         replace(lens, f_number=sample["f_number"]), overwrite)  # the pair's own aperture
    rate = n / (time.perf_counter() - start)
    metadata = {"generator": "bggan.data.synthetic.render_sample", "bggan_version": bggan.__version__,
                "seeds": [seed, seed + n - 1], "size_hw": list(size), "lens": asdict(lens), "textures": textures,
                "apertures": None if apertures is None else list(apertures), "no_blur": no_blur,
                "layout": "original/SEED (sharp), bokeh/SEED (defocused), depth/SEED.npz (depth_m, coc_px, "
                          "focus_m and the lens; see bggan.data.depth_maps)"}
    with atomic_output(out / METADATA, overwrite=True) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    return rate
