"""Metrics of a generator on held-out pairs, and of the identity baseline (output = input).

Conventions: PSNR and SSIM from torchmetrics on RGB images in [0, 1] (data range 1), whole
images, no border crop; SSIM with an 11x11 Gaussian window (sigma 1.5); both averaged over
images (PSNR per image, then the mean).
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from tqdm import tqdm

from bggan.data.paired import natural_key
from bggan.errors import BgganError
from bggan.files import atomic_output
from bggan.images import read_rgb, to_tensor, to_uint8
from bggan.losses import to_unit_range
from bggan.models.glassnet import GlassNet


def image_metrics() -> tuple[PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure]:
    """Fresh PSNR and SSIM metrics with this module's conventions (also what training validation logs)."""
    return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)), StructuralSimilarityIndexMeasure(data_range=1.0)


@dataclass
class Scores:
    """Mean PSNR (dB) and SSIM over ``images`` pairs, and the model's seconds per image."""

    psnr: float
    ssim: float
    images: int
    seconds_per_image: float


@torch.no_grad()
def evaluate(model: GlassNet | None, pairs: Dataset, desc: str = "evaluating") -> Scores:
    """Score ``model`` (``None``: the identity baseline) on ``pairs``.

    Args:
        model: a generator (put in eval mode here), or ``None`` to score the input itself.
        pairs: items ``{"input", "target"}``, ``(H, W, 3)`` uint8 (e.g. the validation split of
            :class:`~bggan.data.SyntheticPairs` or :class:`~bggan.data.PairedImages`).
    """
    psnr, ssim = image_metrics()
    if model is not None:
        model.eval()
    seconds = 0.0
    for i in tqdm(range(len(pairs)), desc=desc, unit="image", leave=False):
        item = pairs[i]
        x, target = to_tensor(item["input"]), to_tensor(item["target"])
        start = time.perf_counter()
        pred = x if model is None else model(x)[0]
        seconds += time.perf_counter() - start
        pred, target = to_unit_range(pred).clamp(0, 1), to_unit_range(target)
        psnr.update(pred, target)
        ssim.update(pred, target)
    n = len(pairs)
    return Scores(float(psnr.compute()), float(ssim.compute()), n, seconds / max(n, 1) if model is not None else 0.0)


# ---------------------------------------------------------------------------------------------------------------------
# Per-image scoring (bggan-eval, notebooks). Images are (H, W, 3) uint8 arrays unless a docstring says otherwise.

#: Image files that :func:`pair_folders` matches by stem.
EVAL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: An error map is at full brightness where the mean absolute RGB difference reaches this much of the [0, 1] range.
ERROR_FULL_SCALE = 0.25
#: Height (px) every tile of :func:`comparison_grid` is resized to.
GRID_HEIGHT = 256
#: Unmatched file names shown in the summary line (the rest are counted).
UNMATCHED_SHOWN = 5
#: Anchors of the error-map colormap, dark to bright (inferno-like: black, purple, red, orange, pale yellow).
_COLORMAP = np.array([[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85], [227, 89, 51],
                      [249, 140, 10], [249, 201, 50], [252, 255, 164]], dtype=np.float64)


@dataclass
class Metrics:
    """One image against its target: PSNR (dB, ``inf`` for an exact match), SSIM, LPIPS (``None``: not computed)."""

    psnr: float
    ssim: float
    lpips: float | None = None


@dataclass
class ImageScore:
    """The scores of one image: the model's output (or a given prediction), and the identity baseline if known.

    ``seconds`` is the model's forward time (``None`` for predictions read from files); ``panels`` holds
    the images for :func:`comparison_grid` (``[input,] output, target, error map``) when they were kept.
    """

    name: str
    model: Metrics
    identity: Metrics | None = None
    seconds: float | None = None
    panels: list[np.ndarray] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SkippedPair:
    """A pair that was not scored, and why."""

    name: str
    reason: str


