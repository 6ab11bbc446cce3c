"""Building blocks shared by the generator and the critics.

Two facts of the released TensorFlow model live here:

* convolutions pad like TensorFlow's ``padding="same"``, which is asymmetric for a stride-2
  convolution on an even size (0 before, 1 after; PyTorch's ``padding=1`` would shift the
  result by one pixel);
* the released "InstanceNormalization" divides by the square root of the *sum* of squared
  deviations over H x W, not their mean (``norm="official"``).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

#: The normalizations: the released formula (sum of squared deviations) and textbook instance norm.
Norm = Literal["official", "instance"]
NORMS = get_args(Norm)
NORM_FORMS = ("reduce", "pool")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding along one axis.

    Args:
        size: input length along the axis.
        kernel: kernel length.
        stride: stride.

    Returns:
        ``(before, after)``; the output length is ``ceil(size / stride)``.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "same" padding computed from the input size.

    Symmetric padding goes to the convolution itself; only asymmetric padding (stride 2 on
    even sizes, even kernels) costs an explicit ``F.pad``.
    Input ``(B, C_in, H, W)`` -> output ``(B, C_out, ceil(H / s), ceil(W / s))``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        x = zero_padded(x, left, right, top, bottom) if eager_inference() else F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride)


def eager_inference() -> bool:
    """No autograd, and no tracer (``torch.export`` and so the ONNX export, ``torch.compile``, ``torch.jit.trace``):
    where the eager-only fast paths apply. A traced graph keeps the plain ops (a ``Pad``, not slice writes)."""
    return not (torch.is_grad_enabled() or torch.compiler.is_compiling() or torch.jit.is_tracing())


def zero_padded(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """``F.pad(x, (left, right, top, bottom))`` of a ``(B, C, H, W)`` map in its memory format, writing each value once:
    ``F.pad`` zeroes the whole output before copying ``x`` in (a 24-channel 1024x1536 map: 59 ms of 78 here)."""
    b, c, h, w = x.shape
    out = torch.empty(b, c, top + h + bottom, left + w + right, dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
                      and not x.is_contiguous() else torch.contiguous_format)
    for border in (out[..., :top, :], out[..., top + h:, :], out[..., :, :left], out[..., :, left + w:]):
        border.zero_()
    out[..., top:top + h, left:left + w].copy_(x)
    return out


def released_norm_part(area: int, eps: float = 1e-5, smallest: float = 1e-7) -> int:
    """``M`` of the pool form's ``N v + eps == (N / M) (M v + M eps / N)``: ``min(N, 256)``, raised where ``M eps / N``
    would fall under ``smallest``: the ONNX exporter's optimizer drops an Add of a constant under about 1e-8 as
    an Add of 0, and the eps must stay (a constant map has ``v == 0``)."""
    return max(min(area, 256), math.ceil(area * smallest / eps))


class InstanceNorm(nn.Module):
    """Per-sample, per-channel normalization over H x W, without affine parameters.

    ``kind="official"`` is the released model's formula, with ``N = H * W``::

        y = (x - mean) / sqrt(N * var + eps)      # N * var = sum of squared deviations

    ``kind="instance"`` is textbook instance normalization, ``(x - mean) / sqrt(var + eps)``.

    ``form`` only changes how the numbers are computed: ``"reduce"`` (fast, any size) or
    ``"pool"``, built from ``avg_pool2d`` over the whole feature map. Traced at a fixed input
    size the pool form becomes AVERAGE_POOL_2D ops with constant kernels, which the TFLite
    GPU delegate runs (reductions over axes it does not). Both forms agree within float32
    rounding. Input and output ``(B, C, H, W)``; the reduce form computes in at least float32
    and returns the input's dtype (mixed precision keeps full-precision statistics).
    """

    def __init__(self, kind: str = "official", form: str = "reduce", eps: float = 1e-5) -> None:
        super().__init__()
        if kind not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")
        if form not in NORM_FORMS:
            raise ValueError(f"norm form must be one of {NORM_FORMS}, got {form!r}")
        self.kind, self.form, self.eps = kind, form, eps

    def extra_repr(self) -> str:
        return f"kind={self.kind}, form={self.form}, eps={self.eps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        area = x.shape[-2] * x.shape[-1]
        scale = area if self.kind == "official" else 1
        if self.form == "reduce":
            if area == 1:  # x - mean is 0; F.instance_norm refuses a 1x1 map (x - x keeps autograd's graph)
                return x - x
            if _rows_form_applies(x):
                return _normalize_rows(x, scale, self.eps)
            # (x - m) / sqrt(N v + eps) == instance_norm(x, eps / N) / sqrt(N): one fused kernel. Statistics
            # over a whole feature map are taken in float32 even under bf16/fp16 autocast.
            wide = x.to(torch.promote_types(x.dtype, torch.float32))
            return (F.instance_norm(wide, eps=self.eps / scale) / math.sqrt(scale)).to(x.dtype)
        return self.pooled(x)

    def pooled(self, x: torch.Tensor, negate: bool = False) -> torch.Tensor:
        """The pool form, windows fixed at ``x``'s size (Python ints: constants when traced for export).

        ``negate=True`` returns ``-y`` exactly (the centring is ``mean - x``), for graphs that write
        ``a + y`` as ``a - (-y)`` (see :mod:`bggan.export.graph`).
        """
        window = (int(x.shape[-2]), int(x.shape[-1]))
        mean = F.avg_pool2d(x, window)
        centred = mean - x if negate else x - mean
        var = F.avg_pool2d(centred * centred, window)
        if self.kind == "official":
            area = window[0] * window[1]
            part = released_norm_part(area, self.eps)
            # N v + eps == (N / M) (M v + M eps / N): the sum N v, which passes fp16's 65504 (a GPU's fp16 path
            # then gives inf) once v > 65504 / N (v > 2.7 at 1024x1536), is never formed; M v is, up to v = 65504 / M
            return (centred * math.sqrt(part / area)) * torch.rsqrt(var * float(part) + self.eps * part / area)
        return centred * torch.rsqrt(var + self.eps)


def _rows_form_applies(x: torch.Tensor) -> bool:
    """Inference (no autograd) on a channels-last float32 or bfloat16 map on the CPU: :func:`_normalize_rows`
    instead of ``F.instance_norm``, which copies such a map to NCHW and back (3.5x slower at 192x128x192 here)."""
    return (not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
            and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())


def _normalize_rows(x: torch.Tensor, scale: int, eps: float) -> torch.Tensor:
    """``(x - mean) / sqrt(scale * var + eps)`` of a channels-last ``(B, C, H, W)`` map, same layout and dtype out.

    The memory of a channels-last map is ``(B, H*W, C)``: the statistics are column reductions of that view
    in float32 (two passes, exact: the mean, then the squared deviations from it), and the result is written
    over the centred copy. Within float32 rounding of ``F.instance_norm``.
    """
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c).float()  # a view of float32 memory, else a float32 copy
    centred = rows - rows.mean(1, keepdim=True)
    ssd = (centred * centred).sum(1, keepdim=True)  # sum of squared deviations, N * var
    y = centred.mul_(torch.rsqrt(ssd * (scale / (h * w)) + eps)).view(b, h, w, c).permute(0, 3, 1, 2)
    return y.to(x.dtype)


def norm_affine(x: torch.Tensor, kind: str, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:class:`InstanceNorm` of a channels-last float32 ``(B, C, H, W)`` map as ``x * scale + shift``, both ``(B, 1, C)``
    (per sample and channel, to multiply the map's ``(B, H*W, C)`` memory), from two passes: the sums of ``x`` and of
    ``x^2``. The variance ``E[x^2] - E[x]^2`` cancels in float32 (relative error ``1e-7 mean^2 / var``), against
    the five passes of :func:`_normalize_rows`'s exact two-pass form; inference only."""
    b, c, h, w = x.shape
    n = h * w
    rows = x.permute(0, 2, 3, 1).reshape(b, n, c)  # a view of channels-last memory
    mean = rows.sum(1, keepdim=True) / n
    var = ((rows * rows).sum(1, keepdim=True) / n - mean * mean).clamp_min_(0)
    scale = torch.rsqrt(var * (n if kind == "official" else 1) + eps)
    return scale, -mean * scale


