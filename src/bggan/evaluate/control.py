"""The aperture control measured: how much a model with the aperture as an input blurs at each f-number asked for.

For each scene of a sweep, the model renders the same photo at every f-number of the sweep (strength
``1.8 / N``, 0 for "no blur", :mod:`bggan.models.condition`), and each output is measured three ways:

- **blur** where the background is: the out-of-focus **detail kept relative to the photo**, ``E(output) / E(input)``
  in the out-of-focus band (:mod:`bggan.evaluate.bands`: the band-passed Laplacian energy, median over scenes).
  1 is as sharp as the photo; the lens's own target at the same f-number is measured the same way, so the
  model's curve can be read against the physics. The bands come from the circle of confusion at the sweep's
  widest aperture, so they are the same pixels at every f-number (the CoC scales with ``1 / N``);
- **the subject**: the in-focus detail kept against the target (near 1: sharp);
- **fidelity**: PSNR and SSIM against the target at that f-number, and PSNR against the photo (at "no blur" the
  output should be the photo).

:class:`ControlCurve` checks the three aims of the control: a rank correlation (Spearman) of at least 0.9 between
the strength asked for and the blur measured (``1 - detail``), at least 35 dB against the photo at "no blur", and
in-focus detail kept of at least 0.7 at every f-number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bggan.data.synthetic import DefocusInput
from bggan.evaluate.bands import DEFAULT_BANDS, CocBands, band_metrics
from bggan.evaluate.metrics import Scorer
from bggan.images import to_tensor
from bggan.models.condition import STRIP_F_NUMBERS, strength_for

#: The sweep of f-numbers by default: no blur, then f/16 to f/1.4.
DEFAULT_SWEEP = (math.inf, *STRIP_F_NUMBERS)
#: The aims: rank correlation, PSNR (dB) against the photo at no blur, in-focus detail kept at every f-number.
MIN_RANK_CORRELATION, MIN_NO_BLUR_PSNR, MIN_IN_FOCUS = 0.9, 35.0, 0.7

@dataclass(frozen=True)
class SweepScene:
    """One scene of a sweep: the photo, its target at each f-number, and the CoC at the widest aperture.

    ``photo`` and each of ``targets[f_number]`` are ``(H, W, 3)`` uint8; ``coc`` ``(H, W)`` float32 px, signed.
    ``defocus``, for a depth-aware model: the defocus map it is given at the widest aperture (``(H, W)`` px, from the
    true depth or a corrupted one); at f-number ``N`` it is scaled by ``widest / N``, as the CoC is.
    """

    name: str
    photo: np.ndarray
    targets: dict[float, np.ndarray]
    coc: np.ndarray
    defocus: np.ndarray | None = None


#: ``render(x, strength, scene)``: photos ``(B, 3, H, W)`` in [-1, 1] (the scene's photo repeated), strengths ``(B,)``
#: -> outputs, same shape and range.
Render = Callable[[torch.Tensor, torch.Tensor, SweepScene], torch.Tensor]


@dataclass(frozen=True)
class ControlPoint:
    """One f-number of the sweep, over its scenes: medians of the detail values, means of PSNR and SSIM."""

    f_number: float
    strength: float
    blur_model: float | None  #: out-of-focus detail kept relative to the photo, the model's output (1: as sharp)
    blur_target: float | None  #: the same for the lens's target
    in_focus: float | None  #: in-focus detail kept against the target
    psnr: float
    ssim: float
    psnr_vs_photo: float


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (ties get their mean rank); nan if one is constant."""
    ra, rb = _ranks(a), _ranks(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: Sequence[float]) -> np.ndarray:
    values = np.asarray(values, np.float64)
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):
        ranks[values == v] = ranks[values == v].mean()
    return ranks


@dataclass
class ControlCurve:
    """The sweep's points, in the order of the sweep, and the aims of the control."""

    points: list[ControlPoint]
    scenes: int

    def rank_correlation(self, which: str = "model") -> float:
        """Spearman's correlation between the strength asked for and the blur measured, ``1 - detail`` (points with
        a value only)."""
        pairs = [(p.strength, 1 - getattr(p, f"blur_{which}")) for p in self.points
                 if getattr(p, f"blur_{which}") is not None]
        return spearman(*zip(*pairs, strict=True)) if len(pairs) > 1 else math.nan

    def no_blur_psnr(self) -> float | None:
        """PSNR against the photo at strength 0 (``None`` when the sweep has no "no blur" point)."""
        return next((p.psnr_vs_photo for p in self.points if p.strength == 0), None)

    def aims(self) -> list[tuple[str, float | None, str, bool]]:
        """``(what, measured, aim, met)`` for the three aims (see the module docstring)."""
        rank, no_blur = self.rank_correlation(), self.no_blur_psnr()
        in_focus = [p.in_focus for p in self.points if p.in_focus is not None]
        worst = min(in_focus) if in_focus else None
        return [
            ("rank correlation, strength vs blur", rank, f">= {MIN_RANK_CORRELATION}",
             not math.isnan(rank) and rank >= MIN_RANK_CORRELATION),
            ("PSNR vs the photo at no blur (dB)", no_blur, f">= {MIN_NO_BLUR_PSNR:g}",
             no_blur is not None and no_blur >= MIN_NO_BLUR_PSNR),
            ("in-focus detail kept, lowest over f-numbers", worst, f">= {MIN_IN_FOCUS}",
             worst is not None and worst >= MIN_IN_FOCUS),
        ]

    def passed(self) -> bool:
        return all(met for *_, met in self.aims())

    def csv_rows(self) -> list[list[str]]:
        """Header and one row per f-number (``inf`` for no blur; empty cells: not measurable)."""
        keys = ("f_number", "strength", "blur_model", "blur_target", "in_focus", "psnr", "ssim", "psnr_vs_photo")
        return [list(keys)] + [["" if getattr(p, k) is None else f"{getattr(p, k):.6g}" for k in keys]
                               for p in self.points]

    def table(self) -> str:
        """The curve and the aims as markdown."""
        def show(v: float | None, fmt: str = ".3f") -> str:
            return "n/a" if v is None else f"{v:{fmt}}"

        head = ("| f-number | strength | out-of-focus detail vs photo: model | target | in-focus kept | PSNR | SSIM "
                "| PSNR vs photo |")
        lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for p in self.points:
            name = "no blur" if math.isinf(p.f_number) else f"f/{p.f_number:g}"
            lines.append(f"| {name} | {p.strength:.3f} | {show(p.blur_model)} | {show(p.blur_target)} | "
                         f"{show(p.in_focus)} | {p.psnr:.2f} | {p.ssim:.4f} | {p.psnr_vs_photo:.2f} |")
        note = f"{self.scenes} held-out scenes; the target's own rank correlation: {self.rank_correlation('target'):.3f}"
        lines += ["", note, "", "| aim | measured | wanted | met |", "|---|---:|---:|---|"]
        lines += [f"| {what} | {show(v)} | {want} | {'yes' if ok else 'NO'} |" for what, v, want, ok in self.aims()]
        return "\n".join(lines)


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