class Scorer:
    """PSNR, SSIM and (optionally) LPIPS of one image against its target, with fixed conventions.

    Args:
        crop_border: pixels cropped from every side of both images before scoring (0: whole images).
        lpips: a callable ``(a, b) -> (N,)`` distances for ``(N, 3, H, W)`` tensors in [-1, 1] (e.g.
            :class:`bggan.models.lpips.LPIPS`), or ``None`` to leave LPIPS out.
        lpips_note: one line saying what LPIPS is (or why it is missing), for reports.
        device: where the metrics run (an ``nn.Module`` LPIPS is moved there).
    """

    def __init__(self, crop_border: int = 0, lpips=None, lpips_note: str = "LPIPS off",
                 device: str | torch.device = "cpu"):
        if crop_border < 0:
            raise BgganError(f"--crop-border must be >= 0, got {crop_border}")
        self.crop_border, self.lpips, self.lpips_note = crop_border, lpips, lpips_note
        self.device = torch.device(device)
        self.psnr, self.ssim = (m.to(self.device) for m in image_metrics())
        if isinstance(lpips, torch.nn.Module):
            lpips.to(self.device)
        self.lpips_failures = 0  #: images whose LPIPS could not be computed (e.g. smaller than its network needs)

    def conventions(self) -> str:
        """One line stating how the numbers were computed."""
        region = (f"{self.crop_border} px cropped from every side before scoring" if self.crop_border
                  else "whole images (no border crop)")
        return (f"PSNR and SSIM from torchmetrics on RGB in [0, 1] (data range 1), {region}; SSIM with an 11x11 "
                "Gaussian window (sigma 1.5); model outputs clamped to [0, 1], not quantized; means over images "
                "(per-image PSNR, then the mean); PSNR is inf for an exact match, and so is any mean that "
                "includes one")

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., H, W)`` -> ``(..., H - 2N, W - 2N)`` for ``crop_border`` N; BgganError if nothing is left."""
        n = self.crop_border
        if n == 0:
            return x
        h, w = x.shape[-2:]
        if h <= 2 * n or w <= 2 * n:
            raise BgganError(f"image is {h}x{w}, too small for --crop-border {n}")
        return x[..., n:h - n, n:w - n]

    @torch.inference_mode()
    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> Metrics:
        """Score ``pred`` against ``target``, both ``(1, 3, H, W)`` in [-1, 1] (``pred`` is clamped).

        Raises:
            BgganError: the two sizes differ, or the crop leaves nothing.
        """
        if pred.shape != target.shape:
            raise BgganError(f"output is {pred.shape[-2]}x{pred.shape[-1]} but its target is "
                             f"{target.shape[-2]}x{target.shape[-1]} (HxW)")
        pred = self.crop(to_unit_range(pred.to(self.device, torch.float32)).clamp(0, 1))
        target = self.crop(to_unit_range(target.to(self.device, torch.float32)).clamp(0, 1))
        values = []
        for metric in (self.psnr, self.ssim):
            metric.reset()
            metric.update(pred, target)
            values.append(float(metric.compute()))
        return Metrics(values[0], values[1], self._lpips(pred, target))

    def _lpips(self, pred: torch.Tensor, target: torch.Tensor) -> float | None:
        """LPIPS of two ``(1, 3, h, w)`` images in [0, 1] (the metric sees them in [-1, 1]); ``None`` if off or failed."""
        if self.lpips is None:
            return None
        try:
            return float(self.lpips(pred * 2 - 1, target * 2 - 1).reshape(-1)[0])
        except (ValueError, RuntimeError):  # e.g. an image smaller than the network's 31 px
            self.lpips_failures += 1
            return None


def load_lpips_metric(enabled: bool = True) -> tuple[object | None, str]:
    """``(metric, note)`` from :func:`bggan.models.lpips.find_lpips` (imported here, lazily); never raises.

    ``metric`` is ``None`` when ``enabled`` is false, the module is missing, or it found no weights; the
    note is one line saying which.
    """
    if not enabled:
        return None, "LPIPS off (--no-lpips)"
    try:
        from bggan.models.lpips import find_lpips
    except ImportError:
        return None, "LPIPS skipped (bggan.models.lpips not available)"
    try:
        return find_lpips()
    except Exception as e:  # noqa: BLE001 (find_lpips promises not to raise; a report must not die of it)
        return None, f"LPIPS skipped ({type(e).__name__}: {e})"


# ---------------------------------------------------------------------------------------------------------------------
# Pairs of image files


class FilePairs(Dataset):
    """Images matched by name across folders; item ``i`` is ``{"name", ROLE: (H, W, 3) uint8, ...}``.

    Args:
        entries: ``(name, {role: path})`` in scoring order; roles are ``"pred"``, ``"input"``, ``"target"``.

    Reading an item raises :class:`BgganError` (naming the file) for an unreadable image, or when the
    images of one pair differ in size.
    """

    def __init__(self, entries: list[tuple[str, dict[str, Path]]]):
        self.entries = list(entries)

    @classmethod
    def from_pairs(cls, pairs) -> FilePairs:
        """From :class:`bggan.data.paired.Pair` records (``name``, ``source``, ``target``): roles input and target."""
        return cls([(p.name, {"input": Path(p.source), "target": Path(p.target)}) for p in pairs])

    def name(self, index: int) -> str:
        return self.entries[index][0]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        name, paths = self.entries[index]
        images = {role: read_rgb(path) for role, path in paths.items()}
        sizes = {role: image.shape[:2] for role, image in images.items()}
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{role} {h}x{w}" for role, (h, w) in sizes.items())
            raise BgganError(f"sizes differ: {detail} (HxW)")
        return {"name": name, **images}


@dataclass
class Pairing:
    """What :func:`pair_folders` found: the pairs to score, files without a partner, names used twice."""

    pairs: FilePairs
    unmatched: list[str]
    ambiguous: list[SkippedPair]

    def unmatched_line(self) -> str | None:
        """``"N files without a partner, not scored: a, b, ..."`` (first few names), or ``None``."""
        if not self.unmatched:
            return None
        shown = ", ".join(self.unmatched[:UNMATCHED_SHOWN])
        more = f" and {len(self.unmatched) - UNMATCHED_SHOWN} more" if len(self.unmatched) > UNMATCHED_SHOWN else ""
        return f"{len(self.unmatched)} files without a partner, not scored: {shown}{more}"


def images_by_stem(folder: str | os.PathLike) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Image files (:data:`EVAL_SUFFIXES`) of ``folder`` by stem, and stems used by more than one file.

    Raises:
        BgganError: ``folder`` is missing, not a folder, or cannot be listed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BgganError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    try:
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in EVAL_SUFFIXES)
    except OSError as e:
        raise BgganError(f"{folder}: cannot list ({e.strerror or e})") from None
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    unique = {stem: paths[0] for stem, paths in by_stem.items() if len(paths) == 1}
    return unique, {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}


def pair_folders(pred: str | os.PathLike, target: str | os.PathLike,
                 input: str | os.PathLike | None = None) -> Pairing:
    """Match files of the folders by stem (any of :data:`EVAL_SUFFIXES` on each side), in natural name order.

    A name is scored only when every folder has it; other files are listed in ``unmatched`` (as
    ``folder/file``), and a name given to two files in one folder (``a.jpg``, ``a.png``) is ``ambiguous``.
    """
    folders = {"pred": Path(pred), "target": Path(target)}
    if input is not None:
        folders["input"] = Path(input)
    found = {role: images_by_stem(folder) for role, folder in folders.items()}
    names = set().union(*(set(files) | set(dups) for files, dups in found.values()))
    entries, unmatched, ambiguous = [], [], []
    for name in sorted(names, key=natural_key):
        doubled = [p for _, dups in found.values() for p in dups.get(name, [])]
        if doubled:
            ambiguous.append(SkippedPair(name, "more than one file with this name: "
                                         + ", ".join(f"{p.parent.name}/{p.name}" for p in doubled)))
        elif all(name in files for files, _ in found.values()):
            entries.append((name, {role: files[name] for role, (files, _) in found.items()}))
        else:
            unmatched += [f"{folders[role].name}/{files[name].name}" for role, (files, _) in found.items()
                          if name in files]
    return Pairing(FilePairs(entries), unmatched, ambiguous)


# ---------------------------------------------------------------------------------------------------------------------
# Scoring


def timed_forward(model: GlassNet, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``model``'s final output for ``x`` ``(1, 3, H, W)`` in [-1, 1] (channels-last), and the seconds it took.

    Synchronises CUDA around the call, so the time is the forward pass alone.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    cuda = x.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model(x)[0]
    if cuda:
        torch.cuda.synchronize(x.device)
    return out, time.perf_counter() - start


def score_pairs(pairs: Dataset, scorer: Scorer, model: GlassNet | None = None, keep: int = 0,
                desc: str = "scoring") -> tuple[list[ImageScore], list[SkippedPair]]:
    """Score every item of ``pairs``, with a progress bar; a pair that fails is skipped, not fatal.

    Args:
        pairs: items ``{"name", "target", "input"?, "pred"?}`` of ``(H, W, 3)`` uint8 images. With
            ``model`` the output is ``model(input)``; without, the item's ``"pred"``. The identity
            baseline (input vs target) is scored whenever the item has an input.
        scorer: the metrics and their conventions.
        model: a generator (run in eval mode, channels-last, under ``torch.inference_mode`` on the
            scorer's device, after one untimed warm-up forward), or ``None``.
        keep: keep the grid panels (``[input,] output, target, error map``) of the first ``keep`` images.

    Returns:
        ``(scores, skipped)``: one :class:`ImageScore` per scored image, in order, and the skipped pairs.
        A :class:`BgganError` while reading or scoring an item (unreadable file, sizes that differ) skips it.
    """
    if model is not None:
        model = model.eval().to(scorer.device, memory_format=torch.channels_last)
    scores, skipped = [], []
    warm = model is None
    for i in tqdm(range(len(pairs)), desc=desc, unit="image"):
        try:
            item = pairs[i]
            x = to_tensor(item["input"]).to(scorer.device) if "input" in item else None
            seconds = None
            if model is not None:
                if not warm:
                    timed_forward(model, x)
                    warm = True
                out, seconds = timed_forward(model, x)
                pred_image = to_uint8(out.clamp(-1, 1))
            else:
                out, pred_image = to_tensor(item["pred"]), item["pred"]
            target = to_tensor(item["target"])
            record = ImageScore(item["name"], scorer(out, target), None if x is None else scorer(x, target), seconds)
        except BgganError as e:
            name = pairs.name(i) if hasattr(pairs, "name") else str(i)
            skipped.append(SkippedPair(name, str(e)))
            continue
        if len(scores) < keep:
            tiles = [pred_image, item["target"], error_map(pred_image, item["target"])]
            record.panels = [item["input"], *tiles] if "input" in item else tiles
        scores.append(record)
    return scores, skipped


def mean_metrics(scores: list[ImageScore], which: str = "model") -> Metrics | None:
    """Means over images of ``which`` (``"model"`` or ``"identity"``); LPIPS over the images that have it.

    ``None`` if no image has ``which``.
    """
    rows = [getattr(s, which) for s in scores if getattr(s, which) is not None]
    if not rows:
        return None
    lpips = [r.lpips for r in rows if r.lpips is not None]
    return Metrics(float(np.mean([r.psnr for r in rows])), float(np.mean([r.ssim for r in rows])),
                   float(np.mean(lpips)) if lpips else None)


def mean_seconds(scores: list[ImageScore]) -> float | None:
    """Mean model forward time per image, or ``None`` when no image was timed."""
    times = [s.seconds for s in scores if s.seconds is not None]
    return float(np.mean(times)) if times else None


# ---------------------------------------------------------------------------------------------------------------------
# Writers


def _number(value: float | None, digits: int) -> str:
    """``""`` for ``None``, ``"inf"`` for infinity, else ``digits`` decimals."""
    return "" if value is None else f"{value:.{digits}f}"


CSV_COLUMNS = ("name", "psnr", "ssim", "lpips", "seconds")
IDENTITY_COLUMNS = ("identity_psnr", "identity_ssim", "identity_lpips")


def csv_rows(scores: list[ImageScore]) -> list[list[str]]:
    """Header and one row per image: :data:`CSV_COLUMNS`, then :data:`IDENTITY_COLUMNS` if any image has an input.

    Empty cells: LPIPS not computed, no timing (predictions from files). PSNR may be ``inf``.
    """
    identity = any(s.identity is not None for s in scores)
    rows = [list(CSV_COLUMNS) + (list(IDENTITY_COLUMNS) if identity else [])]
    for s in scores:
        row = [s.name, _number(s.model.psnr, 4), _number(s.model.ssim, 6), _number(s.model.lpips, 6),
               _number(s.seconds, 6)]
        if identity:
            i = s.identity
            row += ["", "", ""] if i is None else [_number(i.psnr, 4), _number(i.ssim, 6), _number(i.lpips, 6)]
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
    return "\n".join(lines)


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
    lines += [f"{len(scores)} images scored, {len(skipped)} pairs skipped.", "", metrics_table(scores, label), "",
              f"- Conventions: {scorer.conventions()}.",
              f"- {lpips_note.rstrip('.')}.",
              (f"- Error map (grid.png): per-pixel mean absolute RGB difference of output vs target, full "
               f"brightness at {ERROR_FULL_SCALE} of the [0, 1] range (inferno-like colormap: black = 0)."),
              *(f"- {note.rstrip('.')}." for note in notes)]
    if skipped:
        lines += ["", "Skipped pairs:", *(f"- {s.name}: {s.reason}" for s in skipped)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# Pictures


def colorize(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in [0, 1] (clipped) -> ``(H, W, 3)`` uint8 in an inferno-like colormap (0 black, 1 pale yellow).

    Piecewise-linear between 9 anchors whose lightness rises monotonically, so brighter means larger.
    """
    t = np.clip(np.asarray(values, dtype=np.float64), 0, 1) * (len(_COLORMAP) - 1)
    low = np.minimum(t.astype(np.int64), len(_COLORMAP) - 2)
    frac = (t - low)[..., None]
    return np.round(_COLORMAP[low] * (1 - frac) + _COLORMAP[low + 1] * frac).astype(np.uint8)


def error_map(pred: np.ndarray, target: np.ndarray, full_scale: float = ERROR_FULL_SCALE) -> np.ndarray:
    """Per-pixel mean absolute RGB difference of two ``(H, W, 3)`` uint8 images, coloured: ``(H, W, 3)`` uint8.

    The difference is measured in [0, 1] units and divided by ``full_scale`` (0.25: a quarter of the
    range is full brightness; larger errors saturate), then :func:`colorize`d.
    """
    if pred.shape != target.shape:
        raise BgganError(f"error map of images of different sizes: {pred.shape} vs {target.shape}")
    diff = np.abs(pred.astype(np.float32) - target.astype(np.float32)).mean(axis=-1) / 255.0
    return colorize(diff / full_scale)


def resize_to_height(image: np.ndarray, height: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(height, round(W * height / H), 3)`` uint8 (Pillow, bicubic; no-op at ``height``)."""
    h, w = image.shape[:2]
    if h == height:
        return image
    size = (max(1, round(w * height / h)), height)
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def comparison_grid(rows: list[list[np.ndarray]], height: int = GRID_HEIGHT, gap: int = 4) -> np.ndarray:
    """Stack rows of ``(H, W, 3)`` uint8 tiles into one ``(H, W, 3)`` uint8 picture.

    Every tile is resized to ``height`` px (keeping its aspect ratio), tiles and rows are separated by
    ``gap`` px of white, and shorter rows are padded with white on the right. For ``R`` rows whose
    widest row has tiles of total width ``T`` and ``k`` tiles: ``(R * height + (R - 1) * gap,
    T + (k - 1) * gap, 3)``.
    """
    if not rows or not all(rows):
        raise ValueError("comparison_grid needs at least one row, each with at least one tile")
    strips = []
    for tiles in rows:
        parts = []
        for tile in (resize_to_height(t, height) for t in tiles):
            parts += [tile, np.full((height, gap, 3), 255, np.uint8)]
        strips.append(np.concatenate(parts[:-1], axis=1))
    width = max(s.shape[1] for s in strips)
    out = []
    for strip in strips:
        pad = np.full((height, width - strip.shape[1], 3), 255, np.uint8)
        out += [np.concatenate([strip, pad], axis=1), np.full((gap, width, 3), 255, np.uint8)]
    return np.concatenate(out[:-1], axis=0)
