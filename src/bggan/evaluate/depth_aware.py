"""A depth-aware generator measured beside the classical renderer given the same depth, true or as a phone gives it.

Two yardsticks (see the README, "Depth-aware rendering"):

- **held-out synthetic scenes**, where the lens's target exists: PSNR, SSIM and, per band of the target's circle of
  confusion, PSNR and detail kept against the target (:mod:`bggan.evaluate.bands`). The transition band (1-8 px,
  mostly depth edges) is where a phone's portrait mode shows halos;
- **real photographs with measured depth** (:mod:`bggan.data.middlebury`), which have no target: per band of the
  true defocus, the detail kept *relative to the photo* (1: as sharp as the photo, near 0: blurred away) in focus,
  out of focus in front of the focus and behind it, and the contrast in focus / behind. Pixels with no measured
  depth (and 4 px around them) are left out of every band.

Both renderers see the same depth: the true one (``clean``), each corruption of
:data:`bggan.data.depth_corruption.NAMED` alone, or a phone's mix of them (``phone``); the classical renderer is
:func:`bggan.data.depth_bokeh.render_with_depth` (``bggan-synth --image``), the model runs on the defocus map that
depth gives (:func:`bggan.data.depth_corruption.corrupted_coc`). The focus distance is the true one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import render_with_depth, signed_coc
from bggan.data.depth_corruption import NAMED, Corruption, PhoneDepth, corrupted_depth, low_resolution, quantize
from bggan.evaluate.bands import DEFAULT_BANDS, BandMetrics, band_metrics, mean_bands
from bggan.evaluate.metrics import Metrics, Scorer
from bggan.images import to_tensor, to_uint8
from bggan.models.glassnet import GlassNet

#: The depths both renderers are given, by name: the true one, each corruption alone, an 8x smaller map in 8 bits,
#: and a phone's mix (every sample corrupted).
DEPTHS: dict[str, Corruption | None] = {"clean": None, **NAMED,
                                        "8x_8_bit": lambda d, rng: quantize(low_resolution(d, 8), 8),
                                        "phone": PhoneDepth(clean=0.0)}
#: The random stream of a scene's corrupted depth: the same corruption for both renderers and every model.
_STREAM = 7
#: Bands of a real photo, by the true defocus: in focus, out of focus in front of the focus, behind it.
REAL_BANDS = ("in_focus", "front", "behind")

#: ``render(photo (H, W, 3) uint8, defocus (H, W) px) -> (H, W, 3) uint8``: a depth-aware model.
Render = Callable[[np.ndarray, np.ndarray], np.ndarray]


def model_renderer(model: GlassNet, device: str | torch.device = "cpu") -> Render:
    """A depth-aware generator as a :data:`Render`: the whole image at once, in eval mode, float32."""
    model = model.eval().to(device)

    @torch.inference_mode()
    def render(photo: np.ndarray, defocus: np.ndarray) -> np.ndarray:
        x = to_tensor(photo).to(device)
        c = torch.from_numpy(np.ascontiguousarray(defocus, dtype=np.float32))[None, None].to(device)
        return to_uint8(model(x, c)[0].clamp(-1, 1))

    return render


def given_depth(depth_m: np.ndarray, corruption: Corruption | None, seed: int | str) -> np.ndarray:
    """The depth a renderer is given: ``depth_m`` ``(H, W)`` metres after ``corruption``
    (:func:`~bggan.data.depth_corruption.corrupted_depth`), one fixed draw per ``seed``."""
    key = seed if isinstance(seed, int) else sum(seed.encode())
    return corrupted_depth(depth_m, corruption, np.random.default_rng([key, _STREAM]))


@dataclass(frozen=True)
class Scored:
    """Mean scores of one renderer over scenes: PSNR, SSIM (means) and per band (:func:`mean_bands`)."""

    psnr: float
    ssim: float
    bands: dict[str, BandMetrics]


def _mean(scores: list[Metrics]) -> Scored:
    return Scored(float(np.mean([min(s.psnr, 100.0) for s in scores])), float(np.mean([s.ssim for s in scores])),
                  mean_bands([s.bands for s in scores]))


#: The synthetic scenes' lens in the depth demo: 85 mm on APS-C (each sample brings its own f-number).
DEMO_LENS = Lens(focal_mm=85.0)


def synthetic_scores(render: Render, samples: Sequence[dict], depths: Sequence[str] = ("clean", "phone"),
                     lens: Lens = DEMO_LENS, highlight_gain: float = 1.0) -> dict[str, dict[str, Scored]]:
    """``{depth name: {"classical": Scored, "model": Scored}}`` on synthetic samples.

    Args:
        render: the model.
        samples: items of :class:`bggan.data.synthetic.SeedPairs` (``input``, ``target``, ``depth``, ``coc``,
            ``focus_m``, ``f_number``, ``name``); ``lens`` gives the focal length and sensor, each sample its
            f-number.
        depths: names of :data:`DEPTHS`.
        highlight_gain: the classical renderer's (``bggan-synth --highlights``; 1: as shot, its default).
    """
    scorer = Scorer()
    out = {}
    for name in depths:
        rows: dict[str, list[Metrics]] = {"classical": [], "model": []}
        for sample in samples:
            the_lens = dataclasses.replace(lens, f_number=sample["f_number"])
            depth = given_depth(sample["depth"], DEPTHS[name], int(sample["name"]))
            photo, focus = sample["input"], float(sample["focus_m"])
            target, coc = to_tensor(sample["target"]), torch.as_tensor(sample["coc"])[None, None]
            defocus = signed_coc(depth, focus, the_lens, photo.shape[1]).astype(np.float32)
            rows["model"].append(scorer(to_tensor(render(photo, defocus)), target, coc))
            classical = render_with_depth(photo, depth, focus, the_lens, highlight_gain=highlight_gain)
            rows["classical"].append(scorer(to_tensor(classical), target, coc))
        out[name] = {k: _mean(v) for k, v in rows.items()}
    return out


def synthetic_table(scores: dict[str, dict[str, Scored]], count: int) -> str:
    """:func:`synthetic_scores` as markdown: a row per depth and renderer, the model's transition gain last."""
    head = ("| depth given | renderer | PSNR | SSIM | in focus: PSNR, detail kept | transition | out of focus | "
            "transition gain |")
    lines = [f"{count} held-out synthetic scenes; PSNR in dB, detail kept against the target (1 is right)", "",
             head, "|---|---|---:|---:|---:|---:|---:|---:|"]

    def band(s: Scored, name: str) -> str:
        b = s.bands.get(name)
        if b is None:
            return "n/a"
        return ", ".join("n/a" if v is None else f"{v:.2f}" for v in (b.psnr, b.detail))

    for depth, pair in scores.items():
        for who in ("classical", "model"):
            s = pair[who]
            gain = ""
            if who == "model":
                gain = f"{transition_gain(pair):+.2f} dB"
            lines.append(f"| {depth} | {who} | {s.psnr:.2f} | {s.ssim:.4f} | {band(s, 'in_focus')} | "
                         f"{band(s, 'transition')} | {band(s, 'out_of_focus')} | {gain} |")
    return "\n".join(lines)


