"""Glass-Net rewritten for conversion: the same numbers, in ops whose layout no converter can misread.

:class:`ExportGraph` runs a :class:`~bggan.models.glassnet.GlassNet`'s own weights at one fixed
input size and returns the final image only. Compared with ``GlassNet.forward`` it

* normalizes with the average-pool form (constant full-map windows: AVERAGE_POOL_2D in TFLite);
* never concatenates: ``conv(concat(a, b)) == conv_a(a) - conv_{-b}(b)`` with the kernel split
  along its input channels, so the graph has no Concat whose axis a layout pass could confuse when
  a channel count equals a spatial size (at 1024x1536 the bottleneck is 128 channels at 128x192);
* never adds two feature maps: skips are written ``x - (-y)`` (see :func:`residual`), exactly;
* has only static shapes: paddings and pool windows are Python ints, so the traced graph holds
  no Shape/Gather arithmetic.

Input ``(1, 3, H, W)`` in [-1, 1], ``H`` and ``W`` multiples of 8 -> ``(1, 3, H, W)`` in [-1, 1]. A generator with
the aperture as an input (:mod:`bggan.models.condition`) also takes its strength, ``(1, 1, 1, 1)`` float32
(``1.8 / f-number``, 0 for no blur), and uses it in GPU-friendly ops only:

* ``"channel"``: the constant strength channel is never built by a broadcast or a concat. Its share of a stage's
  first convolution is ``- conv(-s_map, K_s)`` with ``-s_map = zeros - s``, where the zeros are a 1x1 convolution
  of the photo with a zero kernel (exact: ``0 * x`` sums to 0) and ``- s`` is the only broadcast, of one value.
* ``"film"``: each residual branch is scaled and shifted per channel, ``gamma = s * w + b``: MUL and SUB of
  ``(1, C, 1, 1)`` maps, then of the branch by them.
* a gate (``GlassNet(gate=True)``): ``x - g * (x - out)`` with ``g = tanh(s * k)``, ``k`` a ``(1, 3, 1, 1)`` constant
  (a scalar constant gained a RESHAPE): per-channel MUL and TANH, as FiLM's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bggan.errors import BgganError
from bggan.models.blocks import InstanceNorm, ResidualBlock, same_padding
from bggan.models.glassnet import SIZE_MULTIPLE, GlassNet


def conv_same(x: torch.Tensor, conv: nn.Conv2d, weight: torch.Tensor | None = None,
              bias: bool = True) -> torch.Tensor:
    """``conv`` with TensorFlow "same" padding as a zero Pad (fused into the Conv after export)."""
    top, bottom = same_padding(int(x.shape[-2]), conv.kernel_size[0], conv.stride[0])
    left, right = same_padding(int(x.shape[-1]), conv.kernel_size[1], conv.stride[1])
    if (top, bottom, left, right) != (0, 0, 0, 0):
        x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, conv.weight if weight is None else weight, conv.bias if bias else None, conv.stride)


def conv_split(parts: list[torch.Tensor], conv: nn.Conv2d | nn.ConvTranspose2d,
               negated_last: bool = False, weight: torch.Tensor | None = None) -> torch.Tensor:
    """``conv(torch.cat(parts, 1))`` as one convolution per part, combined with Sub (see :func:`residual`).

    ``conv(cat(a, b)) == conv(a, K_a) - conv(b, -K_b)``; the bias goes to the first part. ``negated_last``: the
    last part is given as its negative, ``-b`` (then ``- conv(-b, K_b)``). ``weight``: used instead of
    ``conv.weight`` (a copy with some input channels scaled, say).
    """
    transposed = isinstance(conv, nn.ConvTranspose2d)
    kernels = (conv.weight if weight is None else weight).split([int(p.shape[1]) for p in parts], dim=0 if transposed else 1)
    out = None
    for i, (part, kernel) in enumerate(zip(parts, kernels, strict=True)):
        bias = conv.bias if i == 0 else None
        kernel = kernel if i == 0 or (negated_last and i == len(parts) - 1) else -kernel
        if transposed:
            y = F.conv_transpose2d(part, kernel, bias, conv.stride, conv.padding)
        else:
            y = conv_same(part, conv, kernel, bias=i == 0)
        out = y if out is None else out - y
    return out


def residual(x: torch.Tensor, block: ResidualBlock, strength: torch.Tensor | None = None) -> torch.Tensor:
    """The residual block with its skip as ``x - (-y)``: exact, and never an Add of two feature maps.

    onnx2tf 1.29's Add compares its NHWC result with the ONNX (NCHW) output shape and, when they
    differ, transposes both inputs to NCHW; later ops then guess the layout back, wrongly where a
    channel count equals a spatial size. Sub has no such step. A FiLM block (``strength`` ``(1, 1, 1, 1)``)
    scales and shifts its branch: ``-(y (1 + gamma) + beta) = (-y) (1 + gamma) - beta``.
    """
    y = F.relu(block.norm1.pooled(conv_same(x, block.conv1)))
    negated = block.norm2.pooled(conv_same(y, block.conv2), negate=True)
    if block.film is not None:
        weight, bias = block.film.linear.weight[:, 0], block.film.linear.bias  # (2C,): gamma then beta
        c = negated.shape[1]
        gamma = strength * weight[:c].view(1, c, 1, 1) - (-1 - bias[:c]).view(1, c, 1, 1)  # 1 + gamma
        beta = strength * weight[c:].view(1, c, 1, 1) - (-bias[c:]).view(1, c, 1, 1)
        negated = negated * gamma - beta
    return F.relu(x - negated)


def negated_strength_map(x: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """``(1, 1, H, W)`` filled with ``-strength`` (``strength`` ``(1, 1, 1, 1)``), built from ``x`` ``(1, C, H, W)``
    without a broadcast of a map: a 1x1 convolution with a zero kernel (zeros, exactly, for finite ``x``) minus the
    strength. Negated because a SUB of the one value converts to plain TFLite ops where an ADD gained a RESHAPE and
    ``+ (-s)`` a NEG (neither on the GPU list); :func:`conv_split` takes it with ``negated_last``."""
    return F.conv2d(x, x.new_zeros(1, x.shape[1], 1, 1)) - strength


def rough_body(stage: nn.Module, y: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
    """Stage 1 (:class:`~bggan.models.glassnet.RoughStage`) after its first convolution: ``y`` is that convolution's
    ReLU output ``(1, c, H, W)``; returns the decoder's output ``(1, c, H, W)``, before the stage's head and output
    convolution."""
    for layer in stage.encoder[1:]:
        y = F.relu(conv_same(y, layer[0]))
    e4 = y
    for block in stage.res:
        y = residual(y, block, strength)
    y = F.relu(conv_split([y, e4], stage.decoder[0][0]))
    for layer in stage.decoder[1:]:
        y = F.relu(F.conv_transpose2d(y, layer[0].weight, layer[0].bias, layer[0].stride, layer[0].padding))
    return y


def refine_body(stage: nn.Module, y: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
    """Stage 2 (:class:`~bggan.models.glassnet.RefineStage`) after its first convolution (``y``, its ReLU output):
    returns the output convolution's ``(1, 3, H, W)``, before the tanh."""
    feats = [y]
    for layer in stage.encoder[1:]:
        y = F.relu(conv_same(y, layer[0]))
        feats.append(y)
    y = F.relu(conv_same(y, stage.bridge[0]))
    for block in stage.res:
        y = residual(y, block, strength)
    for up, skip in zip(stage.decoder, feats[:0:-1], strict=True):
        y = F.relu(conv_split([skip, y], up[0]))
    return conv_same(y, stage.out)


