"""The defocus map as an input: how a depth-aware Glass-Net blurs each pixel as much as its depth asks.

A depth-aware generator (``GlassNet(condition="defocus")``) takes, besides the photo, a **defocus map**: the signed
circle of confusion of every pixel in px at the size the model runs at, ``K (1/z_focus - 1/z)`` with ``K`` the
lens's blur at infinity relative to the focus (:func:`bggan.data.depth_bokeh.signed_coc`): negative in front of
the focal plane, positive behind it, 0 in focus. One map carries the focus and the aperture (the f-number scales
``K``); a map of zeros asks for no blur at all.

Three pieces, built only from ops on the TFLite GPU delegate's list (depthwise and plain convolutions, average and
max pools, bilinear resizes, elementwise arithmetic; :mod:`bggan.export.depth_graph` writes them for the converters):

- :class:`BlurStack`: the photo blurred by disks of growing diameter (2, 4, ... 128 px). Wide disks are applied at
  a reduced resolution (average-pooled so that the disk is at most 8 px there, then bilinearly resized back up), so
  a 128 px blur costs no more than an 8 px one; zero padding, renormalised, so borders do not darken;
- :func:`stack_level` and :func:`layered`: the fractional level of a blur diameter (piecewise linear between the
  stack's diameters), and the photo rendered by layers of equal level as the classical renderer renders it (each
  layer's colour and coverage blurred by its level's disk, composited far to near): with the defocus map's own
  levels, a classical renderer, aware of occlusion but blind to errors of the depth;
- :class:`DefocusGate`: ``photo - tanh(k s) (photo - output)``, ``s`` the defocus map's magnitude dilated by a few
  px: where nothing near a pixel is out of focus the photo comes back exactly, so a map of zeros returns the photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bggan.errors import BgganError

#: Blur diameters of the stack (px); level 0 is the photo. A pixel apart up to 6 px, where a fraction of a pixel of
#: blur shows (between levels a pixel is shared linearly by two), then each 1.5-2x the last, up to 128 px.
DEFAULT_STACK = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 128.0)
#: The defocus map is fed to the network divided by this (px): values of order 1.
DEFOCUS_SCALE = 16.0
#: Widest disk applied at full resolution (px); wider ones are applied on an average-pooled photo.
FULL_RES_DISK = 8.0
#: How far (px) the gate reaches around an out-of-focus pixel: a blurred neighbour may change a pixel this close.
GATE_REACH = 4


def disk(diameter: float) -> torch.Tensor:
    """An anti-aliased disk of ``diameter`` px summing to 1, ``(k, k)`` float32 (``k`` odd; 1x1 below 1 px).

    The same disk as :func:`bggan.data.defocus.disk_kernel`, the synthetic renderer's: a 1-px linear ramp at the rim.
    """
    radius = diameter / 2
    if radius < 0.5:
        return torch.ones(1, 1)
    half = math.ceil(radius)
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    kernel = (radius + 0.5 - torch.hypot(t[:, None], t[None, :])).clamp(0, 1)
    return (kernel / kernel.sum()).float()


def pool_factor(diameter: float) -> int:
    """The average-pooling factor a disk of ``diameter`` px is applied at: 1 up to :data:`FULL_RES_DISK`, then the
    power of two that brings it to at most that."""
    return 1 if diameter <= FULL_RES_DISK else 2 ** math.ceil(math.log2(diameter / FULL_RES_DISK))


class BlurStack(nn.Module):
    """The photo and its blurs by disks of ``diameters`` px.

    ``forward(x (B, C, H, W))`` -> ``[x, blur_1(x), ..., blur_L(x)]``, each ``(B, C, H, W)``; ``H`` and ``W`` must be
    multiples of :attr:`multiple` (the largest pooling factor). A disk of ``D`` px is applied as a depthwise
    convolution of ``D / p`` px on the photo average-pooled by ``p = pool_factor(D)``, then bilinearly resized back
    up by ``p``; near the borders, the zero padding's share is divided out (the convolution of a map of ones).
    """

    def __init__(self, diameters: Sequence[float] = DEFAULT_STACK) -> None:
        super().__init__()
        diameters = tuple(float(d) for d in diameters)
        if not diameters or any(d < 1 for d in diameters) or list(diameters) != sorted(set(diameters)):
            raise ValueError(f"stack diameters must be increasing, each at least 1 px, got {list(diameters)}")
        self.diameters = diameters
        self.factors = tuple(pool_factor(d) for d in diameters)
        self.multiple = max(self.factors)
        for i, (d, p) in enumerate(zip(diameters, self.factors, strict=True)):
            self.register_buffer(f"disk{i}", disk(d / p)[None, None], persistent=False)

    def kernels(self) -> list[torch.Tensor]:
        return [getattr(self, f"disk{i}") for i in range(len(self.diameters))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.blur(x, level) for level in range(len(self.diameters) + 1)]

    def blur(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` blurred by the disk of stack level ``level`` (0: ``x`` itself, ``k``: the disk of
        ``diameters[k - 1]``)."""
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"the blur stack needs sides that are multiples of {self.multiple}, got {h}x{w}")
        if level == 0:
            return x
        p = self.factors[level - 1]
        y = normalized_blur(x if p == 1 else F.avg_pool2d(x, p), self.kernels()[level - 1].to(x.dtype))
        return y if p == 1 else F.interpolate(y, scale_factor=p, mode="bilinear", align_corners=False)