def transition_gain(pair: dict[str, Scored]) -> float:
    """The model's transition-band PSNR minus the classical renderer's (dB; nan without the band)."""
    model, classical = (pair[k].bands.get("transition") for k in ("model", "classical"))
    if model is None or classical is None or model.psnr is None or classical.psnr is None:
        return math.nan
    return model.psnr - classical.psnr


@dataclass(frozen=True)
class RealScore:
    """Detail kept relative to the photo per band of a real photo (:data:`REAL_BANDS`; None: too little of it)."""

    bands: dict[str, float | None]

    @property
    def contrast(self) -> float | None:
        """In focus over behind: how much sharper the subject stays than the background (None: not measurable)."""
        sharp, far = self.bands.get("in_focus"), self.bands.get("behind")
        if sharp is None or far is None:
            return None
        return sharp / far if far > 0 else math.inf


def real_bands(output: np.ndarray, photo: np.ndarray, true_coc: np.ndarray, known: np.ndarray) -> RealScore:
    """Detail kept relative to ``photo`` per band of ``true_coc`` ``(H, W)`` px; pixels where ``known`` is False
    (and 4 px around them) count in no band."""
    coc = torch.as_tensor(np.where(known, true_coc, np.nan).astype(np.float32))[None, None]
    out, ref = to_tensor(output), to_tensor(photo)
    kept = {}
    for band, sign in zip(REAL_BANDS, (0, -1, 1), strict=True):
        side = coc if sign == 0 else torch.where(torch.sign(coc) == sign, coc, torch.nan)
        metrics = band_metrics(out, ref, side, DEFAULT_BANDS)[0]
        kept[band] = metrics["in_focus" if sign == 0 else "out_of_focus"].detail
    return RealScore(kept)


def real_scores(render: Render, photo: np.ndarray, depth_m: np.ndarray, known: np.ndarray, focus_m: float,
                lens: Lens, depths: Sequence[str] = tuple(DEPTHS), key: str = "real"
                ) -> dict[str, dict[str, tuple[RealScore, np.ndarray]]]:
    """``{depth name: {"classical" | "model": (RealScore, output image)}}`` on one real photo.

    ``depth_m`` ``(H, W)`` is the measured depth with its holes filled; the bands are the true defocus of
    ``lens`` focused at ``focus_m``, counted where ``known``.
    """
    width = photo.shape[1]
    true_coc = signed_coc(depth_m, focus_m, lens, width)
    out = {}
    for name in depths:
        depth = given_depth(depth_m, DEPTHS[name], key)
        model = render(photo, signed_coc(depth, focus_m, lens, width).astype(np.float32))
        classical = render_with_depth(photo, depth, focus_m, lens)
        out[name] = {"classical": (real_bands(classical, photo, true_coc, known), classical),
                     "model": (real_bands(model, photo, true_coc, known), model)}
    return out