class ExportGraph(nn.Module):
    """A GlassNet's final output at a fixed size, in conversion-friendly ops (see module doc).

    Args:
        generator: the model; its weights are shared, not copied. Put in eval mode (no dropout).
        height, width: the fixed input size, multiples of 8.
    """

    def __init__(self, generator: GlassNet, height: int, width: int) -> None:
        super().__init__()
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE or min(height, width) < SIZE_MULTIPLE:
            raise BgganError(f"export size must be multiples of {SIZE_MULTIPLE} (HxW), got {height}x{width}")
        self.generator = generator.eval()
        self.height, self.width, self.condition = height, width, generator.condition
        gate = generator.gate
        self.gate_scale = None if gate is None else float(gate.log_scale.detach().exp())  # a constant in the graph

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(1, 3, H, W)``, and ``strength`` ``(1, 1, 1, 1)`` for a generator with the aperture as an input."""
        if (strength is None) != (self.condition is None):
            raise ValueError("this graph takes the strength as a second input" if strength is None
                             else "this graph takes no strength")
        rough_stage, refine_stage = self.generator.rough, self.generator.refine
        channel = self.condition == "channel"
        s_map = negated_strength_map(x, strength) if channel else None
        first = conv_split([x, s_map], rough_stage.encoder[0][0], negated_last=True) if channel \
            else conv_same(x, rough_stage.encoder[0][0])
        rough = torch.tanh(conv_same(rough_body(rough_stage, F.relu(first), strength), rough_stage.out))
        first = conv_split([rough, x - rough, *([s_map] if channel else [])], refine_stage.encoder[0][0],
                           negated_last=channel)
        out = torch.tanh(refine_body(refine_stage, F.relu(first), strength))
        if self.gate_scale is None:
            return out
        share = torch.tanh(strength * x.new_full((1, 3, 1, 1), self.gate_scale))  # (1, 3, 1, 1), as FiLM's gamma
        return x - share * (x - out)


#: The largest finite float16: what a GPU's fp16 path holds before it overflows to inf.
FP16_MAX = 65504.0


class SquaredDeviationPeak:
    """While entered, records the largest ``(x - mean)^2`` the generator's normalizations form, over every forward
    pass (read ``value`` after): measured on the reference run itself, not by a second one.

    It is the largest value the export's normalization computes (its variance is a mean of these; the
    released form's sum ``N * var`` is never formed, see :meth:`~bggan.models.blocks.InstanceNorm.pooled`):
    past :data:`FP16_MAX` a GPU's fp16 path overflows to inf there.
    """

    def __init__(self, generator: GlassNet) -> None:
        self.generator, self.value, self._hooks = generator, 0.0, []

    def _record(self, module, inputs, output) -> None:
        x = inputs[0].double()
        self.value = max(self.value, float(((x - x.mean(dim=(-2, -1), keepdim=True)) ** 2).max()))

    def __enter__(self) -> SquaredDeviationPeak:  # noqa: PYI034
        self._hooks = [m.register_forward_hook(self._record) for m in self.generator.modules()
                       if isinstance(m, InstanceNorm)]
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