def normalized_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise convolution of ``(B, C, H, W)`` with ``kernel`` ``(1, 1, k, k)`` (k odd), zero padded, divided by the
    convolution of a map of ones: inside the image a plain blur, at its borders the mean of what is inside."""
    k = kernel.shape[-1]
    if k == 1:
        return x
    c = x.shape[1]
    blurred = F.conv2d(x, kernel.expand(c, 1, k, k), padding=k // 2, groups=c)
    coverage = F.conv2d(torch.ones_like(x[:1, :1]), kernel, padding=k // 2)
    return blurred / coverage


def stack_level(size: torch.Tensor, diameters: Sequence[float]) -> torch.Tensor:
    """The fractional stack level of a blur diameter: ``size`` (any shape, px, >= 0) -> same shape in
    ``[0, L]``; ``k`` at ``diameters[k - 1]``, linear between neighbours (0 at 0 px), ``L`` beyond the largest."""
    level = torch.zeros_like(size)
    lower = 0.0
    for d in diameters:
        level = level + (size - lower).clamp(0, d - lower) / (d - lower)
        lower = d
    return level


def signed_level(defocus: torch.Tensor, diameters: Sequence[float]) -> torch.Tensor:
    """The defocus map's own stack level, signed like the map: ``(B, 1, H, W)`` px -> ``[-L, L]``."""
    return torch.sign(defocus) * stack_level(defocus.abs(), diameters)


