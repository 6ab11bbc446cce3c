"""Synthetic scenes that read as photographs with a shallow depth of field.

A camera looks at flat ground (a surface photo in perspective) that recedes to a backdrop (a photo,
sometimes under a strip of sky), with things standing on the ground at random distances (photo cut-outs,
smaller the farther they are, the near ones occluding the far ones) and a subject at the focus distance
near the middle of the frame. A single-image model can find what is in focus from the cues real photos
give: the salient subject, the ground's height in the frame, occlusion, sizes falling with distance.

Geometry: a pinhole camera ``height_m`` above the ground, pitched down so that the ground where the
subject stands is at the focus distance. Depth is measured along the optical axis, as the thin-lens
circle of confusion needs. The ground and the backdrop form one continuous surface with a per-pixel
depth; it is cut into slices of equal circle of confusion (as :mod:`bggan.data.depth_bokeh` cuts a
photo), the objects are layers at constant depth, and everything is composited far to near in linear
light, each layer blurred by its own disk (:func:`bggan.data.defocus.composite`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from bggan.data.defocus import Layer, Lens, bounding_box, composite, linear_to_srgb, srgb_to_linear
from bggan.data.depth_bokeh import depth_layers, signed_coc
from bggan.data.textures import Textures, crop_resized, linear

#: sRGB (top, horizon) sky colours: day, haze, overcast, sunset, dusk.
SKIES = np.array([[[0.35, 0.55, 0.85], [0.70, 0.80, 0.92]], [[0.55, 0.68, 0.85], [0.85, 0.86, 0.85]],
                  [[0.62, 0.64, 0.68], [0.80, 0.80, 0.80]], [[0.35, 0.40, 0.65], [0.95, 0.65, 0.45]],
                  [[0.10, 0.12, 0.25], [0.45, 0.30, 0.35]]], np.float32)
#: Depth given to the sky (m): its circle of confusion is the lens's at infinity, to a thousandth.
SKY_M = 1e4
#: Where a scene's lens focuses: ``(depth (H, W) m of the sharp image, the subject's distance m) -> metres``.
FocusChoice = Callable[[np.ndarray, float], float]


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


@dataclass(frozen=True)
class Camera:
    """A pinhole camera ``height_m`` above flat ground, pitched down by ``pitch`` radians; principal point
    ``(cx, cy)`` and focal length ``focal_px`` in pixels. Rows grow downwards."""

    height_m: float
    pitch: float
    focal_px: float
    cx: float
    cy: float

    @classmethod
    def looking_at(cls, height_m: float, distance_m: float, row: float, focal_px: float, cx: float,
                   cy: float) -> Camera:
        """The camera pitched so that the ground seen at image row ``row`` is ``distance_m`` deep.

        A ray through row ``y`` (``a = (y - cy) / f``) meets the ground at depth ``H / (a cos p + sin p)``;
        solving ``a cos p + sin p = H / d`` for the pitch ``p``.
        """
        a = (row - cy) / focal_px
        k = min(height_m / distance_m, 0.99 * math.hypot(1, a))
        return cls(height_m, math.asin(k / math.hypot(1, a)) - math.atan(a), focal_px, cx, cy)

    def _rows(self, h: int) -> np.ndarray:
        return ((np.arange(h, dtype=np.float64) + 0.5 - self.cy) / self.focal_px)[:, None]

    def ground(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(depth, lateral, forward)`` in metres of the ground seen at each pixel, each ``(h, w)`` float64.

        ``depth`` is along the optical axis, ``lateral`` to the right, ``forward`` along the ground; all
        are ``inf`` where the ray does not meet the ground (above the horizon).
        """
        a = self._rows(h)
        b = ((np.arange(w, dtype=np.float64) + 0.5 - self.cx) / self.focal_px)[None, :]
        down = a * math.cos(self.pitch) + math.sin(self.pitch)
        with np.errstate(divide="ignore"):
            t = np.where(down > 1e-9, self.height_m / np.maximum(down, 1e-9), np.inf)
        depth = np.broadcast_to(t, (h, w))
        with np.errstate(invalid="ignore"):
            lateral = np.where(np.isfinite(depth), depth * b, np.inf)
            forward = np.where(np.isfinite(depth), depth * (math.cos(self.pitch) - a * math.sin(self.pitch)), np.inf)
        return np.array(depth), lateral, forward

    def ground_row(self, depth_m: float) -> float:
        """The image row (float) where the ground is ``depth_m`` deep."""
        a = (self.height_m / depth_m - math.sin(self.pitch)) / math.cos(self.pitch)
        return self.cy + self.focal_px * a

    def wall_depth(self, h: int, forward_m: float) -> np.ndarray:
        """Depth ``(h, 1)`` of a vertical wall across the view ``forward_m`` ahead, per row (``inf`` behind)."""
        along = math.cos(self.pitch) - self._rows(h) * math.sin(self.pitch)
        with np.errstate(divide="ignore"):
            return np.where(along > 1e-9, forward_m / np.maximum(along, 1e-9), np.inf)

    def horizon_row(self) -> float:
        return self.cy - self.focal_px * math.tan(self.pitch)


