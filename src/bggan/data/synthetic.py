"""Synthetic bokeh pairs: procedural 2.5-D scenes rendered all in focus and with real defocus.

A scene is a far background (sky, distant texture, small bright lights), optional foliage
with holes in the middle distance, a few textured objects at random depths, and a subject
at the focus distance. :func:`render_pair` turns a seed into ``(sharp, bokeh)`` uint8 images;
the same seed always gives the same pair.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch.utils.data import Dataset
from tqdm import tqdm

from bggan.data.defocus import Layer, Lens, bounding_box, composite, linear_to_srgb, srgb_to_linear
from bggan.errors import BgganError


def fractal_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 5, base: int = 3) -> np.ndarray:
    """Smooth multi-scale noise ``(h, w)`` in [0, 1]: octaves of upsampled random grids."""
    # Sum the octaves at a resolution just fine enough for the finest one, then upsample once.
    scale = min(1.0, 4 * base * 2 ** (octaves - 1) / max(h, w))
    small = (max(int(h * scale), 2), max(int(w * scale), 2))
    total = torch.zeros(1, 1, *small)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        cells = base * 2**octave
        grid = torch.from_numpy(rng.random((1, 1, cells, max(cells * w // h, 1) + 2), dtype=np.float32))
        total += amplitude * F.interpolate(grid, size=small, mode="bicubic", align_corners=False)
        norm += amplitude
        amplitude *= 0.55
    if small != (h, w):
        total = F.interpolate(total, size=(h, w), mode="bilinear", align_corners=False)
    noise = (total / norm)[0, 0].numpy()
    lo, hi = noise.min(), noise.max()
    return (noise - lo) / max(hi - lo, 1e-6)


def _object_layer(rng: np.random.Generator, h: int, w: int, cy: float, cx: float, size: float,
                  depth: float, detail: float, name: str) -> Layer:
    """A textured shape; its texture is made only inside the shape's bounding box."""
    alpha = shape_mask(rng, h, w, cy, cx, size)
    color = np.zeros((h, w, 3), np.float32)
    box = bounding_box(alpha)
    if box is not None:
        y0, y1, x0, x1 = box
        color[y0:y1, x0:x1] = _textured(rng, y1 - y0, x1 - x0, detail)
    return Layer(color, alpha, depth, name)


def shape_mask(rng: np.random.Generator, h: int, w: int, cy: float, cx: float, size: float) -> np.ndarray:
    """An anti-aliased random shape (ellipse, rounded box or blob) ``(h, w)`` in [0, 1]."""
    s = 2  # supersampling
    image = Image.new("L", (w * s, h * s), 0)
    draw = ImageDraw.Draw(image)
    ry, rx = size * rng.uniform(0.6, 1.0), size * rng.uniform(0.6, 1.0)
    box = [(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s]
    kind = rng.integers(3)
    if kind == 0:
        draw.ellipse(box, fill=255)
    elif kind == 1:
        draw.rounded_rectangle(box, radius=min(rx, ry) * s * rng.uniform(0.05, 0.5), fill=255)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(6, 11)))
        radii = rng.uniform(0.6, 1.0, angles.size)
        points = [((cx + rx * r * np.cos(a)) * s, (cy + ry * r * np.sin(a)) * s)
                  for a, r in zip(angles, radii, strict=True)]
        draw.polygon(points, fill=255)
    return np.asarray(image.resize((w, h), Image.Resampling.BOX), np.float32) / 255


#: sRGB (top, horizon) sky colours: day, haze, overcast, sunset, dusk.
SKIES = np.array([[[0.35, 0.55, 0.85], [0.70, 0.80, 0.92]], [[0.55, 0.68, 0.85], [0.85, 0.86, 0.85]],
                  [[0.62, 0.64, 0.68], [0.80, 0.80, 0.80]], [[0.35, 0.40, 0.65], [0.95, 0.65, 0.45]],
                  [[0.10, 0.12, 0.25], [0.45, 0.30, 0.35]]], np.float32)
#: sRGB ground colours: grass, foliage, earth, stone, sand.
GROUNDS = np.array([[0.30, 0.45, 0.20], [0.18, 0.30, 0.15], [0.42, 0.33, 0.22], [0.45, 0.45, 0.43],
                    [0.70, 0.62, 0.45]], np.float32)


