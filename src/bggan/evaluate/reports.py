"""Reports of scored images: ``metrics.csv`` (one row per image) and ``metrics.md`` (means and conventions)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from bggan.evaluate.bands import BAND_NAMES, BandMetrics
from bggan.evaluate.grids import ERROR_FULL_SCALE
from bggan.evaluate.metrics import Metrics, Scorer
from bggan.evaluate.pairs import SkippedPair
from bggan.evaluate.scoring import ImageScore, mean_metrics, mean_seconds
from bggan.files import atomic_output


def _number(value: float | None, digits: int) -> str:
    """``""`` for ``None``, ``"inf"`` for infinity, else ``digits`` decimals."""
    return "" if value is None else f"{value:.{digits}f}"


CSV_COLUMNS = ("name", "psnr", "ssim", "lpips", "seconds")
IDENTITY_COLUMNS = ("identity_psnr", "identity_ssim", "identity_lpips")
#: Per band of the target's circle of confusion, when known: the output's PSNR and detail kept, the input's detail.
BAND_COLUMNS = tuple(f"{kind}_{band}" for band in BAND_NAMES for kind in ("psnr", "detail", "identity_detail"))


def csv_rows(scores: list[ImageScore]) -> list[list[str]]:
    """Header and one row per image: :data:`CSV_COLUMNS`, then :data:`IDENTITY_COLUMNS` if any image has an input,
    then :data:`BAND_COLUMNS` if any image has per-band numbers, then ``f_number`` if any pair carries one.

    Empty cells: LPIPS not computed, no timing (predictions from files), a band too small or flat to
    measure. PSNR may be ``inf``.
    """
    identity = any(s.identity is not None for s in scores)
    bands = any(s.model.bands is not None for s in scores)
    apertures = any(s.f_number is not None for s in scores)
    rows = [list(CSV_COLUMNS) + (list(IDENTITY_COLUMNS) if identity else []) + (list(BAND_COLUMNS) if bands else [])
            + (["f_number"] if apertures else [])]
    for s in scores:
        row = [s.name, _number(s.model.psnr, 4), _number(s.model.ssim, 6), _number(s.model.lpips, 6),
               _number(s.seconds, 6)]
        if identity:
            i = s.identity
            row += ["", "", ""] if i is None else [_number(i.psnr, 4), _number(i.ssim, 6), _number(i.lpips, 6)]
        if bands:
            mine, base = s.model.bands or {}, (s.identity.bands if s.identity else None) or {}
            for band in BAND_NAMES:
                m, b = mine.get(band), base.get(band)
                row += [_number(m and m.psnr, 4), _number(m and m.detail, 4), _number(b and b.detail, 4)]
        if apertures:
            row.append("" if s.f_number is None else f"{s.f_number:g}")
        rows.append(row)
    return rows


def write_csv(path: str | os.PathLike, scores: list[ImageScore], overwrite: bool = False) -> Path:
    """Write :func:`csv_rows` to ``path`` atomically (no summary rows: one line per image)."""
    with atomic_output(path, overwrite) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(csv_rows(scores))
    return Path(path)


def write_text(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path, overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)


def metrics_table(scores: list[ImageScore], label: str = "model") -> str:
    """A markdown table of means: the model's row (``label``) and the identity baseline's, when known."""
    lines = ["| | images | PSNR (dB) | SSIM | LPIPS | s/image |", "|---|---:|---:|---:|---:|---:|"]
    seconds = mean_seconds(scores)
    for name, which, secs in ((label, "model", seconds), ("identity (output = input)", "identity", None)):
        m = mean_metrics(scores, which)
        if m is None:
            continue
        count = sum(getattr(s, which) is not None for s in scores)
        lines.append(f"| {name} | {count} | {m.psnr:.2f} | {m.ssim:.4f} | "
                     f"{'-' if m.lpips is None else f'{m.lpips:.4f}'} | {'-' if secs is None else f'{secs:.4f}'} |")
    rows = [(name, mean_metrics(scores, which)) for name, which in ((label, "model"),
                                                                    ("identity (output = input)", "identity"))]
    rows = [(name, m.bands) for name, m in rows if m is not None and m.bands]
    if rows:
        lines += ["", bands_table(rows)]
    return "\n".join(lines)


def full_stop(f_number: float) -> float:
    """The full stop nearest ``f_number`` in exposure (``sqrt(2)**k``: 1, 1.4, 2, 2.8, ...); ``inf`` stays."""
    return f_number if math.isinf(f_number) else 2 ** (round(2 * math.log2(f_number)) / 2)


def f_number_table(scores: list[ImageScore]) -> str | None:
    """Means per f-number of the targets, grouped by the nearest full stop (:func:`full_stop`; ``no blur`` first,
    the widest aperture last), as :func:`comparison_table` rows named by the f-numbers each holds and their image
    counts; ``None`` unless the pairs fall in at least two groups."""
    groups = sorted({full_stop(s.f_number) for s in scores if s.f_number is not None}, reverse=True)
    if len(groups) < 2:
        return None
    rows = []
    for stop in groups:
        group = [s for s in scores if s.f_number is not None and full_stop(s.f_number) == stop]
        low, high = min(s.f_number for s in group), max(s.f_number for s in group)
        name = "no blur" if math.isinf(stop) else f"f/{low:.2g}" if low == high else f"f/{low:.2g}-{high:.2g}"
        rows.append((f"{name} ({len(group)} images)", mean_metrics(group), mean_seconds(group)))
    unlabelled = [s for s in scores if s.f_number is None]
    if unlabelled:
        rows.append((f"no f-number ({len(unlabelled)} images)", mean_metrics(unlabelled), mean_seconds(unlabelled)))
    return comparison_table(rows)


def comparison_table(rows: list[tuple[str, Metrics, float | None]]) -> str:
    """A markdown table comparing outputs: per row a name, its mean :class:`Metrics` and seconds per image (or
    ``None``); PSNR and SSIM, then PSNR and detail kept per band when the metrics have them."""
    bands = [b for b in BAND_NAMES if any(m.bands and b in m.bands for _, m, _ in rows)]
    head = "| | PSNR (dB) | SSIM | " + "".join(f"{b.replace('_', ' ')}: PSNR, detail | " for b in bands) + "s/image |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(bands) + "---:|"]
    for name, m, seconds in rows:
        cells = [f"{_fixed(m.bands[b].psnr, 2)}, {_fixed(m.bands[b].detail, 2)}" if m.bands and b in m.bands else "-"
                 for b in bands]
        lines.append(f"| {name} | {m.psnr:.2f} | {m.ssim:.4f} | " + "".join(f"{c} | " for c in cells)
                     + f"{_fixed(seconds, 3)} |")
    return "\n".join(lines)


def bands_table(rows: list[tuple[str, dict[str, BandMetrics]]]) -> str:
    """A markdown table of per-band means: for each row, PSNR and detail kept in each band (and the band's share)."""
    share = rows[0][1]
    head = " | ".join(f"{band.replace('_', ' ')} ({100 * share[band].fraction:.0f}%): PSNR, detail"
                      for band in BAND_NAMES if band in share)
    lines = [f"| per band of the target's CoC | {head} |", "|---|" + "---:|" * len(share)]
    for name, bands in rows:
        cells = [f"{_fixed(bands[b].psnr, 2)}, {_fixed(bands[b].detail, 2)}" for b in BAND_NAMES if b in share]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fixed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def metrics_markdown(scores: list[ImageScore], scorer: Scorer, label: str = "model", source: str = "",
                     skipped: list[SkippedPair] = (), notes: list[str] = ()) -> str:
    """The whole ``metrics.md``: title, counts, table of means, conventions, LPIPS, timing, error map, skips.

    Args:
        scores: the scored images.
        scorer: gives the conventions and the LPIPS note.
        label: the model row's name.
        source: where the images came from, one line.
        skipped: pairs that were not scored, each listed with its reason.
        notes: extra lines (e.g. unmatched files, the timing set-up).
    """
    lpips_counted = sum(s.model.lpips is not None for s in scores)
    lpips_note = scorer.lpips_note
    if scorer.lpips is not None and lpips_counted < len(scores):
        lpips_note += f" (computed for {lpips_counted} of {len(scores)} images; it needs sides of at least 31 px)"
    lines = ["# bggan-eval", ""]
    if source:
        lines += [source, ""]
    by_f_number = f_number_table(scores)
    lines += [f"{len(scores)} images scored, {len(skipped)} pairs skipped.", "", metrics_table(scores, label), "",
              *([f"By the targets' f-number ({label}):", "", by_f_number, ""] if by_f_number else []),
              f"- Conventions: {scorer.conventions()}.",
              *([f"- Per band: {scorer.band_conventions()}."] if any(s.model.bands for s in scores) else []),
              f"- {lpips_note.rstrip('.')}.",
              (f"- Error map (grid.png): per-pixel mean absolute RGB difference of output vs target, full "
               f"brightness at {ERROR_FULL_SCALE} of the [0, 1] range (inferno-like colormap: black = 0)."),
              *(f"- {note.rstrip('.')}." for note in notes)]
    if skipped:
        lines += ["", "Skipped pairs:", *(f"- {s.name}: {s.reason}" for s in skipped)]
    return "\n".join(lines) + "\n"