def perspective_texture(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample ``texture`` ``(th, tw, 3)`` at texel coordinates ``u`` (across), ``v`` (down), each ``(h, w)``.

    The texture is mirror-tiled (no seams), and minified through a mip pyramid: each pixel blends the two
    levels around ``log2`` of its footprint in texels, so the far ground does not alias. Pixels with
    non-finite coordinates come back 0.
    """
    h, w = u.shape
    ok = np.isfinite(u) & np.isfinite(v)
    u, v = np.where(ok, u, 0.0), np.where(ok, v, 0.0)
    footprint = np.maximum(np.abs(np.gradient(u, axis=1)), np.abs(np.gradient(v, axis=0)))
    footprint = np.maximum(footprint, np.abs(np.gradient(v, axis=1)))
    level = np.clip(np.log2(np.maximum(footprint, 1.0)), 0, None)
    pyramid = [torch.from_numpy(np.ascontiguousarray(texture.transpose(2, 0, 1)))[None]]
    while min(pyramid[-1].shape[-2:]) >= 8 and len(pyramid) <= int(level.max()) + 1:
        pyramid.append(F.avg_pool2d(pyramid[-1], 2))
    level = np.minimum(level, len(pyramid) - 1)
    out = np.zeros((h, w, 3), np.float32)
    low = np.floor(level).astype(np.int64)
    for lv in np.unique(low[ok]):
        rows = np.nonzero((low == lv).any(1) & ok.any(1))[0]
        y0, y1 = int(rows.min()), int(rows.max()) + 1
        band = np.s_[y0:y1]
        frac = (level[band] - lv)[..., None].astype(np.float32)
        near = _sample(pyramid[lv], u[band] / 2**lv, v[band] / 2**lv)
        far = _sample(pyramid[min(lv + 1, len(pyramid) - 1)], u[band] / 2 ** (lv + 1), v[band] / 2 ** (lv + 1))
        out[band] = np.where((low[band] == lv)[..., None], near * (1 - frac) + far * frac, out[band])
    return np.where(ok[..., None], out, 0).astype(np.float32)


def _sample(level: torch.Tensor, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear, mirror-tiled lookup of ``level`` ``(1, 3, th, tw)`` at texel coordinates -> ``(h, w, 3)``."""
    th, tw = level.shape[-2:]
    u = tw - np.abs(np.mod(u, 2 * tw) - tw)  # a triangle wave: mirror tiling
    v = th - np.abs(np.mod(v, 2 * th) - th)
    grid = torch.from_numpy(np.stack([u / tw * 2 - 1, v / th * 2 - 1], axis=-1).astype(np.float32))[None]
    return F.grid_sample(level, grid, mode="bilinear", padding_mode="border", align_corners=False)[0] \
        .numpy().transpose(1, 2, 0)


def shape_alpha(rng: np.random.Generator, h: int, w: int, box: tuple[float, float, float, float],
                kind: int | None = None) -> np.ndarray:
    """An anti-aliased shape filling ``box`` ``(y0, y1, x0, x1)`` (may reach outside the frame): ``(h, w)`` in [0, 1].

    ``kind``: 0 ellipse, 1 rounded box, 2 blob (a random star-convex polygon); random when ``None``.
    """
    s = 2  # supersampling
    y0, y1, x0, x1 = box
    # drawn on a canvas of the box's part of the frame (whole pixels), then placed
    top, bottom = max(math.floor(y0), 0), min(math.ceil(y1), h)
    left, right = max(math.floor(x0), 0), min(math.ceil(x1), w)
    alpha = np.zeros((h, w), np.float32)
    if bottom <= top or right <= left:
        return alpha
    image = Image.new("L", ((right - left) * s, (bottom - top) * s), 0)
    draw = ImageDraw.Draw(image)
    kind = int(rng.integers(3)) if kind is None else kind
    y0, y1, x0, x1 = y0 - top, y1 - top, x0 - left, x1 - left
    corners = [x0 * s, y0 * s, x1 * s, y1 * s]
    if kind == 0:
        draw.ellipse(corners, fill=255)
    elif kind == 1:
        draw.rounded_rectangle(corners, radius=min(x1 - x0, y1 - y0) * s * rng.uniform(0.05, 0.45), fill=255)
    else:
        cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
        angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(7, 12)))
        radii = rng.uniform(0.7, 1.0, angles.size)
        draw.polygon([((cx + rx * r * np.cos(a)) * s, (cy + ry * r * np.sin(a)) * s)
                      for a, r in zip(angles, radii, strict=True)], fill=255)
    small = image.resize((right - left, bottom - top), Image.Resampling.BOX)
    alpha[top:bottom, left:right] = np.asarray(small, np.float32) / 255
    return alpha


