"""Synthetic bokeh pairs: scenes cut from real photographs (:mod:`bggan.data.scenes`), rendered all in
focus and through a thin lens, with the depth and circle of confusion of every pixel.

:func:`render_sample` turns a seed into ``{"input", "target", "depth", "coc", "focus_m", "f_number"}``; the
same seed (and texture set) always gives the same sample. :class:`SyntheticPairs` serves them as a training
source, every pair at one aperture or each at its own (:func:`aperture_for`), labelled with it, focused on the
subject or elsewhere (:class:`Refocus`), and for a depth-aware model with the defocus map a renderer would compute
from the depth, true or as a phone delivers it (:mod:`bggan.data.depth_corruption`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from bggan.data.defocus import Lens
from bggan.data.depth_corruption import PhoneDepth, corrupted_coc
from bggan.data.scenes import SKY_M, default_textures, random_scene
from bggan.data.textures import Textures
from bggan.errors import BgganError
from bggan.models.condition import strength_for
from bggan.progress import progress as progress_bar

#: The second random stream of a seed, for its aperture: a scene is the same at every aperture.
_APERTURE_STREAM = 1
#: The third, for where its lens focuses (:class:`Refocus`); the fourth, for its validation depth's corruption.
_FOCUS_STREAM, _DEPTH_STREAM = 2, 3


@functools.lru_cache(maxsize=4)
def textures_for(folder: str | None) -> Textures:
    """The texture set of ``folder`` (``None``: scikit-image's photos), one per process."""
    return default_textures() if folder is None else Textures(folder)


@dataclasses.dataclass(frozen=True)
class Refocus:
    """Where the lens of pair ``seed`` focuses: on the subject, or with probability ``share`` at the depth of a random
    pixel that is not sky (mostly the ground and the backdrop, sometimes an object in front of the subject or behind
    it). Drawn from the seed's own third random stream: the scene and its aperture do not change.

    Called as :data:`bggan.data.scenes.FocusChoice`: ``(depth (H, W) m, the subject's distance m) -> metres``.
    """

    seed: int
    share: float

    def __call__(self, depth: np.ndarray, subject_m: float) -> float:
        rng = np.random.default_rng([self.seed, _FOCUS_STREAM])
        if rng.random() >= self.share:
            return subject_m
        solid = depth[depth < SKY_M / 2]
        return subject_m if solid.size == 0 else float(solid[rng.integers(solid.size)])


def render_sample(seed: int, height: int = 512, width: int = 768, lens: Lens | None = None,
                  textures: str | None = None, refocus: float = 0.0) -> dict[str, np.ndarray]:
    """One synthetic sample for ``seed``; with ``refocus``, the share of seeds focused elsewhere than on the subject
    (:class:`Refocus`).

    Returns:
        ``input`` (all in focus) and ``target`` (through ``lens``, default 50 mm f/1.8 on APS-C), each
        ``(H, W, 3)`` uint8 sRGB; ``depth`` ``(H, W)`` float32 metres of what each pixel shows in the
        input; ``coc`` ``(H, W)`` float32, the target's signed circle of confusion in px (negative in
        front of the focal plane); ``focus_m``, the focus distance; ``f_number``, the lens's. A lens at
        ``f_number=inf`` is "no blur": the target is the input and the CoC is 0.
    """
    lens = lens or Lens()
    scene = random_scene(seed, height, width, lens, textures_for(textures), Refocus(seed, refocus) if refocus else None)
    sharp = scene.render(defocus=False)
    if math.isinf(lens.f_number):
        target, coc = sharp.copy(), np.zeros(sharp.shape[:2], np.float32)
    else:
        target, coc = scene.render(defocus=True), scene.coc()
    return {"input": sharp, "target": target, "depth": scene.depth, "coc": coc, "focus_m": scene.focus_m,
            "f_number": float(lens.f_number)}


def check_apertures(apertures: Sequence[float] | None, no_blur: float, names: tuple[str, str] = ("apertures", "no_blur")
                    ) -> tuple[float, float] | None:
    """``apertures`` as ``(lowest, highest)`` (or None), after checking both settings; ``names`` are the option names
    the messages use (the config keys, or a command's flags).

    Raises:
        BgganError: not two f-numbers with ``0 < lowest <= highest``, or a ``no_blur`` share outside [0, 1] or
            without ``apertures``.
    """
    if apertures is not None and (len(apertures) != 2 or not 0 < apertures[0] <= apertures[1] < math.inf):
        raise BgganError(f"{names[0]}: [lowest, highest] f-numbers with 0 < lowest <= highest, got {list(apertures)}")
    if not 0 <= no_blur <= 1 or (no_blur and apertures is None):
        raise BgganError(f"{names[1]} is a share in [0, 1] and goes with {names[0]}, got {no_blur}")
    return None if apertures is None else (float(apertures[0]), float(apertures[1]))


def aperture_for(seed: int, apertures: tuple[float, float], no_blur: float = 0.0) -> float:
    """The f-number of pair ``seed``: log-uniform over ``apertures`` (lowest, highest), or ``inf`` ("no blur")
    with probability ``no_blur``. Drawn from the seed's own second stream, so the scene does not change."""
    rng = np.random.default_rng([seed, _APERTURE_STREAM])
    if rng.random() < no_blur:
        return math.inf
    low, high = apertures
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def render_pair(seed: int, height: int = 512, width: int = 768,
                lens: Lens | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(sharp, bokeh)``, each ``(H, W, 3)`` uint8 sRGB, for one seed (:func:`render_sample` without its maps)."""
    sample = render_sample(seed, height, width, lens)
    return sample["input"], sample["target"]


def render_pairs(seeds: Sequence[int], size: tuple[int, int], workers: int | None = None, progress: bool = True,
                 desc: str = "synthetic pairs", textures: str | None = None,
                 lens: Lens | Callable[[int], Lens] | None = None, refocus: float = 0.0
                 ) -> Iterator[tuple[int, dict]]:
    """``(seed, sample)`` (:func:`render_sample`) for each seed, in order, rendered by ``workers`` processes
    with a progress bar, through ``lens`` (one for all, or seed -> lens, e.g. :class:`ApertureLenses`), ``refocus``
    of them focused elsewhere than on the subject.

    ``workers=None`` uses one process per core, or this process alone when the whole job is
    small enough (about a second) that starting processes would cost more.
    """
    if workers is None:
        workers = 1 if len(seeds) * size[0] * size[1] <= 4 * 512 * 768 else os.cpu_count() or 1
    workers = max(1, min(workers, len(seeds)))
    render = functools.partial(_render_seed, size=size, textures=textures, lens=lens, refocus=refocus)
    with progress_bar(total=len(seeds), unit="pair", desc=desc, disable=not progress) as bar:
        if workers == 1:
            for seed in seeds:
                yield seed, render(seed)
                bar.update()
            return
        # spawn, not fork: the parent's torch thread pools do not survive a fork safely
        with multiprocessing.get_context("spawn").Pool(workers, initializer=torch.set_num_threads,
                                                       initargs=(1,)) as pool:
            for seed, sample in zip(seeds, pool.imap(render, seeds), strict=True):
                yield seed, sample
                bar.update()


def _render_seed(seed: int, size: tuple[int, int], textures: str | None, lens: Lens | Callable[[int], Lens] | None,
                 refocus: float = 0.0) -> dict:
    return render_sample(seed, *size, lens=_lens_of(lens, seed), textures=textures, refocus=refocus)


def _lens_of(lens: Lens | Callable[[int], Lens] | None, seed: int) -> Lens:
    return lens(seed) if callable(lens) else lens or Lens()


class SyntheticPairs:
    """The embedded default data: ``n`` synthetic pairs, seeds ``seed .. seed+n-1``.

    A drop-in for :class:`bggan.data.PairedImages`: :meth:`split` gives ``(train, validation)``
    datasets of ``{"name", "input", "target", "depth", "coc", "focus_m", "f_number", "strength"}``
    (:func:`render_sample`; ``strength`` is ``1.8 / f_number``, :func:`bggan.models.condition.strength_for`); the
    last ``holdout`` seeds are the validation pairs.

    Args:
        n: pairs in all.
        size: ``(H, W)`` of each rendered pair.
        seed: the first seed.
        holdout: pairs held out for validation.
        cache: render every pair once, up front and in parallel, and keep them in memory
            (``n * H * W * 10`` bytes, the maps as float16: 790 MB for 200 pairs at 512x768; loader
            workers share the pages). Otherwise each item is rendered when it is read, every epoch.
        workers: processes for the up-front rendering (see :func:`render_pairs`).
        textures: a folder of photos to texture the scenes with (``None``: scikit-image's photos).
        focal_mm, f_number: the lens the targets are seen through, on an APS-C sensor (default: EBB!'s
            50 mm f/1.8). A longer or faster lens blurs more; small pairs need that for their backgrounds
            to be blurred by as many pixels as a full-size photo's.
        apertures: ``[lowest, highest]`` f-numbers: each pair at its own, log-uniform (:func:`aperture_for`),
            instead of every pair at ``f_number``; for a model with the aperture as an input.
        no_blur: with ``apertures``, the share of pairs with no blur at all (target = input, f-number ``inf``,
            strength 0).
        refocus: the share of pairs whose lens focuses elsewhere than on the subject (:class:`Refocus`): a
            depth-aware model must render any focus, not guess the subject.
        depth_input: every item also carries ``"defocus"``, the signed circle of confusion ``(H, W)`` px that a
            renderer computes from the pair's depth map (:func:`bggan.data.depth_corruption.corrupted_coc`): the
            input of a depth-aware generator (``GlassNet(condition="defocus")``); its target stays the true one.
        phone_depth: with ``depth_input``, that depth map as a phone delivers it (a random mix of corruptions per
            read in training, one fixed per seed in validation); ``None``: the true depth.
    """

    def __init__(self, n: int = 200, size: tuple[int, int] = (512, 768), seed: int = 0, holdout: int = 16,
                 cache: bool = True, workers: int | None = None, textures: str | None = None,
                 focal_mm: float = 50.0, f_number: float = 1.8, apertures: Sequence[float] | None = None,
                 no_blur: float = 0.0, refocus: float = 0.0, depth_input: bool = False,
                 phone_depth: PhoneDepth | None = None):
        if n < 1 or not 0 <= holdout < n:
            raise BgganError(f"need n >= 1 and 0 <= holdout < n, got n={n}, holdout={holdout}")
        if focal_mm <= 0 or f_number <= 0:
            raise BgganError(f"need focal_mm > 0 and f_number > 0, got {focal_mm}, {f_number}")
        self.n, self.size, self.seed, self.holdout = n, (int(size[0]), int(size[1])), seed, holdout
        self.cache, self.workers, self.textures = cache, workers, textures
        self.lens = Lens(focal_mm=focal_mm, f_number=f_number)
        self.apertures = check_apertures(apertures, no_blur)
        self.no_blur = float(no_blur)
        if not 0 <= refocus <= 1:
            raise BgganError(f"refocus is a share in [0, 1], got {refocus}")
        if phone_depth is not None and not depth_input:
            raise BgganError("phone_depth corrupts the depth input: it goes with depth_input=true")
        self.refocus, self.depth_input, self.phone_depth = float(refocus), bool(depth_input), phone_depth
        self._rendered: dict[int, dict] | None = None
        textures_for(textures)  # a missing folder or scikit-image: one clear error now, not in a worker

    @property
    def lenses(self) -> Lens | ApertureLenses:
        """The lens of every pair, or of each seed (:class:`ApertureLenses`) with per-pair apertures."""
        return self.lens if self.apertures is None else ApertureLenses(self.lens, self.apertures, self.no_blur)

    def summary(self) -> str:
        aperture = (f"f/{self.lens.f_number:g}" if self.apertures is None else
                    f"f/{self.apertures[0]:g}-f/{self.apertures[1]:g} per pair (log-uniform"
                    + (f", {self.no_blur:.0%} no blur)" if self.no_blur else ")"))
        focus = f"; {self.refocus:.0%} focused elsewhere than on the subject" if self.refocus else ""
        depth = ("" if not self.depth_input else "; the defocus map as an input, from "
                 + ("the true depth" if self.phone_depth is None else "the depth as a phone delivers it"))
        return (f"synthetic pairs: {self.n} at {self.size[0]}x{self.size[1]}, seeds {self.seed}.."
                f"{self.seed + self.n - 1}; {self.n - self.holdout} training, {self.holdout} validation; "
                f"{self.lens.focal_mm:g} mm {aperture}{focus}{depth}; {textures_for(self.textures).describe()}")

    def _pairs(self, seeds: range, rendered: dict[int, dict] | None, random: bool) -> SeedPairs:
        defocus = DefocusInput(self.phone_depth, random) if self.depth_input else None
        return SeedPairs(seeds, self.size, rendered, self.textures, self.lenses, self.refocus, defocus)

    def split(self) -> tuple[SeedPairs, SeedPairs]:
        seeds = range(self.seed, self.seed + self.n)
        if self.cache and self._rendered is None:
            self._rendered = {seed: _compact(sample) for seed, sample in
                              render_pairs(seeds, self.size, self.workers, desc="rendering synthetic pairs",
                                           textures=self.textures, lens=self.lenses, refocus=self.refocus)}
        cut = self.n - self.holdout
        return self._pairs(seeds[:cut], self._rendered, random=True), \
            self._pairs(seeds[cut:], self._rendered, random=False)

    def unseen(self, count: int) -> SeedPairs:
        """``count`` further scenes that neither split holds (seeds ``seed+n ..``), rendered when read: a test set
        that no training run has seen or chosen a checkpoint on (its depth input, if any, fixed per seed)."""
        if count < 1:
            raise BgganError(f"need at least 1 unseen scene, got {count}")
        first = self.seed + self.n
        return self._pairs(range(first, first + count), None, random=False)


@dataclasses.dataclass(frozen=True)
class ApertureLenses:
    """Seed -> ``lens`` at that seed's own f-number (:func:`aperture_for`); picklable for the rendering workers."""

    lens: Lens
    apertures: tuple[float, float]
    no_blur: float = 0.0

    def __call__(self, seed: int) -> Lens:
        return dataclasses.replace(self.lens, f_number=aperture_for(seed, self.apertures, self.no_blur))


def _compact(sample: dict) -> dict:
    """The maps as float16 (metres and px to 3 significant digits) for a cache that holds many samples."""
    return {k: v.astype(np.float16) if k in ("depth", "coc") else v for k, v in sample.items()}


@dataclasses.dataclass(frozen=True)
class DefocusInput:
    """How a depth-aware model's input is made from a sample: the signed circle of confusion a renderer computes
    from its depth map, true (``corruption=None``) or after ``corruption`` (:mod:`bggan.data.depth_corruption`);
    drawn anew on every read when ``random`` (training: torch's generator, which Lightning seeds per worker), else
    one fixed draw per seed (validation, test scenes)."""

    corruption: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    random: bool = False

    def __call__(self, seed: int, sample: dict, lens: Lens) -> np.ndarray:
        """``(H, W)`` float32 px, negative in front of the focus; zeros for a no-blur pair."""
        rng = np.random.default_rng(int(torch.randint(2**62, ())) if self.random else [seed, _DEPTH_STREAM])
        depth = sample["depth"].astype(np.float32)
        lens = dataclasses.replace(lens, f_number=sample["f_number"])
        return corrupted_coc(depth, float(sample["focus_m"]), lens, depth.shape[1], self.corruption, rng)


class SeedPairs(Dataset):
    """Samples for a range of seeds; item ``i`` is seed ``seeds[i]``, named by its seed:
    ``{"name", "input", "target", "depth", "coc", "focus_m", "f_number", "strength"}`` (the maps float32), and
    ``"defocus"`` with a :class:`DefocusInput`.

    Taken from ``rendered`` (seed -> sample) when given, else rendered on each read, through ``lens`` (one
    for all seeds, or seed -> lens), ``refocus`` of them focused elsewhere than on the subject.
    """

    def __init__(self, seeds: range, size: tuple[int, int], rendered: dict[int, dict] | None = None,
                 textures: str | None = None, lens: Lens | Callable[[int], Lens] | None = None,
                 refocus: float = 0.0, defocus: DefocusInput | None = None):
        self.seeds, self.size, self.rendered, self.textures, self.lens = seeds, size, rendered, textures, lens
        self.refocus, self.defocus = refocus, defocus

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> dict:
        seed = self.seeds[index]
        sample = self.rendered[seed] if self.rendered is not None else \
            _render_seed(seed, self.size, self.textures, self.lens, self.refocus)
        item = {"name": str(seed), "input": sample["input"], "target": sample["target"],
                "depth": sample["depth"].astype(np.float32), "coc": sample["coc"].astype(np.float32),
                "focus_m": float(sample["focus_m"]), "f_number": sample["f_number"],
                "strength": strength_for(sample["f_number"])}
        if self.defocus is not None:
            item["defocus"] = self.defocus(seed, sample, _lens_of(self.lens, seed))
        return item
