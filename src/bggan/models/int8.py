"""Glass-Net's convolutions in int8 on the CPU (oneDNN; fast where the CPU has AMX or AVX512-VNNI).

:func:`to_int8` swaps the convolutions of a :class:`~bggan.models.glassnet.GlassNet` for int8 ones, all but each
stage's first and last: those see or make the image itself (3-7 channels, about 2% of the multiplies), and in
float32 they keep 1.5-4 dB more of a trained model (55-61 dB from float32 instead of 54-57 here). The
normalizations, ReLUs, concatenations, FiLM and gate stay in float32. Each int8 convolution:

* weights: int8, symmetric, one scale per output channel (``max |w| / 127``), fixed when converted;
* input: uint8 (every input is a ReLU's output, >= 0), ``[0, max]`` to 0..255 with one scale per call from the
  tensor's own range: no calibration images, and the released normalization's outputs, whose size grows as
  ``1 / sqrt(H W)``, get the scale they need at every photo size;
* output: float32 from oneDNN's int32 accumulator, with the bias and, where a ReLU follows, the ReLU fused.

A 4x4 stride-2 transposed convolution (padding 1) is two 2x2 convolutions with two outputs per output channel,
one per output phase (:class:`Int8UpConv`), interleaved by copies.

Inference only: inputs ``(B, C, H, W)`` float32 (channels-last is fastest), outputs the same layout.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from bggan.models.blocks import Conv2dSame, ConvReLU, ResidualBlock, UpConvReLU, normalize_, same_padding
from bggan.models.glassnet import SIZE_MULTIPLE, GlassNet

#: The PyTorch quantization engine these ops need.
ENGINE = "onednn"


def int8_available() -> bool:
    """Whether this PyTorch has oneDNN's int8 convolutions (a CPU build with oneDNN)."""
    return ENGINE in torch.backends.quantized.supported_engines and hasattr(torch.ops.onednn, "qconv2d_pointwise")


