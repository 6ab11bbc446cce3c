"""Write synthetic pairs to disk in the EBB! training layout, so training reads them like real photos."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import bggan
from bggan.data.defocus import Lens
from bggan.data.paired import make_layout, write_pair
from bggan.data.synthetic import render_pairs
from bggan.errors import BgganError
from bggan.files import atomic_output

METADATA = "synthetic.json"


def write_synthetic_folder(out: str | os.PathLike, n: int, size: tuple[int, int], seed: int = 0,
                           workers: int | None = None, suffix: str = ".jpg", overwrite: bool = False,
                           progress: bool = True) -> float:
    """Render ``n`` pairs (seeds ``seed .. seed+n-1``) into ``out/original/SEED.jpg`` and ``out/bokeh/SEED.jpg``.

    Also writes ``out/synthetic.json`` (the generator's parameters). Files are written one by
    one, atomically; existing files are refused unless ``overwrite``, and nothing else in
    ``out`` is touched.

    Args:
        workers: rendering processes (default: see :func:`bggan.data.synthetic.render_pairs`).
        suffix: ``.jpg`` (quality 95, like EBB!) or ``.png`` (lossless).

    Returns:
        pairs per second, rendering and encoding included.
    """
    out = Path(out)
    if n < 1:
        raise BgganError(f"--n must be >= 1, got {n}")
    if suffix not in (".jpg", ".png"):
        raise BgganError(f"format must be jpg or png, got {suffix.lstrip('.')!r}")
    if out.exists() and not out.is_dir():
        raise BgganError(f"{out} exists and is not a folder")
    seeds = range(seed, seed + n)
    if not overwrite:
        taken = [p for p in [out / METADATA] + [out / sub / f"{s}{suffix}" for s in seeds
                                                for sub in ("original", "bokeh")] if p.exists()]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise BgganError(f"{taken[0]} exists{more}; pass --overwrite to replace")
    make_layout(out)  # fail before any rendering time is spent

    start = time.perf_counter()
    for name, sharp, bokeh in render_pairs(seeds, size, workers, progress, desc=f"synthetic pairs -> {out}"):
        write_pair(out, str(name), sharp, bokeh, suffix, overwrite)
    rate = n / (time.perf_counter() - start)
    metadata = {"generator": "bggan.data.synthetic.render_pair", "bggan_version": bggan.__version__,
                "seeds": [seed, seed + n - 1], "size_hw": list(size), "lens": asdict(Lens()),
                "layout": "original/SEED (sharp), bokeh/SEED (defocused)"}
    with atomic_output(out / METADATA, overwrite=True) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    return rate