def normalize_(x: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
    """:class:`InstanceNorm` of a channels-last float32 map written over ``x`` (:func:`norm_affine`, then one
    multiply-add: three passes instead of five); returns ``x``. Inference only."""
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).view(b, h * w, c)  # channels-last memory
    scale, shift = norm_affine(x, kind, eps)
    torch.addcmul(shift, rows, scale, out=rows)
    return x


class ConvReLU(nn.Sequential):
    """3x3 convolution without bias ("same" padding, stride 1 or 2), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(Conv2dSame(in_channels, out_channels, 3, stride, bias=False),
                         nn.ReLU(inplace=True))


class UpConvReLU(nn.Sequential):
    """4x4 stride-2 transposed convolution with bias, then ReLU: ``(B, C, H, W)`` -> ``(B, C', 2H, 2W)``.

    ``padding=1`` here is exactly TensorFlow's ``Conv2DTranspose(4, 2, "same")``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, padding=1),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """The released residual block, at constant width and size.

    ``conv3x3 -> norm -> ReLU -> Dropout -> conv3x3 -> norm``, add the input, ReLU
    (the paper's text gives another order; the released weights use this one).
    ``film=True`` adds a :class:`~bggan.models.condition.FiLM` on the branch before the add, driven by the
    strength ``forward`` then takes; without it the block is exactly the released one.
    """

    def __init__(self, channels: int, norm: Norm = "official", dropout: float = 0.1, film: bool = False) -> None:
        super().__init__()
        from bggan.models.condition import FiLM

        self.conv1 = Conv2dSame(channels, channels, 3, bias=False)
        self.norm1 = InstanceNorm(norm)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = Conv2dSame(channels, channels, 3, bias=False)
        self.norm2 = InstanceNorm(norm)
        self.film = FiLM(channels) if film else None

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        y = self.dropout(F.relu(self.norm1(self.conv1(x))))
        y = self.norm2(self.conv2(y))
        if self.film is not None:
            y = self.film(y, strength)
        return F.relu(x + y)