def _natural_color(rng: np.random.Generator) -> np.ndarray:
    """A plausible object colour (sRGB): any hue, mostly muted, mid brightness."""
    hue = rng.uniform(0, 1)
    sat, val = rng.uniform(0.15, 0.75), rng.uniform(0.25, 0.9)
    rgb = np.clip(np.abs((hue * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)
    return (val * (1 - sat + sat * rgb)).astype(np.float32)


def _jitter(rng: np.random.Generator, color: np.ndarray, amount: float = 0.06) -> np.ndarray:
    return np.clip(color + rng.normal(0, amount, color.shape), 0.02, 0.98).astype(np.float32)


def _textured(rng: np.random.Generator, h: int, w: int, detail: float,
              palette: np.ndarray | None = None) -> np.ndarray:
    """A colour texture ``(h, w, 3)`` in linear light: two nearby colours mixed by noise, plus stripes."""
    base = _jitter(rng, palette) if palette is not None else _natural_color(rng)
    base, other = srgb_to_linear(np.stack([base, _jitter(rng, base, 0.12)]))
    mix = fractal_noise(rng, h, w, octaves=6, base=int(rng.integers(2, 6)))[..., None]
    color = base * (1 - mix) + other * mix
    if detail > 0:  # fine stripes or checks: high-frequency detail that defocus visibly removes
        period = rng.uniform(4, 10)
        yy, xx = np.mgrid[0:h, 0:w]
        angle = rng.uniform(0, np.pi)
        stripes = 0.5 + 0.5 * np.sign(np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period))
        color = color * (1 - detail * 0.5 * stripes[..., None].astype(np.float32))
    return color.astype(np.float32)


@dataclass
class SyntheticScene:
    """A scene's layers (far to near), where the lens focuses, and the lens."""

    layers: list[Layer]
    focus_m: float
    lens: Lens = field(default_factory=Lens)

    def diameters(self) -> list[float]:
        """Circle of confusion in px of each layer."""
        width = self.layers[0].alpha.shape[1]
        return [float(self.lens.coc_px(layer.depth_m, self.focus_m, width)) for layer in self.layers]

    def render(self, defocus: bool) -> np.ndarray:
        """``(H, W, 3)`` uint8 sRGB: all in focus, or as this lens would see it."""
        linear = composite(self.layers, self.diameters() if defocus else None)
        return (linear_to_srgb(linear) * 255 + 0.5).astype(np.uint8)


def random_scene(seed: int, height: int = 512, width: int = 768, lens: Lens | None = None) -> SyntheticScene:
    """Draw a random scene; deterministic per ``seed``.

    Depths: background 20-80 m, foliage 5-15 m, objects 0.7-12 m with sizes that shrink with
    distance, the subject at the focus distance (1.5-4 m) near the centre.
    """
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    layers: list[Layer] = []

    # Background: sky over distant land, with small lights far brighter than white.
    sky_top, sky_low = srgb_to_linear(_jitter(rng, SKIES[rng.integers(len(SKIES))]))
    background = (sky_top * (1 - yy) + sky_low * yy) * np.ones((1, w, 1), np.float32)
    horizon = rng.uniform(0.3, 0.65)
    skyline = horizon + 0.08 * (fractal_noise(rng, w, w, 3)[0] - 0.5)  # a row of a square field: smooth
    ground = np.linspace(0, 1, h)[:, None] > skyline[None, :]
    land = _textured(rng, h, w, 0.0, GROUNDS[rng.integers(len(GROUNDS))])
    # fine grain (grass, gravel): the detail a wide aperture visibly washes out
    land *= (0.75 + 0.5 * fractal_noise(rng, h, w, octaves=3, base=max(h, w) // 24))[..., None]
    background[ground] = land[ground]
    for _ in range(int(rng.integers(4, 30))):  # lights, mostly just below the horizon
        y = int(np.clip(rng.normal(horizon + 0.05, 0.1), horizon - 0.05, 0.999) * h)
        x, r = int(rng.integers(0, w)), int(rng.integers(1, 3))
        warm = np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.9)], np.float32)
        background[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1] = rng.uniform(3, 30) * warm
    layers.append(Layer(background, np.ones((h, w), np.float32), float(rng.uniform(20, 80)), "background"))

    if rng.random() < 0.5:  # foliage at one side: leaves with holes that let the background through
        leaves = (fractal_noise(rng, h, w, octaves=6, base=4) > rng.uniform(0.45, 0.6)).astype(np.float32)
        edge = int(w * rng.uniform(0.15, 0.4))
        if rng.integers(2):
            leaves[:, edge:] = 0
        else:
            leaves[:, : w - edge] = 0
        color = _textured(rng, h, w, 0.0, GROUNDS[1])
        layers.append(Layer(color, leaves, float(rng.uniform(5, 15)), "foliage"))

    focus = float(rng.uniform(1.5, 4.0))
    objects = []
    for i in range(int(rng.integers(3, 7))):
        depth = float(rng.uniform(0.7, 12.0))
        if abs(depth - focus) < 0.3:
            depth = focus + 0.5
        size = min(h, w) * rng.uniform(0.06, 0.14) * 3.0 / depth ** 0.7
        objects.append(_object_layer(rng, h, w, rng.uniform(0.15, 0.95) * h, rng.uniform(0.05, 0.95) * w, size,
                                     depth, float(rng.uniform(0, 0.8)), f"object{i}"))
    objects.append(_object_layer(rng, h, w, h * rng.uniform(0.45, 0.6), w * rng.uniform(0.4, 0.6),
                                 min(h, w) * rng.uniform(0.2, 0.3), focus, 1.0, "subject"))
    layers += sorted(objects, key=lambda layer: -layer.depth_m)
    return SyntheticScene(layers, focus, lens or Lens())


