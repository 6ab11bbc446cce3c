"""The depth-aware Glass-Net rewritten for conversion: the same numbers as ``GlassNet(condition="defocus")``, in ops the
TFLite GPU delegate runs.

:class:`DepthExportGraph` takes the photo ``(1, 3, H, W)`` in [-1, 1] and its defocus map ``(1, 1, H, W)`` (signed px,
:mod:`bggan.models.defocus`) and returns the final image ``(1, 3, H, W)`` in [-1, 1]; ``H`` and ``W`` multiples of the
model's :attr:`~bggan.models.glassnet.GlassNet.size_multiple` (16 with the default blur stack). Besides the rules of
:mod:`bggan.export.graph` (no Concat, no Add of two maps, static shapes) it writes

* every scale-and-shift of a map, and every pick or sum of its channels, as a 1x1 convolution (:func:`affine`): no
  scalar constant that a converter broadcasts with a RESHAPE, no channel slice (STRIDED_SLICE);
* the defocus map's share of a stage's first convolution with the kernel scaled by ``1 / DEFOCUS_SCALE``;
* piecewise-linear functions (the stack level of a blur size, each layer's share of a pixel, clamps) with ReLUs whose
  pieces are exactly 0 or 1 away from their own range, so that a GPU's fp16 never leaks a pixel into a far layer;
* ``torch.where`` of the sRGB curves as a blend of its two branches by a ramp 1e-4 wide (the branches meet there; the
  difference is below 2e-5) and the power's base kept above the threshold, so POW never sees 0;
* the channel maximum of the highlight detector as ``max(a, b) = b - ((b - a) - relu(b - a))``;
* divisions as products with ``rsqrt(c) ** 2`` (RSQRT and MUL), on maps of exactly 4 channels. Measured on LiteRT's
  GPU accelerator (Mesa's lavapipe): RSQRT then a 1x1 convolution is NaN at 3 and 5 channels, right at 4 and 8.
  Likely (read off probes, not LiteRT's source): the GPU keeps a map in slices of 4 channels and runs an elementwise
  op on the unused ones too, which hold 0; RSQRT makes them inf, and a convolution that reads the slice multiplies
  that by a zero weight: NaN, which spreads. (Glass-Net's own normalizations are safe: their maps have ``8 c``
  channels.);
* the layers' colour and coverage as one 4-channel map, so one depthwise convolution blurs both.

The blur's depthwise convolutions keep their zero padding inside (the converter makes it SAME padding: no PAD op).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bggan.errors import BgganError
from bggan.export.graph import conv_same, conv_split, refine_body, rough_body
from bggan.models.defocus import DEFOCUS_SCALE, HIGHLIGHT_FROM, SCALAR_RATE
from bggan.models.glassnet import GlassNet

#: Width of the ramp that stands for the sRGB curves' switch between their linear and power branches (of [0, 1]).
RAMP_WIDTH = 1e-4
SRGB_DECODE_AT, SRGB_ENCODE_AT = 0.04045, 0.0031308
#: The floor of the layered render's coverage before it is divided out (as :func:`~bggan.models.defocus.layered`).
COVERAGE_FLOOR = 1e-3


def affine(x: torch.Tensor, weight: Sequence[Sequence[float]] | torch.Tensor,
           bias: Sequence[float] | None = None) -> torch.Tensor:
    """``weight @ x + bias`` per pixel, a 1x1 convolution: ``x`` ``(1, C, H, W)``, ``weight`` ``(C', C)`` -> ``(1, C',
    H, W)``."""
    w = torch.as_tensor(weight, dtype=x.dtype)
    b = None if bias is None else torch.as_tensor(bias, dtype=x.dtype)
    return F.conv2d(x, w[:, :, None, None], b)


def eye(c: int, scale: float = 1.0) -> torch.Tensor:
    return torch.eye(c) * scale


def clamp01(x: torch.Tensor) -> torch.Tensor:
    """``x.clamp(0, 1)`` as ``relu(x) - relu(x - 1)``."""
    c = x.shape[1]
    return F.relu(x) - F.relu(affine(x, eye(c), [-1.0] * c))


def step(x: torch.Tensor, at: float) -> torch.Tensor:
    """0 below ``at``, 1 from ``at + RAMP_WIDTH``, linear between: ``relu(1 - relu(1 - z))``, ``z = (x - at) /
    RAMP_WIDTH`` (an overflow of ``z`` to +-inf in fp16 still gives 1 or 0)."""
    c = x.shape[1]
    z = affine(x, eye(c, -1 / RAMP_WIDTH), [1 + at / RAMP_WIDTH] * c)  # 1 - z
    return F.relu(affine(F.relu(z), eye(c, -1.0), [1.0] * c))


def channel_max(x: torch.Tensor) -> torch.Tensor:
    """``x.amax(1, keepdim=True)`` of ``(1, 3, H, W)`` with ``max(a, b) = b - ((b - a) - relu(b - a))``."""
    b = affine(x, [[0.0, 1.0, 0.0]])
    d = affine(x, [[-1.0, 1.0, 0.0]])
    m = b - (d - F.relu(d))
    c = affine(x, [[0.0, 0.0, 1.0]])
    d = c - m
    return c - (d - F.relu(d))


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """:func:`bggan.models.defocus.srgb_to_linear`: ``(1, 3, H, W)`` in [-1, 1] -> linear light in [0, 1]."""
    u = clamp01(affine(x, eye(3, 0.5), [0.5] * 3))
    linear = u * x.new_full((1, 3, 1, 1), 1 / 12.92)
    power = affine(u, eye(3, 1 / 1.055), [0.055 / 1.055] * 3) ** 2.4  # base >= 0.052
    return linear - step(u, SRGB_DECODE_AT) * (linear - power)


def linear_to_srgb(v: torch.Tensor) -> torch.Tensor:
    """:func:`bggan.models.defocus.linear_to_srgb`: linear light ``(1, 3, H, W)`` -> sRGB in [-1, 1]."""
    v = clamp01(v)
    linear = v * v.new_full((1, 3, 1, 1), 12.92)
    below = affine(v, eye(3), [-SRGB_ENCODE_AT] * 3)
    base = v - (below - F.relu(below))  # max(v, threshold): POW never sees 0
    power = affine(base ** (1 / 2.4), eye(3, 1.055), [-0.055] * 3)
    return affine(linear - step(v, SRGB_ENCODE_AT) * (linear - power), eye(3, 2.0), [-1.0] * 3)


def reciprocal(x: torch.Tensor) -> torch.Tensor:
    """``1 / x`` (``x > 0``) as ``rsqrt(x) ** 2``: RSQRT and MUL. ``x`` must have 4 channels (see module doc).

    Raises:
        ValueError: another channel count.
    """
    if x.shape[1] != 4:
        raise ValueError(f"rsqrt on the GPU needs a map of 4 channels, got {x.shape[1]}")
    r = torch.rsqrt(x)
    return r * r


def scaled_input(conv: nn.Conv2d, channels: slice, scale: float) -> torch.Tensor:
    """A copy of ``conv``'s kernel with its input ``channels`` times ``scale``."""
    weight = conv.weight.detach().clone()
    weight[:, channels] *= scale
    return weight