def _quantize(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``x`` float32 (>= 0; anything under 0 becomes 0) -> ``(uint8 tensor, scale)``, same shape and memory
    layout, the scale ``max(x) / 255``."""
    scale = max(float(x.amax()), 1e-12) / 255.0
    with warnings.catch_warnings():  # the quantized-tensor API warns of its future; the view below is plain uint8
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(x, scale, 0, torch.quint8)
        # oneDNN reads channels-last memory only (NCHW crashes it); a (1, C, H, W) view of NHWC memory can come
        # back NCHW from quantize_per_tensor, which takes its odd batch stride for another layout
        q = q.contiguous(memory_format=torch.channels_last)
    return q.view(torch.uint8), scale


class Int8Conv2d(nn.Module):
    """A convolution in int8 (see the module doc): ``(B, C_in, H, W)`` float32 -> ``(B, C_out, H', W')`` float32.

    Args:
        weight: ``(C_out, C_in, k, k)`` float kernel.
        bias: ``(C_out,)`` or None.
        stride: 1 or 2.
        padding: ``(top, bottom, left, right)``: symmetric, or one more after than before on a side
            (TensorFlow's "same" for a stride-2 convolution on an even size).
        relu: fuse a ReLU on the output.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 padding: tuple[int, int, int, int], relu: bool) -> None:
        super().__init__()
        top, bottom, left, right = padding
        if bottom - top not in (0, 1) or right - left not in (0, 1):
            raise ValueError(f"padding {padding}: symmetric, or one more after than before on a side")
        # (p, p + 1) padding == a zero tap in front of the kernel and (p + 1, p + 1): no padded copy of the input
        weight = F.pad(weight.detach().float(), (right - left, 0, bottom - top, 0))
        scales = weight.abs().amax((1, 2, 3)).clamp_min(1e-12) / 127.0
        q = torch.round(weight / scales[:, None, None, None]).clamp_(-127, 127).to(torch.int8)
        self.stride, self.pad, self.relu = stride, [bottom, right], relu
        self.register_buffer("w_scales", scales)
        self.register_buffer("w_zeros", torch.zeros(len(scales), dtype=torch.long))
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        # oneDNN's packed weights; the input scale given here does not enter the packing (any scale works later)
        self.register_buffer("packed", torch.ops.onednn.qconv_prepack(
            q, scales, 1.0, 0, [stride] * 2, self.pad, [1, 1], 1, None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(*_quantize(x))

    def run(self, q: torch.Tensor, scale: float) -> torch.Tensor:
        """The convolution of an input already quantized (:func:`_quantize`)."""
        return torch.ops.onednn.qconv2d_pointwise(
            q, scale, 0, self.packed, self.w_scales, self.w_zeros, self.bias, [self.stride] * 2,
            self.pad, [1, 1], 1, 1.0, 0, torch.float32, "relu" if self.relu else "none", [], "")


def _phase_kernel(weight: torch.Tensor, a: int) -> torch.Tensor:
    """The output rows of phase ``a`` of a ``ConvTranspose2d(k=4, s=2, p=1)`` kernel ``(C_in, C_out, 4, 4)`` as a 2x2
    kernel ``(2 C_out, C_in, 2, 2)``: its outputs ``b C_out + c`` are output channel ``c`` at rows ``2 i + a``,
    columns ``2 j + b``.

    Output row ``2 i + a`` takes input rows ``i - 1, i`` (phase 0: kernel rows 3, 1) or ``i, i + 1`` (phase 1:
    kernel rows 2, 0). A 2x2 convolution padded by 1 on every side has input rows ``r - 1, r`` under its output
    row ``r``: phase 0 is its rows ``0 .. H - 1``, phase 1 its rows ``1 .. H`` (columns the same).
    """
    taps = {0: (3, 1), 1: (2, 0)}  # phase -> kernel rows (or columns) under the 2x2 window's taps 0, 1
    return torch.cat([weight[:, :, taps[a]][:, :, :, taps[b]].transpose(0, 1) for b in (0, 1)])


class Int8UpConv(nn.Module):
    """:class:`~bggan.models.blocks.UpConvReLU`'s transposed convolution (and ReLU) in int8:
    ``(B, C_in, H, W)`` -> ``(B, C_out, 2H, 2W)`` float32 channels-last.

    One quantized input, two 2x2 convolutions (:func:`_phase_kernel`, one per output row phase; the transposed
    convolution's multiplies, no more), each interleaved into the output by one copy. Two halves instead of one
    convolution over all four phases keep the float32 map beside the output at half the output's size.
    """

    def __init__(self, deconv: nn.ConvTranspose2d, relu: bool) -> None:
        super().__init__()
        if deconv.kernel_size != (4, 4) or deconv.stride != (2, 2) or deconv.padding != (1, 1):
            raise ValueError(f"Int8UpConv takes a 4x4 stride-2 transposed convolution with padding 1, got {deconv}")
        weight = deconv.weight.detach().float()
        bias = None if deconv.bias is None else deconv.bias.detach().float().repeat(2)
        self.channels = deconv.out_channels
        self.rows = nn.ModuleList(Int8Conv2d(_phase_kernel(weight, a), bias, 1, (1, 1, 1, 1), relu)
                                  for a in (0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        c = self.channels
        quantized = _quantize(x)
        out = torch.empty(b, c, 2 * h, 2 * w, dtype=torch.float32, device=x.device, memory_format=torch.channels_last)
        grid = out.view(b, c, h, 2, w, 2)
        for a, conv in enumerate(self.rows):
            phases = conv.run(*quantized)  # (B, 2 C, H + 1, W + 1)
            for col in (0, 1):
                grid[:, :, :, a, :, col] = phases[:, col * c:(col + 1) * c, a:a + h, col:col + w]
            del phases
        return out


class Int8ResidualBlock(nn.Module):
    """:class:`~bggan.models.blocks.ResidualBlock` with int8 convolutions: ``(B, C, H, W)`` -> same, float32.

    The ReLU after the first normalization is the second convolution's quantization (zero point 0 clamps at 0),
    and the last add and ReLU happen in place.
    """

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.conv1, self.conv2 = (Int8Conv2d(conv.weight, conv.bias, 1, (1, 1, 1, 1), relu=False)
                                  for conv in (block.conv1, block.conv2))
        self.kind, self.eps = block.norm1.kind, block.norm1.eps
        self.film = block.film

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        y = normalize_(self.conv2(normalize_(self.conv1(x), self.kind, self.eps)), self.kind, self.eps)
        if self.film is not None:
            y = self.film(y, strength)
        return y.add_(x).relu_()


def _int8_conv(conv: Conv2dSame, relu: bool) -> Int8Conv2d:
    """``conv`` in int8 with its "same" padding on an even size: GlassNet pads its input to a multiple of 8
    (:data:`~bggan.models.glassnet.SIZE_MULTIPLE`), so each of its stride-2 convolutions sees even sides."""
    k, s = conv.kernel_size[0], conv.stride[0]
    top, bottom = same_padding(SIZE_MULTIPLE, k, s)
    return Int8Conv2d(conv.weight, conv.bias, s, (top, bottom, top, bottom), relu)


def to_int8(model: GlassNet) -> GlassNet:
    """A copy of ``model``, in eval mode, with its convolutions in int8 (all but each stage's first and last); the
    original is unchanged.

    Raises:
        RuntimeError: this PyTorch has no oneDNN int8 convolutions (:func:`int8_available`).
    """
    if not int8_available():
        raise RuntimeError("this PyTorch has no oneDNN int8 convolutions")
    model = copy.deepcopy(model).eval()
    for stage in (model.rough, model.refine):
        for layer in list(stage.modules()):
            if isinstance(layer, ConvReLU) and layer is not stage.encoder[0]:
                layer[0] = _int8_conv(layer[0], relu=True)
                layer[1] = nn.Identity()
            elif isinstance(layer, UpConvReLU):
                layer[0] = Int8UpConv(layer[0], relu=True)
                layer[1] = nn.Identity()
        for i, block in enumerate(stage.res):
            stage.res[i] = Int8ResidualBlock(block)
    return model