@dataclass
class SyntheticScene:
    """A scene's layers (far to near), where the lens focuses, the lens, and the depth the sharp image shows.

    ``depth`` ``(H, W)`` is, per pixel, the depth of the nearest opaque layer (alpha >= 0.5): what a depth
    sensor would measure on the all-in-focus image, from which :meth:`coc` gives the target's circle of
    confusion per pixel. ``surface``, when the farthest layers are slices of one surface that nothing
    lies behind (the ground and the backdrop), is that surface whole: the in-focus image is then
    composited from it and the other layers, the same picture at a fraction of the work.
    """

    layers: list[Layer]
    focus_m: float
    lens: Lens = field(default_factory=Lens)
    depth: np.ndarray | None = None
    surface: Layer | None = None

    def diameters(self) -> list[float]:
        """Circle of confusion in px of each layer (a surface slice's own, else the lens's at its depth)."""
        width = self.layers[0].alpha.shape[1]
        return [float(layer.diameter_px) if layer.diameter_px is not None
                else float(self.lens.coc_px(layer.depth_m, self.focus_m, width)) for layer in self.layers]

    def coc(self) -> np.ndarray:
        """The signed circle of confusion in px of each pixel ``(H, W)`` float32, negative in front of the focus."""
        if self.depth is None:
            raise ValueError("this scene has no depth map")
        return signed_coc(self.depth, self.focus_m, self.lens, self.depth.shape[1]).astype(np.float32)

    def render(self, defocus: bool) -> np.ndarray:
        """``(H, W, 3)`` uint8 sRGB: all in focus, or as this lens would see it."""
        if defocus or self.surface is None:
            light = composite(self.layers, self.diameters() if defocus else None, normalize=True)
        else:
            light = composite([self.surface, *(layer for layer in self.layers if layer.diameter_px is None)])
        return (linear_to_srgb(light) * 255 + 0.5).astype(np.uint8)


def random_scene(seed: int, height: int = 512, width: int = 768, lens: Lens | None = None,
                 textures: Textures | None = None, focus: FocusChoice | None = None) -> SyntheticScene:
    """Draw a random scene; deterministic per ``seed`` (and texture set).

    Distances: the subject 1.5-5 m, log-uniform; objects on the ground, mostly behind it (up
    to 40 m), some between it and the camera, a few close to the camera at the frame's edges, sizes in
    metres seen through the lens; the backdrop 25-120 m ahead. A third of the scenes look down at the
    subject's feet (camera 0.5-1.6 m high), the others look ahead (1-1.7 m, the horizon near the frame).

    ``focus``: where the lens focuses, ``(depth (H, W) m of the sharp image, the subject's distance m) -> m``;
    ``None`` focuses on the subject. The scene itself does not depend on it.
    """
    rng = np.random.default_rng(seed)
    lens = lens or Lens()
    textures = textures or default_textures()
    h, w = height, width
    f = lens.focal_px(w)
    subject_m = float(np.exp(rng.uniform(np.log(1.5), np.log(5.0))))
    if rng.random() < 0.35:  # looking down at the subject's feet: the ground passes through the focal plane
        base_row = rng.uniform(0.8, 0.98) * h
        camera = Camera.looking_at(rng.uniform(0.5, 1.6), subject_m, base_row, f, w / 2, h / 2)
    else:  # looking ahead: the horizon in or near the frame, the subject's feet maybe below it
        camera = Camera(rng.uniform(1.0, 1.7), rng.uniform(-0.02, 0.12), f, w / 2, h / 2)
        base_row = camera.ground_row(subject_m)
    far = rng.uniform(25, 120)  # the backdrop's distance along the ground
    color, surface_depth = _surface(rng, textures, camera, h, w, far)
    objects = _objects(rng, textures, camera, h, w, subject_m, far)
    objects.append(_subject(rng, textures, camera, h, w, subject_m, base_row))
    if rng.random() < 0.3:
        objects.append(_foliage(rng, textures, h, w))
    depth = surface_depth
    for layer in objects:  # the depth the sharp image shows: the nearest opaque thing
        depth = np.where(layer.alpha >= 0.5, np.minimum(depth, layer.depth_m), depth)
    depth = depth.astype(np.float32)
    focus_m = subject_m if focus is None else float(focus(depth, subject_m))
    # the surface is cut into slices of equal circle of confusion for the focus chosen: drawn after the scene,
    # which draws nothing more from the random stream, so a seed is the same scene wherever the lens focuses
    layers, _ = depth_layers(color, surface_depth, signed_coc(surface_depth, focus_m, lens, w))
    layers = sorted(layers + objects, key=lambda layer: -layer.depth_m)
    surface = Layer(color, np.ones((h, w), np.float32), float(surface_depth.max()), "surface")
    return SyntheticScene(layers, focus_m, lens, depth, surface)


