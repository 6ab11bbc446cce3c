"""Scoring a generator (or images already rendered) on pairs, one :class:`ImageScore` per image."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from bggan.allocator import freed_memory_kept
from bggan.errors import BgganError
from bggan.evaluate.bands import mean_bands
from bggan.evaluate.grids import band_picture, error_map
from bggan.evaluate.metrics import Metrics, Scorer
from bggan.evaluate.pairs import SkippedPair
from bggan.images import to_tensor, to_uint8
from bggan.models.condition import strength_for
from bggan.models.glassnet import GlassNet
from bggan.models.winograd import to_winograd
from bggan.progress import progress


@dataclass
class ImageScore:
    """The scores of one image: the model's output (or a given prediction), and the identity baseline if known.

    ``seconds`` is the model's forward time (``None`` for predictions read from files); ``f_number`` the target's
    aperture when the pair carries it; ``panels`` holds the images for :func:`comparison_grid` (``[input,] output,
    target, error map``) when they were kept.
    """

    name: str
    model: Metrics
    identity: Metrics | None = None
    seconds: float | None = None
    f_number: float | None = None
    panels: list[np.ndarray] | None = field(default=None, repr=False, compare=False)


def timed_forward(model: GlassNet, x: torch.Tensor, strength: float | None = None) -> tuple[torch.Tensor, float]:
    """``model``'s final output for ``x`` ``(1, 3, H, W)`` in [-1, 1] (channels-last) at ``strength`` (a model with
    the aperture as an input, :mod:`bggan.models.condition`), and the seconds it took.

    Synchronises CUDA around the call, so the time is the forward pass alone; on the CPU glibc keeps the memory
    the forward frees (:func:`bggan.allocator.freed_memory_kept`), as ``bggan-render`` does.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    cuda = x.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    with freed_memory_kept(), torch.inference_mode():
        out = model(x, strength)[0]
    if cuda:
        torch.cuda.synchronize(x.device)
    return out, time.perf_counter() - start


def score_pairs(pairs: Dataset, scorer: Scorer, model: GlassNet | None = None, keep: int = 0,
                desc: str = "scoring") -> tuple[list[ImageScore], list[SkippedPair]]:
    """Score every item of ``pairs``, with a progress bar; a pair that fails is skipped, not fatal.

    Args:
        pairs: items ``{"name", "target", "input"?, "pred"?, "coc"?, "f_number"?}`` of ``(H, W, 3)`` uint8 images.
            With ``model`` the output is ``model(input)`` (at the item's f-number for a model with the aperture as
            an input: an item without one is skipped); without, the item's ``"pred"``. The identity
            baseline (input vs target) is scored whenever the item has an input; the per-band numbers
            whenever it has the target's signed circle of confusion ``"coc"``, ``(H, W)`` float px.
        scorer: the metrics and their conventions.
        model: a generator (run in eval mode, channels-last, under ``torch.inference_mode`` on the
            scorer's device, after one untimed warm-up forward; on the CPU with Winograd convolutions as
            ``bggan-render`` runs it, :mod:`bggan.models.winograd`), or ``None``.
        keep: keep the grid panels (``[input,] output, target, error map[, CoC bands]``) of the first ``keep``
            images.

    Returns:
        ``(scores, skipped)``: one :class:`ImageScore` per scored image, in order, and the skipped pairs.
        A :class:`BgganError` while reading or scoring an item (unreadable file, sizes that differ) skips it.
    """
    if model is not None:
        model = model.eval().to(scorer.device, memory_format=torch.channels_last)
        if scorer.device.type == "cpu":
            model = to_winograd(model)  # a copy, as bggan-render runs it
    scores, skipped = [], []
    warm = model is None
    for i in progress(range(len(pairs)), desc=desc, unit="image"):
        try:
            item = pairs[i]
            x = to_tensor(item["input"]).to(scorer.device) if "input" in item else None
            seconds, f_number = None, item.get("f_number")
            if model is not None:
                strength = None
                if model.takes_aperture:
                    if f_number is None:
                        raise BgganError("the pair carries no f-number, which this generator takes as an input")
                    strength = strength_for(f_number)
                if not warm:
                    timed_forward(model, x, strength)
                    warm = True
                out, seconds = timed_forward(model, x, strength)
                pred_image = to_uint8(out.clamp(-1, 1))
            else:
                out, pred_image = to_tensor(item["pred"]), item["pred"]
            target = to_tensor(item["target"])
            coc = torch.as_tensor(item["coc"], dtype=torch.float32)[None, None] if item.get("coc") is not None \
                else None
            record = ImageScore(item["name"], scorer(out, target, coc),
                                None if x is None else scorer(x, target, coc), seconds, f_number)
        except BgganError as e:
            name = pairs.name(i) if hasattr(pairs, "name") else str(i)
            skipped.append(SkippedPair(name, str(e)))
            continue
        if len(scores) < keep:
            tiles = [pred_image, item["target"], error_map(pred_image, item["target"])]
            if coc is not None:
                tiles.append(band_picture(item["coc"]))
            record.panels = [item["input"], *tiles] if "input" in item else tiles
        scores.append(record)
    return scores, skipped


def mean_metrics(scores: list[ImageScore], which: str = "model") -> Metrics | None:
    """Means over images of ``which`` (``"model"`` or ``"identity"``); LPIPS and the per-band numbers over the
    images that have them.

    ``None`` if no image has ``which``.
    """
    rows = [getattr(s, which) for s in scores if getattr(s, which) is not None]
    if not rows:
        return None
    lpips = [r.lpips for r in rows if r.lpips is not None]
    bands = [r.bands for r in rows if r.bands is not None]
    return Metrics(float(np.mean([r.psnr for r in rows])), float(np.mean([r.ssim for r in rows])),
                   float(np.mean(lpips)) if lpips else None, mean_bands(bands) if bands else None)


def mean_seconds(scores: list[ImageScore]) -> float | None:
    """Mean model forward time per image, or ``None`` when no image was timed."""
    times = [s.seconds for s in scores if s.seconds is not None]
    return float(np.mean(times)) if times else None
