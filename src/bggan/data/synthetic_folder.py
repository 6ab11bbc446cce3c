"""Write synthetic pairs to disk in the EBB! training layout, so training reads them like real photos."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

import bggan
from bggan.data.defocus import Lens
from bggan.data.paired import make_layout, write_pair
from bggan.data.synthetic import render_pair
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
        workers: rendering processes (default: one per core).
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
    make_layout(out)  # fail here, not in a worker

    workers = max(1, min(workers or os.cpu_count() or 1, n))
    jobs = [(s, out, size, suffix, overwrite) for s in seeds]
    start = time.perf_counter()
    with tqdm(total=n, unit="pair", desc=f"synthetic pairs -> {out}", disable=not progress) as bar:
        if workers == 1:
            for job in jobs:
                _render_and_write(job)
                bar.update()
        else:
            # spawn, not fork: the parent's torch thread pools do not survive a fork safely
            with multiprocessing.get_context("spawn").Pool(workers, initializer=torch.set_num_threads,
                                                           initargs=(1,)) as pool:
                for _ in pool.imap_unordered(_render_and_write, jobs):
                    bar.update()
    rate = n / (time.perf_counter() - start)
    metadata = {"generator": "bggan.data.synthetic.render_pair", "bggan_version": bggan.__version__,
                "seeds": [seed, seed + n - 1], "size_hw": list(size), "lens": asdict(Lens()),
                "layout": "original/SEED (sharp), bokeh/SEED (defocused)"}
    with atomic_output(out / METADATA, overwrite=True) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    return rate


def _render_and_write(job: tuple) -> int:
    seed, out, size, suffix, overwrite = job
    sharp, bokeh = render_pair(seed, *size)
    write_pair(out, str(seed), sharp, bokeh, suffix, overwrite)
    return seed