def _surface(rng: np.random.Generator, textures: Textures, camera: Camera, h: int, w: int,
             far: float) -> tuple[np.ndarray, np.ndarray]:
    """The ground in perspective up to a backdrop ``far`` metres ahead, and the backdrop:
    ``(color (h, w, 3) linear, depth (h, w) m)``."""
    depth, lateral, forward = camera.ground(h, w)
    backdrop_depth = np.broadcast_to(np.minimum(camera.wall_depth(h, far), SKY_M), (h, w))
    # the backdrop: trees, walls, scenery far away, from the surfaces (with a folder of photos, the photos):
    # scikit-image's photos are close-ups of things, which would read as a second subject
    color = crop_resized(rng, textures.surface(rng), h, w, zoom=(1.0, 2.0)) * rng.uniform(0.6, 1.2)
    surface_depth = np.array(backdrop_depth)
    if rng.random() < 0.6:  # a strip of sky above a hilly skyline
        top, low = srgb_to_linear(np.clip(SKIES[rng.integers(len(SKIES))] + rng.normal(0, 0.03, (2, 3)), 0, 1))
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        sky = (top * (1 - yy) + low * yy) * (0.9 + 0.2 * fractal_noise(rng, h, w, 4)[..., None])
        hills = rng.uniform(0.03, 0.25) * (0.6 + 0.8 * fractal_noise(rng, w, w, 3)[0])  # height / distance
        skyline = camera.horizon_row() - camera.focal_px * hills
        is_sky = np.arange(h)[:, None] < skyline[None, :]
        color = np.where(is_sky[..., None], sky, color)
        surface_depth = np.where(is_sky, SKY_M, surface_depth)
    for _ in range(int(rng.integers(4, 30))):  # lights far brighter than white: bokeh discs in the target
        y, x, r = int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(1, 3))
        warm = np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.9)], np.float32)
        color[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1] = rng.uniform(3, 30) * warm
    ground = forward < far
    if ground.any():
        tile = rng.uniform(0.8, 3.0)  # metres per texture width
        texture = linear(textures.surface(rng))
        scale = texture.shape[1] / tile
        shift = rng.uniform(0, 4 * texture.shape[1], 2)
        paint = perspective_texture(texture, lateral * scale + shift[0], forward * scale + shift[1])
        shade = (0.8 + 0.4 * fractal_noise(rng, h, w, 3))[..., None]  # light and shadow on the ground
        color = np.where(ground[..., None], paint * shade, color)
        surface_depth = np.where(ground, depth, surface_depth)
    return color.astype(np.float32), surface_depth.astype(np.float64)