@torch.inference_mode()
def control_curve(render: Render, scenes: Sequence[SweepScene], f_numbers: Sequence[float] = DEFAULT_SWEEP,
                  bands: CocBands = DEFAULT_BANDS, device: str | torch.device = "cpu") -> ControlCurve:
    """Measure ``render`` at every f-number of ``f_numbers`` on every scene (see the module docstring).

    Args:
        render: the model, ``(photos, strengths, scene) -> outputs`` (:data:`Render`); called once per scene with the
            photo repeated for every f-number.
        scenes: photos with their targets at every f-number of ``f_numbers`` (``inf``: the photo itself).
        bands: the CoC bands (default: in focus < 1 px, out of focus > 8 px).
    """
    scorer = Scorer(device=device, bands=bands)
    strengths = torch.tensor([strength_for(f) for f in f_numbers], dtype=torch.float32, device=device)
    rows: dict[float, list[dict]] = {f: [] for f in f_numbers}
    for scene in scenes:
        photo = to_tensor(scene.photo).to(device)
        outputs = render(photo.expand(len(f_numbers), -1, -1, -1), strengths, scene).float().clamp(-1, 1)
        coc = torch.as_tensor(scene.coc, dtype=torch.float32, device=device)[None, None]
        for f, out in zip(f_numbers, outputs, strict=True):
            out, target = out[None], to_tensor(scene.targets[f]).to(device)
            vs_target = scorer(out, target, coc)
            rows[f].append({"blur_model": band_metrics(out, photo, coc, bands)[0]["out_of_focus"].detail,
                            "blur_target": band_metrics(target, photo, coc, bands)[0]["out_of_focus"].detail,
                            "in_focus": vs_target.bands["in_focus"].detail,
                            "psnr": vs_target.psnr, "ssim": vs_target.ssim,
                            "psnr_vs_photo": scorer(out, photo).psnr})
    points = [ControlPoint(f, strength_for(f), *(_median([r[k] for r in rows[f]])
                                                  for k in ("blur_model", "blur_target", "in_focus")),
                           *(float(np.mean([min(r[k], 100.0) for r in rows[f]]))
                             for k in ("psnr", "ssim", "psnr_vs_photo")))
              for f in f_numbers]
    return ControlCurve(points, len(scenes))


def synthetic_sweep(seeds: Sequence[int], size: tuple[int, int], f_numbers: Sequence[float] = DEFAULT_SWEEP,
                    focal_mm: float = 50.0, textures: str | None = None, defocus: DefocusInput | None = None
                    ) -> list[SweepScene]:
    """Synthetic scenes (:func:`bggan.data.synthetic.render_sample`) with their targets at every f-number (the
    same scene and focus at each: only the lens changes) and the CoC at the widest aperture; with ``defocus``, the
    defocus map a depth-aware model is given there (from the true depth, or its corruption fixed per seed)."""
    from bggan.data.defocus import Lens
    from bggan.data.synthetic import render_sample

    finite = [f for f in f_numbers if not math.isinf(f)]
    widest = min(finite) if finite else Lens().f_number
    scenes = []
    for seed in seeds:
        lens = Lens(focal_mm=focal_mm, f_number=widest)
        samples = {f: render_sample(seed, *size, lens=Lens(focal_mm=focal_mm, f_number=f), textures=textures)
                   for f in {*f_numbers, widest}}
        given = None if defocus is None else defocus(seed, samples[widest], lens)
        scenes.append(SweepScene(str(seed), samples[widest]["input"],
                                 {f: samples[f]["target"] for f in f_numbers}, samples[widest]["coc"], given))
    return scenes


def defocus_at(scene: SweepScene, strengths: torch.Tensor, f_numbers: Sequence[float]) -> torch.Tensor:
    """The defocus maps ``(B, 1, H, W)`` a depth-aware model is given at ``strengths`` ``(B,)``: the scene's map at
    the sweep's widest aperture scaled by ``strength / widest strength`` (0 for no blur)."""
    widest = strength_for(min(f for f in f_numbers if not math.isinf(f)))
    given = torch.as_tensor(scene.defocus, dtype=strengths.dtype, device=strengths.device)
    return given[None, None] * (strengths / widest).view(-1, 1, 1, 1)
