"""Winograd F(4x4, 3x3) for the 3x3 stride-1 convolutions of the residual blocks, on the CPU in float32.

A direct 3x3 convolution makes each output pixel with 9 multiplies per input-output channel pair. Winograd's
minimal filtering (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) makes a 4x4 output
tile from a 6x6 input tile with 36: 4x fewer, in exchange for fixed linear transforms of the input tiles and the
output tiles. Here the three steps are matrix products (MKL):

* input tiles ``d`` (6x6, overlapping by 2) -> ``B^T d B``;
* per position of the 6x6 tile, a ``(tiles, C_in) @ (C_in, C_out)`` product with the transformed kernels
  ``G g G^T`` (:func:`winograd_kernel`, one small product per call: kept, they would be 4x the weights);
* ``A^T m A`` back to 4x4 output tiles.

The transformed tiles are 2.25x the feature map, so the work goes a few tile rows at a time through buffers
that stay in the CPU's cache (:func:`conv3x3`). In float32 the result is within about 3e-6 (relative) of the
exact convolution, against about 6e-7 for oneDNN's direct one. :class:`WinogradResidualBlock` also folds the
block's first normalization and ReLU into its second convolution's input copy. ``bench/cpu_paths.py`` measures
what it buys.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bggan.models.blocks import Conv2dSame, ConvReLU, ResidualBlock, eager_inference, norm_affine, normalize_

# F(4, 3): output tile m = 4, kernel r = 3, input tile m + r - 1 = 6 (Lavin & Gray, section 4.2, points 0, +-1, +-2).
_BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
_AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                   dtype=torch.float64)
_BT32, _AT32 = _BT.float(), _AT.float()
_KERNEL = torch.kron(_G, _G).float()  # (36, 9): a flattened 3x3 kernel -> its flattened 6x6 transform
#: Bytes of transformed input tiles per step of :func:`conv3x3` (the CPU's L2 cache, give or take).
CHUNK_BYTES = 3 << 20


def winograd_kernel(weight: torch.Tensor) -> torch.Tensor:
    """``G g G^T`` of every 3x3 kernel: ``(C_out, C_in, 3, 3)`` -> ``(36, C_in, C_out)`` float32, contiguous, from one
    ``(36, 9) @ (9, C_in C_out)`` product (a transposed view instead made the 36 products 5-15% slower)."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"Winograd F(4x4, 3x3) needs 3x3 kernels, got {tuple(weight.shape)}")
    c_out, c_in = weight.shape[:2]
    taps = weight.detach().float().permute(2, 3, 1, 0).reshape(9, c_in * c_out)
    return (_KERNEL @ taps).view(36, c_in, c_out)


def _transform(matrix: torch.Tensor, tiles: torch.Tensor, scratch: torch.Tensor, out: torch.Tensor) -> None:
    """``matrix @ tile @ matrix^T`` of every tile: ``tiles`` ``(6, 6, N)`` -> ``out`` ``(k, k, N)`` for a ``(k, 6)``
    matrix, as two matrix products (along the tile's rows, then its columns) through ``scratch`` ``(k, 6, N)``."""
    torch.mm(matrix, tiles.view(6, -1), out=scratch.view(matrix.shape[0], -1))
    torch.matmul(matrix, scratch, out=out)