def _textured_layer(rng: np.random.Generator, textures: Textures, h: int, w: int,
                    box: tuple[float, float, float, float], depth_m: float, name: str, photo: bool,
                    kind: int | None = None) -> Layer | None:
    """A shape filling ``box`` with a photo (or a surface texture) resized onto it; ``None`` if off-frame."""
    alpha = shape_alpha(rng, h, w, box, kind)
    found = bounding_box(alpha)
    if found is None:
        return None
    y0, y1, x0, x1 = math.floor(box[0]), math.ceil(box[1]), math.floor(box[2]), math.ceil(box[3])
    source = textures.photo(rng) if photo else textures.surface(rng)
    patch = crop_resized(rng, source, max(y1 - y0, 1), max(x1 - x0, 1), zoom=(1.0, 1.4 if photo else 3.0))
    color = np.zeros((h, w, 3), np.float32)
    fy0, fx0 = max(y0, 0), max(x0, 0)
    fy1, fx1 = min(y1, h), min(x1, w)
    color[fy0:fy1, fx0:fx1] = patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] * rng.uniform(0.75, 1.15)
    return Layer(color, alpha, depth_m, name)


def _objects(rng: np.random.Generator, textures: Textures, camera: Camera, h: int, w: int, focus: float,
             far: float) -> list[Layer]:
    """Things standing on the ground at random distances, their size in metres seen through the lens."""
    layers = []
    for i in range(int(rng.integers(2, 7))):
        where = rng.random()
        if where < 0.15:  # close to the camera, at an edge of the frame: a blurred foreground
            d = rng.uniform(0.7, min(1.4, 0.7 * focus))
            cx = (rng.uniform(-0.15, 0.15) + (1.0 if rng.random() < 0.5 else 0.0)) * w
        elif where < 0.35:  # between the camera and the subject
            d = rng.uniform(0.5, 0.85) * focus
            cx = rng.uniform(-0.1, 1.1) * w
        else:  # behind the subject
            d = float(np.exp(rng.uniform(np.log(1.3 * focus), np.log(40.0))))
            cx = rng.uniform(-0.1, 1.1) * w
        if d >= far:
            continue
        width_px = min(rng.uniform(0.2, 1.2) * camera.focal_px / d, 0.45 * w)
        height_px = min(rng.uniform(0.3, 1.8) * camera.focal_px / d, 1.5 * h)
        base = camera.ground_row(d)
        photo = rng.random() < (0.3 if d > focus else 0.6)  # mostly plain things behind: the subject stands out
        layer = _textured_layer(rng, textures, h, w, (base - height_px, base, cx - width_px / 2, cx + width_px / 2),
                                d, f"object{i}", photo=photo)
        if layer is not None:
            layers.append(layer)
    return layers


def _subject(rng: np.random.Generator, textures: Textures, camera: Camera, h: int, w: int, focus: float,
             base_row: float) -> Layer:
    """The subject: a photo cut-out at the focus distance, standing on the ground near the middle."""
    width_px = min(rng.uniform(0.35, 0.8) * camera.focal_px / focus, 0.6 * w)
    height_px = rng.uniform(0.45, 1.6) * camera.focal_px / focus
    height_px = min(max(height_px, base_row - 0.55 * h), base_row - 0.1 * h)  # from mid-frame or above, not off the top
    cx = rng.uniform(0.35, 0.65) * w
    box = (base_row - height_px, base_row, cx - width_px / 2, cx + width_px / 2)
    kind = int(rng.integers(3 if base_row <= h else 2))  # a blob cut off far below the frame may not reach into it
    layer = _textured_layer(rng, textures, h, w, box, focus, "subject", photo=True, kind=kind)
    assert layer is not None  # its box reaches into the frame by construction, and so do these shapes
    return layer


def _foliage(rng: np.random.Generator, textures: Textures, h: int, w: int) -> Layer:
    """Leaves with holes hanging into one side of the frame, close to the camera (a blurred foreground frame)."""
    leaves = (fractal_noise(rng, h, w, octaves=6, base=4) > rng.uniform(0.45, 0.6)).astype(np.float32)
    edge = int(w * rng.uniform(0.12, 0.3))
    if rng.integers(2):
        leaves[:, edge:] = 0
    else:
        leaves[:, :w - edge] = 0
    color = crop_resized(rng, textures.surface(rng), h, w, zoom=(1.0, 2.0)) * np.array([0.6, 0.9, 0.5], np.float32)
    return Layer(color.astype(np.float32), leaves, float(rng.uniform(0.5, 1.2)), "foliage")


_DEFAULT: dict[str, Textures] = {}


def default_textures() -> Textures:
    """scikit-image's photos, one :class:`Textures` per process."""
    if "skimage" not in _DEFAULT:
        _DEFAULT["skimage"] = Textures()
    return _DEFAULT["skimage"]