class DepthExportGraph(nn.Module):
    """A depth-aware GlassNet's final output at a fixed size, in GPU-delegate ops (see module doc).

    Args:
        generator: the model (``condition="defocus"``); its weights are shared, not copied. Put in eval mode.
        height, width: the fixed input size, multiples of ``generator.size_multiple``.
    """

    def __init__(self, generator: GlassNet, height: int, width: int) -> None:
        super().__init__()
        if not generator.takes_defocus:
            raise BgganError("DepthExportGraph takes a depth-aware generator (condition=defocus)")
        m = generator.size_multiple
        if height % m or width % m or min(height, width) < m:
            raise BgganError(f"export size must be multiples of {m} (HxW), got {height}x{width}")
        self.generator = generator.eval()
        self.height, self.width, self.condition = height, width, generator.condition
        rough, refine = generator.rough, generator.refine
        # the defocus map enters each stage's first convolution (and stage 1's head) divided by DEFOCUS_SCALE
        self.rough_first = scaled_input(rough.encoder[0][0], slice(3, 4), 1 / DEFOCUS_SCALE)
        self.refine_first = scaled_input(refine.encoder[0][0], slice(6, 7), 1 / DEFOCUS_SCALE)
        self.head = None if rough.head is None else scaled_input(rough.head[0], slice(-1, None), 1 / DEFOCUS_SCALE)
        renderer = generator.renderer
        self.stack = None if renderer is None else renderer.stack
        if renderer is not None:
            self.correction = float(SCALAR_RATE * renderer.correction.detach()) * renderer.top
            self.highlight_gain = float(renderer.highlight_gain().detach())
            self.refine_share = float(SCALAR_RATE * generator.refine_scale.detach())
        self.gate_scale = None if generator.gate is None else float(generator.gate.log_scale.detach().exp())
        self.gate_reach = None if generator.gate is None else generator.gate.reach

    def forward(self, x: torch.Tensor, defocus: torch.Tensor) -> torch.Tensor:
        """``x`` ``(1, 3, H, W)`` in [-1, 1], ``defocus`` ``(1, 1, H, W)`` px -> ``(1, 3, H, W)`` in [-1, 1]."""
        rough_stage, refine_stage = self.generator.rough, self.generator.refine
        y = F.relu(conv_split([x, defocus], rough_stage.encoder[0][0], weight=self.rough_first))
        y = rough_body(rough_stage, y)
        if self.head is not None:
            y = F.relu(conv_split([y, x, defocus], rough_stage.head[0], weight=self.head))
        out = torch.tanh(conv_same(y, rough_stage.out))
        rough = out if self.stack is None else self.layered(x, self.level(defocus, out))
        first = conv_split([rough, x - rough, defocus], refine_stage.encoder[0][0], weight=self.refine_first)
        out = torch.tanh(refine_body(refine_stage, F.relu(first)))
        if self.stack is not None:
            out = rough - out * x.new_full((1, 3, 1, 1), -self.refine_share)
        if self.gate_scale is None:
            return out
        size = F.relu(defocus) - (defocus - F.relu(defocus))  # |defocus|
        size = F.max_pool2d(size, 2 * self.gate_reach + 1, stride=1, padding=self.gate_reach)
        weight = torch.tanh(affine(size, [[self.gate_scale]] * 3))
        return x - weight * (x - out)

    def level(self, defocus: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
        """:meth:`~bggan.models.defocus.LayeredRenderer.level` before its clamp (:meth:`layered` clamps): ``(1, 1, H,
        W)``. The stack level of ``|defocus|`` is the sum over the stack's pieces ``(lo, hi]`` of ``relu(w -
        relu(hi - s)) / w``, ``w = hi - lo``: each piece 0 below, 1 above, exactly."""
        highs = list(self.stack.diameters)
        widths = [hi - lo for lo, hi in zip([0.0, *highs[:-1]], highs, strict=True)]
        n = len(highs)
        gap = F.relu(affine(defocus, [[-1.0]] * n + [[1.0]] * n, highs + highs))  # relu(hi - d), relu(hi + d)
        pieces = F.relu(affine(gap, -torch.eye(2 * n), widths + widths))
        signed = affine(pieces, [[1 / w for w in widths] + [-1 / w for w in widths]])
        return signed - affine(correction, [[-self.correction]])

    def layered(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """:func:`~bggan.models.defocus.layered` at ``level`` ``(1, 1, H, W)`` (unclamped), with the generator's
        highlight gain: ``(1, 3, H, W)`` in [-1, 1]."""
        light = srgb_to_linear(x)
        highlights = clamp01(affine(channel_max(x), [[0.5 / (1 - HIGHLIGHT_FROM)]],
                                    [(0.5 - HIGHLIGHT_FROM) / (1 - HIGHLIGHT_FROM)]))
        light = light * affine(highlights, [[self.highlight_gain - 1]] * 3, [1.0] * 3)
        light = affine(light, [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, 0]], [0.0, 0.0, 0.0, 1.0])  # + coverage
        top = len(self.stack.diameters)
        inverse_cover = {}
        state = None
        for k in range(top, -top - 1, -1):  # far to near
            blurred = self.blur(light * self.share(level, k, top), abs(k), inverse_cover)
            if state is None:
                state = blurred
            else:
                state = blurred - affine(blurred, [[0, 0, 0, 1.0]] * 4, [-1.0] * 4) * state  # b + (1 - a) * state
        cover = F.relu(affine(state, [[0, 0, 0, 1.0]] * 4, [-COVERAGE_FLOOR] * 4))
        cover = affine(cover, eye(4), [COVERAGE_FLOOR] * 4)  # max(coverage, floor), in all 4 channels
        colour = affine(state * reciprocal(cover), [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
        return linear_to_srgb(colour)

    @staticmethod
    def share(level: torch.Tensor, k: int, top: int) -> torch.Tensor:
        """Layer ``k``'s share of each pixel, ``relu(1 - |clamp(level, -top, top) - k|)`` ``(1, 1, H, W)``: the hat
        ``relu((1 - u) - relu(-2u))``, ``u = level - k``, exactly 0 for ``|u| >= 1``; at the ends a ramp to 1."""
        if k == top:  # clamp(level - top + 1, 0, 1)
            return F.relu(affine(level, [[1.0]], [1.0 - top])) - F.relu(affine(level, [[1.0]], [-float(top)]))
        if k == -top:
            return F.relu(affine(level, [[-1.0]], [1.0 - top])) - F.relu(affine(level, [[-1.0]], [-float(top)]))
        return F.relu(affine(level, [[-1.0]], [1.0 + k]) - F.relu(affine(level, [[-2.0]], [2.0 * k])))

    def blur(self, x: torch.Tensor, level: int, inverse_cover: dict) -> torch.Tensor:
        """:meth:`~bggan.models.defocus.BlurStack.blur` of ``(1, C, H, W)``; the zero padding's share is divided out
        with the reciprocal of the blurred map of ones, made once per level in ``inverse_cover``."""
        if level == 0:
            return x
        p = self.stack.factors[level - 1]
        kernel = self.stack.kernels()[level - 1].to(x.dtype)
        y = x if p == 1 else F.avg_pool2d(x, p)
        k = kernel.shape[-1]
        if k > 1:
            c = y.shape[1]
            if level not in inverse_cover:  # the blurred map of ones, in 4 channels
                ones = affine(y, torch.zeros(1, c), [1.0])  # (1, 1, h, w) of ones, from y's size
                inverse_cover[level] = reciprocal(F.conv2d(ones, kernel.expand(4, 1, k, k), padding=k // 2))
            y = F.conv2d(y, kernel.expand(c, 1, k, k), padding=k // 2, groups=c) * inverse_cover[level]
        return y if p == 1 else F.interpolate(y, scale_factor=p, mode="bilinear", align_corners=False)