def render_pair(seed: int, height: int = 512, width: int = 768,
                lens: Lens | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(sharp, bokeh)``, each ``(H, W, 3)`` uint8 sRGB, for one seed."""
    scene = random_scene(seed, height, width, lens)
    return scene.render(defocus=False), scene.render(defocus=True)


def render_pairs(seeds: Sequence[int], size: tuple[int, int], workers: int | None = None,
                 progress: bool = True, desc: str = "synthetic pairs") -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(seed, sharp, bokeh)`` for each seed, in order, rendered by ``workers`` processes with a progress bar.

    ``workers=None`` uses one process per core, or this process alone when the whole job is
    small enough (about a second) that starting processes would cost more.
    """
    if workers is None:
        workers = 1 if len(seeds) * size[0] * size[1] <= 4 * 512 * 768 else os.cpu_count() or 1
    workers = max(1, min(workers, len(seeds)))
    with tqdm(total=len(seeds), unit="pair", desc=desc, disable=not progress) as bar:
        if workers == 1:
            pairs = (render_pair(seed, *size) for seed in seeds)
            for seed, (sharp, bokeh) in zip(seeds, pairs, strict=True):
                yield seed, sharp, bokeh
                bar.update()
            return
        # spawn, not fork: the parent's torch thread pools do not survive a fork safely
        with multiprocessing.get_context("spawn").Pool(workers, initializer=torch.set_num_threads,
                                                       initargs=(1,)) as pool:
            pairs = pool.imap(functools.partial(_render_seed, size=size), seeds)
            for seed, (sharp, bokeh) in zip(seeds, pairs, strict=True):
                yield seed, sharp, bokeh
                bar.update()


def _render_seed(seed: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return render_pair(seed, *size)


class SyntheticPairs:
    """The embedded default data: ``n`` synthetic pairs, seeds ``seed .. seed+n-1``.

    A drop-in for :class:`bggan.data.PairedImages`: :meth:`split` gives ``(train, validation)``
    datasets of ``{"name", "input", "target"}`` with ``(H, W, 3)`` uint8 images; the last
    ``holdout`` seeds are the validation pairs.

    Args:
        n: pairs in all.
        size: ``(H, W)`` of each rendered pair.
        seed: the first seed.
        holdout: pairs held out for validation.
        cache: render every pair once, up front and in parallel, and keep them in memory
            (``n * H * W * 6`` bytes: 470 MB for 200 pairs at 512x768; loader workers share the
            pages). Otherwise each item is rendered when it is read, every epoch.
        workers: processes for the up-front rendering (see :func:`render_pairs`).
    """

    def __init__(self, n: int = 200, size: tuple[int, int] = (512, 768), seed: int = 0, holdout: int = 16,
                 cache: bool = True, workers: int | None = None):
        if n < 1 or not 0 <= holdout < n:
            raise BgganError(f"need n >= 1 and 0 <= holdout < n, got n={n}, holdout={holdout}")
        self.n, self.size, self.seed, self.holdout = n, (int(size[0]), int(size[1])), seed, holdout
        self.cache, self.workers = cache, workers
        self._rendered: dict[int, tuple[np.ndarray, np.ndarray]] | None = None

    def summary(self) -> str:
        return (f"synthetic pairs: {self.n} at {self.size[0]}x{self.size[1]}, seeds {self.seed}.."
                f"{self.seed + self.n - 1}; {self.n - self.holdout} training, {self.holdout} validation")

    def split(self) -> tuple[SeedPairs, SeedPairs]:
        seeds = range(self.seed, self.seed + self.n)
        if self.cache and self._rendered is None:
            self._rendered = {seed: (sharp, bokeh) for seed, sharp, bokeh in
                              render_pairs(seeds, self.size, self.workers, desc="rendering synthetic pairs")}
        cut = self.n - self.holdout
        return (SeedPairs(seeds[:cut], self.size, self._rendered),
                SeedPairs(seeds[cut:], self.size, self._rendered))


class SeedPairs(Dataset):
    """Pairs for a range of seeds; item ``i`` is seed ``seeds[i]``, named by its seed.

    Taken from ``rendered`` (seed -> pair) when given, else rendered on each read.
    """

    def __init__(self, seeds: range, size: tuple[int, int],
                 rendered: dict[int, tuple[np.ndarray, np.ndarray]] | None = None):
        self.seeds, self.size, self.rendered = seeds, size, rendered

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> dict:
        seed = self.seeds[index]
        source, target = self.rendered[seed] if self.rendered is not None else render_pair(seed, *self.size)
        return {"name": str(seed), "input": source, "target": target}
