"""Real photo pairs on disk as datasets: :class:`PairedImages` scans a folder once (:mod:`bggan.data.scan`:
the EBB! layouts, every file checked), applies an optional keep-list, and splits off a deterministic validation
hold-out; :class:`PairFiles` reads the pairs, and a file that still fails later is skipped with a warning and
counted, so a run is not lost to one bad file. :func:`write_pair` writes the EBB! training layout.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
from torch.utils.data import Dataset

from bggan.data.depth_maps import DEPTH_FOLDER, depth_f_number
from bggan.data.scan import Pair, ScanReport, Skipped, read_keep_list, scan_folder
from bggan.errors import BgganError
from bggan.images import read_rgb, write_rgb
from bggan.models.condition import strength_for

log = logging.getLogger(__name__)


class PairFiles(Dataset):
    """Reads pairs from disk: item ``i`` is ``{"name", "input", "target"}`` with ``(H, W, 3)`` uint8 images, and
    ``"f_number"`` and ``"strength"`` (:func:`bggan.models.condition.strength_for`) for a pair that carries its
    aperture.

    A pair that fails to read (a file changed or broke after the scan) is skipped with a warning
    and counted in :attr:`failures` (shared by all loader workers); the next pair stands in for it.
    """

    def __init__(self, pairs: list[Pair]):
        self.pairs = list(pairs)
        self._failures = multiprocessing.get_context().Value("i", 0)
        self._bad: set[int] = set()  # per process: do not retry a pair known to fail

    @property
    def failures(self) -> int:
        """Pairs skipped at read time so far, over all workers."""
        return self._failures.value

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        for step in range(len(self.pairs)):
            i = (index + step) % len(self.pairs)
            if i in self._bad:
                continue
            try:
                return self._read(self.pairs[i])
            except BgganError as e:
                self._bad.add(i)
                with self._failures.get_lock():
                    self._failures.value += 1
                    count = self._failures.value
                log.warning("skipping pair %s: %s (%d pairs skipped at read time so far)",
                            self.pairs[i].name, e, count)
        raise BgganError("every pair failed to read; see the warnings above")

    @staticmethod
    def _read(pair: Pair) -> dict:
        source, target = read_rgb(pair.source), read_rgb(pair.target)
        if source.shape != target.shape:
            raise BgganError(f"sizes differ: {source.shape[:2]} vs {target.shape[:2]}")
        item = {"name": pair.name, "input": source, "target": target}
        if pair.f_number is not None:
            item.update(f_number=pair.f_number, strength=strength_for(pair.f_number))
        return item


class PairedImages:
    """Photo pairs from a folder (EBB! layouts), scanned once, split into training and validation.

    Args:
        root: the folder (``original/`` + ``bokeh/``, or ``NAME_src`` / ``NAME_tgt`` files).
        keep_list: optional text file of names to keep (e.g. the authors' hand-cleaned list).
        holdout: pairs held out for validation: the last ones in natural name order, so the
            split never changes between runs and neighbouring shots (often the same scene) stay
            on one side. Ignored when ``val_root`` is given.
        val_root: a separate validation folder (e.g. Val294) used whole instead of a hold-out.
        check: ``"header"`` or ``"full"`` (see :func:`scan_folder`).
        f_number: the aperture of the targets, for a generator with the aperture as an input (EBB!: f/1.8);
            a pair with a depth file that names its own (``depth/NAME.npz``, as ``bggan-synth --apertures``
            writes them) keeps that one. ``None``: the pairs carry no aperture.
    """

    def __init__(self, root: str | os.PathLike | None, keep_list: str | os.PathLike | None = None,
                 holdout: int = 294, val_root: str | os.PathLike | None = None, check: Literal["header", "full"] = "header",
                 f_number: float | None = 1.8):
        if root is None or str(root) == "":
            raise BgganError("no data folder given: set data.pairs.root=/path/to/ebb/train "
                             "(or the environment variable BGGAN_EBB_ROOT)")
        if holdout < 0:
            raise BgganError(f"holdout must be >= 0, got {holdout}")
        if f_number is not None and not f_number > 0:
            raise BgganError(f"data.pairs.f_number must be > 0 (or null), got {f_number}")
        self.f_number = None if f_number is None else float(f_number)
        self.root, self.keep_list, self.holdout, self.check = Path(root), keep_list, holdout, check
        self.val_root = Path(val_root) if val_root else None
        for key, folder in (("root", self.root), ("val_root", self.val_root)):
            if folder is not None and not folder.expanduser().is_dir():  # when named: before a run folder is made
                raise BgganError(f"data.pairs.{key}={folder}: " + ("not a folder" if folder.exists() else
                                                                   "no such folder"))
        self.reports: list[ScanReport] = []

    def scan(self) -> list[ScanReport]:
        """Scan the folder(s) once; later calls return the same reports."""
        if not self.reports:
            keep = read_keep_list(self.keep_list) if self.keep_list else None
            self.reports = [scan_folder(self.root, keep, self.check)]
            if self.val_root is not None:
                self.reports.append(scan_folder(self.val_root, None, self.check))
            for report in self.reports:
                label_apertures(report, self.f_number)
                if not report.pairs:
                    raise BgganError(f"{report.root}: none of the {report.found} pairs found is usable "
                                     f"({len(report.skipped)} files skipped"
                                     + (f", {report.not_listed} not on the keep-list" if report.not_listed else "")
                                     + ")")
        return self.reports

    def summary(self) -> str:
        """The scan's report, and how the pairs were split."""
        train, val = self._split()
        where = f"all of {self.val_root}" if self.val_root else f"the last {len(val)} of {self.root} by name"
        return "\n".join(r.summary() for r in self.scan()) + \
            f"\nsplit: {len(train)} training pairs, {len(val)} validation pairs ({where})"

    def _split(self) -> tuple[list[Pair], list[Pair]]:
        reports = self.scan()
        pairs = reports[0].pairs
        if self.val_root is not None:
            return pairs, reports[1].pairs
        if self.holdout >= len(pairs):
            raise BgganError(f"holdout={self.holdout} leaves no training pairs ({len(pairs)} usable in "
                             f"{self.root}): lower data.pairs.holdout")
        cut = len(pairs) - self.holdout
        return pairs[:cut], pairs[cut:]

    def split(self) -> tuple[PairFiles, PairFiles]:
        """``(train, validation)`` datasets of uint8 pairs."""
        train, val = self._split()
        return PairFiles(train), PairFiles(val)


def label_apertures(report: ScanReport, f_number: float | None) -> None:
    """Give the report's pairs their targets' f-number: the one in the pair's depth file in ``root/depth/`` when it
    names one (``bggan-synth --apertures``), else ``f_number``. A pair whose depth file cannot be read is skipped."""
    depth, pairs = report.root / DEPTH_FOLDER, []
    for pair in report.pairs:
        try:
            own = depth_f_number(depth / f"{pair.name}.npz")
        except BgganError as e:
            report.skipped.append(Skipped(depth / f"{pair.name}.npz", str(e).split(": ", 1)[-1]))
            continue
        pairs.append(replace(pair, f_number=f_number if own is None else own))
    report.pairs = pairs


def make_layout(root: Path) -> None:
    """Create ``root/original`` and ``root/bokeh`` if they are missing."""
    for sub in ("original", "bokeh"):
        try:
            (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BgganError(f"cannot create {root / sub}: {e.strerror or e}") from None


def write_pair(root: Path, name: str, source: np.ndarray, target: np.ndarray, suffix: str = ".jpg",
               overwrite: bool = False) -> None:
    """Write one pair in the EBB! training layout (``original/NAME`` and ``bokeh/NAME``), each file atomically."""
    make_layout(root)
    write_rgb(root / "original" / f"{name}{suffix}", source, overwrite)
    write_rgb(root / "bokeh" / f"{name}{suffix}", target, overwrite)