def conv3x3(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None = None,
            affine: tuple[torch.Tensor, torch.Tensor] | None = None, relu: bool = False) -> torch.Tensor:
    """A 3x3 stride-1 convolution with zero padding 1 ("same"), the Winograd way, of ``relu(x * scale + shift)``
    (``affine=(scale, shift)``, ``relu=True``; each optional): a normalization and a ReLU before the convolution
    cost no pass of their own.

    Args:
        x: ``(B, C_in, H, W)`` float32 on the CPU, best channels-last (else it is copied to it).
        kernel: ``(36, C_in, C_out)`` from :func:`winograd_kernel`.
        bias: ``(C_out,)`` or None.
        affine: ``(scale, shift)``, each ``(B, 1, C_in)`` (:func:`~bggan.models.blocks.norm_affine`), or None.
        relu: clamp the (scaled) input at 0.

    Returns:
        ``(B, C_out, H, W)`` float32, channels-last.
    """
    b, c, h, w = x.shape
    c_out = kernel.shape[2]
    th, tw = -(-h // 4), -(-w // 4)  # output tiles down and across
    rows = max(1, min(th, CHUNK_BYTES // (36 * tw * c * 4)))  # tile rows per step
    out = torch.empty(b, 4 * th, 4 * tw, c_out)
    # a zero border of 1, and the bottom and right filled up to whole tiles; only the border is zeroed
    padded = torch.empty(4 * th + 2, 4 * tw + 2, c)
    width = padded.shape[1]
    for border in (padded[0], padded[h + 1:], padded[:, 0], padded[:, w + 1:]):
        border.zero_()
    # flat buffers for one step: a shorter last step takes contiguous prefixes of them
    tiles, transformed, scratch = (torch.empty(36 * rows * tw * max(c, c_out)) for _ in range(3))
    products, flat_out = torch.empty(36 * rows * tw * c_out), torch.empty(16 * rows * tw * c_out)
    for i in range(b):
        inside = padded[1:h + 1, 1:w + 1]
        if affine is None:
            inside.copy_(x[i].permute(1, 2, 0))
        else:
            torch.addcmul(affine[1][i], x[i].permute(1, 2, 0), affine[0][i], out=inside)
        for top in range(0, th, rows):
            n = min(rows, th - top)
            # (6, 6, n, tw, C): element (i, j) of every tile, tile (r, t) starting at pixel (4 r, 4 t)
            view = padded[4 * top:].as_strided((6, 6, n, tw, c), (width * c, c, 4 * width * c, 4 * c, 1))
            d, v = tiles[:36 * n * tw * c].view(6, 6, n * tw * c), transformed[:36 * n * tw * c].view(6, 6, -1)
            if relu:  # on tiles in the cache; the zero border stays zero
                torch.clamp_min(view, 0, out=d.view(6, 6, n, tw, c))
            else:
                d.view(6, 6, n, tw, c).copy_(view)
            _transform(_BT32, d, scratch[:36 * n * tw * c].view(6, 6, -1), v)
            m = products[:36 * n * tw * c_out].view(36, n * tw, c_out)
            torch.bmm(v.view(36, n * tw, c), kernel, out=m)
            y = flat_out[:16 * n * tw * c_out]
            _transform(_AT32, m.view(6, 6, -1), scratch[:24 * n * tw * c_out].view(4, 6, -1), y.view(4, 4, -1))
            out[i, 4 * top:4 * (top + n)].view(n, 4, tw, 4, c_out).copy_(y.view(4, 4, n, tw, c_out).permute(2, 0, 3, 1, 4))
    if bias is not None:
        out.add_(bias)
    y = out[:, :h, :w].permute(0, 3, 1, 2)
    return y if y.is_contiguous(memory_format=torch.channels_last) else y.contiguous(memory_format=torch.channels_last)


def _applies(x: torch.Tensor) -> bool:
    """Eager inference (no autograd, no tracer, no autocast) on the CPU in float32."""
    return (eager_inference() and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu"))


class WinogradConv2d(nn.Module):
    """A 3x3 stride-1 :class:`~bggan.models.blocks.Conv2dSame` that runs :func:`conv3x3` in inference on the CPU in
    float32 (no autograd, no autocast), and the convolution itself otherwise. Same shapes as the convolution.
    """

    def __init__(self, conv: Conv2dSame) -> None:
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError(f"Winograd F(4x4, 3x3) is for 3x3 stride-1 convolutions, not {conv}")
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv3x3(x, winograd_kernel(self.conv.weight), self.conv.bias) if _applies(x) else self.conv(x)


class WinogradResidualBlock(nn.Module):
    """:class:`~bggan.models.blocks.ResidualBlock` with Winograd convolutions in float32 CPU inference, and the block
    itself otherwise: ``(B, C, H, W)`` -> same.

    The first normalization and its ReLU happen inside the second convolution's input copy (:func:`conv3x3`), so
    that normalized map is never written; the statistics take two reductions (:func:`~bggan.models.blocks.norm_affine`
    instead of the exact five-pass form) and the last normalization, add and ReLU happen in place.
    """

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.block = block
        self.kind, self.eps = block.norm1.kind, block.norm1.eps

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        if self.training or not _applies(x):
            return self.block(x, strength)
        conv1, conv2 = self.block.conv1, self.block.conv2
        y = conv3x3(x, winograd_kernel(conv1.weight), conv1.bias)
        y = conv3x3(y, winograd_kernel(conv2.weight), conv2.bias, affine=norm_affine(y, self.kind, self.eps), relu=True)
        y = normalize_(y, self.kind, self.eps)
        if self.block.film is not None:
            y = self.block.film(y, strength)
        x = x.contiguous(memory_format=torch.channels_last)
        return y.add_(x).relu_()


def to_winograd(model: nn.Module) -> nn.Module:
    """A copy of a GlassNet, in eval mode, whose residual blocks (:class:`WinogradResidualBlock`) and stage 2's bridge
    (:class:`WinogradConv2d`) run Winograd F(4x4, 3x3) in float32 CPU inference; the original is unchanged."""
    model = copy.deepcopy(model)
    for layer in list(model.modules()):
        if isinstance(layer, nn.Sequential):
            for i, block in enumerate(layer):
                if isinstance(block, ResidualBlock):
                    layer[i] = WinogradResidualBlock(block)
        if isinstance(layer, ConvReLU) and layer[0].stride == (1, 1) and layer[0].in_channels >= 16:
            layer[0] = WinogradConv2d(layer[0])
    return model.eval()