def layered(x: torch.Tensor, level: torch.Tensor, stack: BlurStack,
            highlight_gain: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Bokeh by layers, as the classical renderer makes it (:func:`bggan.data.depth_bokeh.render_with_depth`): the
    photo cut into ``2L + 1`` layers by signed ``level`` (each pixel shared linearly between the two layers around
    its level), each layer's colour and coverage blurred by its disk (layer ``k`` by the stack's level ``|k|``), and
    the layers composited far to near with "over", in linear light (the sRGB curve), the result divided by the total
    coverage. A blurred near layer spreads over what lies behind it; a far one never bleeds over a sharp near one.

    Args:
        x: ``(B, 3, H, W)`` in [-1, 1].
        level: ``(B, 1, H, W)`` in ``[-L, L]``: negative in front of the focus (nearer), positive behind.
        stack: the blurs; ``L = len(stack.diameters)``.
        highlight_gain: clipped highlights are this many times brighter in linear light before they are blurred
            (:func:`highlights`); 1 leaves them as shot.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1].
    """
    light = srgb_to_linear(x)
    if not (isinstance(highlight_gain, float) and highlight_gain == 1.0):
        light = light * (1 + (highlight_gain - 1) * highlights(x))
    top = len(stack.diameters)
    colour = coverage = None
    for k in range(top, -top - 1, -1):  # far to near
        share = F.relu(1 - (level - k).abs())
        c, a = stack.blur(light * share, abs(k)), stack.blur(share, abs(k))
        colour = c if colour is None else c + (1 - a) * colour
        coverage = a if coverage is None else a + (1 - a) * coverage
    return linear_to_srgb(colour / coverage.clamp_min(1e-3))


#: Where a highlight starts: the brightest channel above this (of [0, 1]) counts, fully from 1.
HIGHLIGHT_FROM = 0.97


def highlights(x: torch.Tensor) -> torch.Tensor:
    """How clipped each pixel is, ``(B, 3, H, W)`` in [-1, 1] -> ``(B, 1, H, W)`` in [0, 1]: its brightest channel's
    rise from :data:`HIGHLIGHT_FROM` to white. A photo stores a lamp as white, not as the light it was."""
    brightest = ((x.amax(dim=1, keepdim=True) + 1) / 2 - HIGHLIGHT_FROM) / (1 - HIGHLIGHT_FROM)
    return brightest.clamp(0, 1)


#: The learned scalars of a depth-aware model are stored divided by this: Adam moves every parameter by about its
#: learning rate per step, too slowly for one number that sets a whole image's look (a highlight gain of 6 would take
#: thousands of steps at 1e-3).
SCALAR_RATE = 10.0


class LayeredRenderer(nn.Module):
    """The blur stack and the layered render (:func:`layered`), with what a depth-aware Glass-Net learns of them: how
    much of stage 1's level correction to take, and the highlight gain. The untrained model is a classical renderer:
    no correction (``correction = 0``, a ReZero-style scale) and highlights ``highlight_gain`` times brighter.

    Args:
        diameters: the stack's blur diameters, px.
        highlight_gain: the gain of clipped highlights at initialisation (1: as shot).
        learn_highlight_gain: False keeps the gain as initialised (a parameter that training does not move).
    """

    def __init__(self, diameters: Sequence[float] = DEFAULT_STACK, highlight_gain: float = 1.0,
                 learn_highlight_gain: bool = True) -> None:
        super().__init__()
        self.stack = BlurStack(diameters)
        self.correction = nn.Parameter(torch.zeros(()))
        self.log_highlight_gain = nn.Parameter(torch.tensor(math.log(highlight_gain) / SCALAR_RATE),
                                               requires_grad=learn_highlight_gain)

    @property
    def top(self) -> int:
        """``L``: levels run from ``-L`` (nearest) to ``L``."""
        return len(self.stack.diameters)

    def level(self, defocus: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
        """The level each pixel is rendered at: the defocus map's own (:func:`signed_level`) plus ``L * correction *
        share``, clamped to ``[-L, L]``; ``correction`` ``(B, 1, H, W)`` in [-1, 1] (stage 1's)."""
        share = SCALAR_RATE * self.correction
        level = signed_level(defocus, self.stack.diameters) + self.top * share * correction
        return level.clamp(-self.top, self.top)

    def highlight_gain(self) -> torch.Tensor:
        """The learned gain of clipped highlights (1 at initialisation)."""
        return (SCALAR_RATE * self.log_highlight_gain).exp()

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return layered(x, level, self.stack, self.highlight_gain())


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` sRGB -> linear light in [0, 1] (the exact sRGB curve, as the synthetic renderer's)."""
    u = ((x + 1) / 2).clamp(0, 1)
    return torch.where(u <= 0.04045, u / 12.92, ((u + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: torch.Tensor) -> torch.Tensor:
    """Linear light -> ``[-1, 1]`` sRGB, clipped at white; ``v + 1e-8`` under the power bounds its gradient at 0."""
    v = v.clamp(0, 1)
    return torch.where(v <= 0.0031308, v * 12.92, 1.055 * (v + 1e-8) ** (1 / 2.4) - 0.055) * 2 - 1


def defocus_tensor(defocus: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``defocus`` as ``(B, 1, H, W)`` on ``like``'s device and dtype; ``(B, H, W)`` is accepted.

    Raises:
        ValueError: not one map per image of ``like`` ``(B, 3, H, W)``, at its size.
    """
    if not isinstance(defocus, torch.Tensor):
        raise ValueError("a depth-aware GlassNet takes a defocus map (B, 1, H, W), not a number")  # noqa: TRY004
    if defocus.ndim == 3:
        defocus = defocus[:, None]
    b, _, h, w = like.shape
    if defocus.shape != (b, 1, h, w):
        raise ValueError(f"the defocus map must be (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(defocus.shape)}")
    return defocus.to(like)


class DefocusGate(nn.Module):
    """``photo - tanh(k * reach(|defocus|)) * (photo - output)``: the photo comes back exactly where no pixel within
    :data:`GATE_REACH` px is out of focus, and wherever the map is 0, everywhere for a map of zeros. ``reach`` is a max
    pool of ``2 * GATE_REACH + 1`` px, so a blurred neighbour can still spread over an in-focus pixel next to it;
    ``k = exp(log_scale)`` is learned (10 at initialisation: the output's share is 0.76 at 0.1 px, 1 from 0.3 px).

    ``forward(photo, output, defocus)``: ``(B, 3, H, W)``, ``(B, 3, H, W)`` and ``(B, 1, H, W)`` -> ``(B, 3, H, W)``.
    """

    def __init__(self, scale: float = 10.0, reach: int = GATE_REACH) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.reach = reach

    def weight(self, defocus: torch.Tensor) -> torch.Tensor:
        """The output's share, ``(B, 1, H, W)`` in [0, 1): 0 where nothing within reach is out of focus."""
        size = F.max_pool2d(defocus.abs(), 2 * self.reach + 1, stride=1, padding=self.reach)
        return torch.tanh(size * self.log_scale.exp())

    def forward(self, photo: torch.Tensor, output: torch.Tensor, defocus: torch.Tensor) -> torch.Tensor:
        return photo - self.weight(defocus.to(output.dtype)) * (photo - output)


def refuse_depth_aware(model: nn.Module, command: str) -> None:
    """One line for a command that cannot give a depth-aware model its defocus map (``model.takes_defocus``).

    Raises:
        BgganError: ``model`` takes a defocus map.
    """
    if getattr(model, "takes_defocus", False):
        raise BgganError(f"{command} does not give a depth-aware generator its depth; render one with bggan-render "
                         "PHOTO --depth FILE, score it with bench/depth_aware.py")