def real_table(scores: dict[str, dict[str, tuple[RealScore, np.ndarray]]], title: str) -> str:
    """:func:`real_scores` as markdown: detail kept relative to the photo per band, and the contrast."""
    def show(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = [title, "", "| depth given | renderer | in focus | out of focus, in front | behind | contrast |",
             "|---|---|---:|---:|---:|---:|"]
    for depth, pair in scores.items():
        for who in ("classical", "model"):
            s = pair[who][0]
            contrast = s.contrast
            lines.append(f"| {depth} | {who} | {show(s.bands['in_focus'])} | {show(s.bands['front'])} | "
                         f"{show(s.bands['behind'])} | {'n/a' if contrast is None else f'{contrast:.1f}'} |")
    return "\n".join(lines)



#: A measured aim: ``(what, measured, wanted, met)``.
Aim = tuple[str, float | None, str, bool]


def synthetic_aims(scores: dict[str, dict[str, Scored]], depth: str = "phone") -> list[Aim]:
    """The aims on held-out synthetic scenes with a corrupted depth (``depth``): the model at least 1.5 dB over the
    classical renderer in the transition band, not worse overall, detail kept in [0.9, 1.2] in focus and in
    [0.5, 2] out of focus."""
    pair = scores[depth]
    model, classical = pair["model"], pair["classical"]
    gain = transition_gain(pair)
    in_focus, out_focus = (model.bands[b].detail if b in model.bands else None for b in ("in_focus", "out_of_focus"))
    return [
        (f"{depth} depth: transition PSNR over the classical renderer's (dB)", gain, ">= 1.5",
         not math.isnan(gain) and gain >= 1.5),
        (f"{depth} depth: PSNR over the classical renderer's (dB)", model.psnr - classical.psnr, ">= 0",
         model.psnr >= classical.psnr),
        (f"{depth} depth: in-focus detail kept", in_focus, "0.9-1.2", in_focus is not None and 0.9 <= in_focus <= 1.2),
        (f"{depth} depth: out-of-focus detail kept", out_focus, "0.5-2",
         out_focus is not None and 0.5 <= out_focus <= 2),
    ]


def real_aims(scores: dict[str, dict[str, tuple[RealScore, np.ndarray]]], degraded: str = "8x_8_bit") -> list[Aim]:
    """The aims on a real photo: with the true depth, the subject band at least 0.8 of the classical renderer's, the
    band behind at most 3x the classical's (or at most 0.1), a contrast of at least 5; with ``degraded`` depth, the
    subject at least 0.7 of the classical renderer's with the true depth, a contrast of at least 4."""
    clean, classical = scores["clean"]["model"][0], scores["clean"]["classical"][0]
    worse = scores[degraded]["model"][0]

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    subject, far = ratio(clean.bands["in_focus"], classical.bands["in_focus"]), clean.bands["behind"]
    far_ratio = ratio(far, classical.bands["behind"])
    subject_worse = ratio(worse.bands["in_focus"], classical.bands["in_focus"])
    return [
        ("true depth: in focus, over the classical renderer's", subject, ">= 0.8",
         subject is not None and subject >= 0.8),
        ("true depth: behind, over the classical renderer's", far_ratio, "<= 3 (or <= 0.1 itself)",
         far is not None and (far <= 0.1 or (far_ratio is not None and far_ratio <= 3))),
        ("true depth: contrast in focus / behind", clean.contrast, ">= 5",
         clean.contrast is not None and clean.contrast >= 5),
        (f"{degraded} depth: in focus, over the classical renderer's with the true depth", subject_worse, ">= 0.7",
         subject_worse is not None and subject_worse >= 0.7),
        (f"{degraded} depth: contrast", worse.contrast, ">= 4", worse.contrast is not None and worse.contrast >= 4),
    ]


def aims_table(aims: list[Aim]) -> str:
    """Markdown: one row per aim, measured against wanted."""
    lines = ["| aim | measured | wanted | met |", "|---|---:|---|---|"]
    for what, value, wanted, met in aims:
        shown = "n/a" if value is None else f"{value:.3g}"
        lines.append(f"| {what} | {shown} | {wanted} | {'yes' if met else 'NO'} |")
    return "\n".join(lines)
