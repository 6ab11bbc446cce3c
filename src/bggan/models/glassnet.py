"""Glass-Net, the two-stage BGGAN generator, as released (c1=16, c2=24) or as in the paper (c2=32).

Stage 1 (:class:`RoughStage`) maps the photo to a rough bokeh image; stage 2
(:class:`RefineStage`) sees the rough image and the residual ``photo - rough`` and returns the
final image. Both are encoder / residual blocks / decoder networks that downsample by 8.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from bggan.models.blocks import NORM_FORMS, NORMS, Conv2dSame, ConvReLU, InstanceNorm, Norm, ResidualBlock, UpConvReLU
from bggan.models.condition import CONDITIONS, ApertureGate, strength_tensor, with_strength_channel
from bggan.models.defocus import (
    DEFOCUS_SCALE,
    SCALAR_RATE,
    DefocusGate,
    LayeredRenderer,
    defocus_tensor,
    signed_level,
)

#: Glass-Net downsamples three times: inside the network both sides must be multiples of this.
SIZE_MULTIPLE = 8
#: Weight initialisations: the released code's N(0, 0.02), or He (Kaiming) normal.
Init = Literal["released", "he"]
INITS = get_args(Init)


def pad_to_multiple(x: torch.Tensor, multiple: int = SIZE_MULTIPLE) -> torch.Tensor:
    """Reflect-pad the bottom and right of ``x`` so both sides become multiples of ``multiple``.

    This is the project's policy for sizes Glass-Net cannot take directly: pad, run, and
    crop the output back to ``x``'s size (see :meth:`GlassNet.forward`). Reflection keeps the
    image statistics that the normalization layers see close to the original's.

    Args:
        x: ``(B, C, H, W)``, with ``H, W >= multiple``.

    Returns:
        ``(B, C, H', W')`` with ``H' = ceil(H / multiple) * multiple`` (same for W); ``x``
        itself when nothing needs padding.
    """
    h, w = x.shape[-2:]
    if min(h, w) < multiple:
        raise ValueError(f"image too small: {h}x{w}, both sides must be at least {multiple} px")
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")


def _fan_in(conv: nn.Conv2d | nn.ConvTranspose2d) -> int:
    """Inputs that contribute to one output value (a transposed conv sees 1 / stride^2 of its kernel)."""
    taps = conv.kernel_size[0] * conv.kernel_size[1]
    if isinstance(conv, nn.ConvTranspose2d):
        taps //= conv.stride[0] * conv.stride[1]
    return conv.in_channels * taps


def _residual_blocks(blocks: nn.Sequential, x: torch.Tensor, strength: torch.Tensor | None) -> torch.Tensor:
    for block in blocks:
        x = block(x, strength)
    return x


def _with_condition(x: torch.Tensor, condition: str | None, value: torch.Tensor | None) -> torch.Tensor:
    """A stage's input with its condition as one more channel: the strength (``"channel"``), or the defocus map
    ``(B, 1, H, W)`` divided by :data:`~bggan.models.defocus.DEFOCUS_SCALE` (``"defocus"``); else ``x`` itself."""
    if condition == "channel":
        return with_strength_channel(x, value)
    if condition == "defocus":
        return torch.cat([x, value.to(x.dtype) / DEFOCUS_SCALE], dim=1)
    return x


class RoughStage(nn.Module):
    """Stage 1: photo ``(B, 3, H, W)`` in [-1, 1] -> rough bokeh ``(B, 3, H, W)`` in [-1, 1].

    H and W must be multiples of 8. Only skip: the bottleneck ``concat(res(e4), e4)``. ``condition`` (see
    :mod:`bggan.models.condition`): ``"channel"`` takes the strength as a fourth input channel, ``"film"`` in
    every residual block; ``forward`` then needs ``strength`` ``(B,)``. ``"defocus"`` takes the defocus map
    ``(B, 1, H, W)`` as a fourth channel (:mod:`bggan.models.defocus`). ``out_channels``: 3 (an image), or 1 for
    a depth-aware Glass-Net with a blur stack (the correction of each pixel's blur level).
    """

    def __init__(self, c: int = 16, n_res: int = 9, norm: Norm = "official", dropout: float = 0.1,
                 condition: str | None = None, out_channels: int = 3, input_skip: bool = False) -> None:
        super().__init__()
        self.condition = condition
        extra = condition in ("channel", "defocus")
        self.encoder = nn.ModuleList([ConvReLU(3 + extra, c), ConvReLU(c, 2 * c, 2),
                                      ConvReLU(2 * c, 4 * c, 2), ConvReLU(4 * c, 8 * c, 2)])
        self.res = nn.Sequential(*(ResidualBlock(8 * c, norm, dropout, condition == "film") for _ in range(n_res)))
        self.decoder = nn.Sequential(UpConvReLU(16 * c, 4 * c), UpConvReLU(4 * c, 2 * c), UpConvReLU(2 * c, c))
        # input_skip: one more full-resolution convolution over the decoder's output and the stage's own input
        self.head = ConvReLU(c + 3 + extra, c) if input_skip else None
        self.out = Conv2dSame(c, out_channels, 3, bias=False)

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        y = inp = _with_condition(x, self.condition, strength)
        for layer in self.encoder:
            y = layer(y)
        y = self.decoder(torch.cat([_residual_blocks(self.res, y, strength), y], dim=1))
        if self.head is not None:
            y = self.head(torch.cat([y, inp], dim=1))
        return torch.tanh(self.out(y))


class RefineStage(nn.Module):
    """Stage 2: photo and rough image, each ``(B, 3, H, W)`` in [-1, 1] -> final image, same shape.

    Input is ``concat(rough, photo - rough)``; U-Net skips from the encoder levels at 1/8,
    1/4 and 1/2 resolution, each concatenated *before* the decoder features. ``condition`` as in
    :class:`RoughStage` (``"channel"``, ``"defocus"``: a seventh input channel).
    """

    def __init__(self, c: int = 24, n_res: int = 9, norm: Norm = "official", dropout: float = 0.1,
                 condition: str | None = None) -> None:
        super().__init__()
        self.condition = condition
        self.encoder = nn.ModuleList([ConvReLU(6 + (condition in ("channel", "defocus")), c), ConvReLU(c, 2 * c, 2),
                                      ConvReLU(2 * c, 4 * c, 2), ConvReLU(4 * c, 8 * c, 2)])
        self.bridge = ConvReLU(8 * c, 8 * c)
        self.res = nn.Sequential(*(ResidualBlock(8 * c, norm, dropout, condition == "film") for _ in range(n_res)))
        self.decoder = nn.ModuleList([UpConvReLU(16 * c, 4 * c), UpConvReLU(8 * c, 2 * c), UpConvReLU(4 * c, c)])
        self.out = Conv2dSame(c, 3, 3, bias=False)

    def forward(self, x: torch.Tensor, rough: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        feats = []
        y = _with_condition(torch.cat([rough, x - rough], dim=1), self.condition, strength)
        for layer in self.encoder:
            y = layer(y)
            feats.append(y)
        y = _residual_blocks(self.res, self.bridge(y), strength)
        # feats[3], feats[2], feats[1] are f4, f3, f2: the skips, deepest first.
        for up, skip in zip(self.decoder, feats[:0:-1], strict=True):
            y = up(torch.cat([skip, y], dim=1))
        return torch.tanh(self.out(y))


class GlassNet(nn.Module):
    """The BGGAN generator.

    Args:
        c1: base width of stage 1 (16 released and in the paper).
        c2: base width of stage 2 (24 released, 32 in the paper).
        n_res: residual blocks per stage (9).
        norm: ``"official"`` (the released formula, needed for the released weights) or
            ``"instance"`` (textbook instance normalization, for training from scratch).
        dropout: dropout probability inside residual blocks (0.1 released; off in eval mode).
        init: ``"released"`` (N(0, 0.02) conv kernels, Glorot-uniform transposed kernels, zero
            biases, as the released training code) or ``"he"`` (Kaiming-normal, fan-in).
        condition: ``None`` (the released model), the aperture as an input, ``"channel"`` or ``"film"``
            (:mod:`bggan.models.condition`), or a per-pixel defocus map, ``"defocus"`` (a depth-aware model,
            :mod:`bggan.models.defocus`); weight files keep it in their config.
        gate: with a condition, pull the output back to the photo as the strength falls
            (:class:`~bggan.models.condition.ApertureGate`): strength 0 returns the photo exactly; with the defocus
            map, per pixel (:class:`~bggan.models.defocus.DefocusGate`): a map of zeros returns the photo exactly.
        stack: with ``condition="defocus"``, the blur diameters (px) of a :class:`~bggan.models.defocus.BlurStack`:
            stage 1 then corrects each pixel's blur level (one output channel, up to the stack's depth either way)
            and its rough image is the photo rendered by layers at the corrected levels; stage 2 adds its output.
            ``None``: both stages as in the released model, the defocus map a fourth and seventh input channel.
        input_skip: with a blur stack, stage 1 ends with one more convolution at full resolution over its decoder's
            output and its own input.
        highlight_gain: with a blur stack, how many times brighter clipped highlights are made at initialisation,
            before they are blurred (learned from there; weight files keep the learned value, not this one).
        learn_highlight_gain: with a blur stack, False keeps that gain as it is set (training does not move it).

    Forward: ``(B, 3, H, W)`` in [-1, 1] -> ``(final, rough)``, both ``(B, 3, H, W)`` in [-1, 1]. A
    conditional model also takes ``strength``: one float or ``(B,)``, ``1.8 / f_number`` (0: no blur); a
    depth-aware one its defocus map in that place, ``(B, 1, H, W)`` signed px (negative in front of the focus).
    Any ``H, W >= 8`` is accepted: sides that are not multiples of 8 (of the blur stack's largest pooling factor,
    16 by default) are reflect-padded and the outputs cropped back (:func:`pad_to_multiple`).
    """

    def __init__(self, c1: int = 16, c2: int = 24, n_res: int = 9, norm: Norm = "official",
                 dropout: float = 0.1, init: Init = "released", condition: str | None = None,
                 gate: bool = False, stack: list[float] | None = None, input_skip: bool = False,
                 highlight_gain: float = 1.0, learn_highlight_gain: bool = True) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if condition is not None and condition not in CONDITIONS:
            raise ValueError(f"condition must be None or one of {CONDITIONS}, got {condition!r}")
        if gate and condition is None:
            raise ValueError("gate needs a condition: it gates the output by the strength")
        if stack is not None and condition != "defocus":
            raise ValueError("stack goes with condition=defocus: it blurs each pixel by its defocus")
        self.config = {"c1": c1, "c2": c2, "n_res": n_res, "norm": norm, "dropout": dropout}
        if condition is not None:
            self.config["condition"] = condition  # absent for the released model: its files stay as they were
        if gate:
            self.config["gate"] = True
        self.condition = condition
        self.renderer = None if stack is None else LayeredRenderer(stack, highlight_gain, learn_highlight_gain)
        if self.renderer is not None:
            self.config["stack"] = list(self.renderer.stack.diameters)
            # stage 2's share of the final image: ReZero, as LayeredRenderer.correction (its ReLUs died otherwise)
            self.refine_scale = nn.Parameter(torch.zeros(()))
        if input_skip:
            self.config["input_skip"] = True
        self.rough = RoughStage(c1, n_res, norm, dropout, condition, out_channels=1 if self.renderer else 3,
                                input_skip=input_skip)
        self.refine = RefineStage(c2, n_res, norm, dropout, condition)
        self.gate = None if not gate else DefocusGate() if condition == "defocus" else ApertureGate()
        self.size_multiple = SIZE_MULTIPLE if self.renderer is None else max(SIZE_MULTIPLE,
                                                                              self.renderer.stack.multiple)
        self.reset_parameters(init)

    @property
    def takes_aperture(self) -> bool:
        """The aperture is an input: one strength per image (``condition`` ``"channel"`` or ``"film"``)."""
        return self.condition in ("channel", "film")

    @property
    def takes_defocus(self) -> bool:
        """A depth-aware model: a defocus map per image (``condition="defocus"``)."""
        return self.condition == "defocus"

    def summary(self) -> str:
        """One line for logs: ``GlassNet(c1=16, c2=24, n_res=9, norm=official), 10,352,784 parameters``."""
        cfg = self.config
        n_params = sum(p.numel() for p in self.parameters())
        condition = f", condition={cfg['condition']}" if "condition" in cfg else ""
        condition += ", gate" if "gate" in cfg else ""
        condition += f", stack={'/'.join(f'{d:g}' for d in cfg['stack'])} px" if "stack" in cfg else ""
        condition += ", input_skip" if "input_skip" in cfg else ""
        return (f"GlassNet(c1={cfg['c1']}, c2={cfg['c2']}, n_res={cfg['n_res']}, norm={cfg['norm']}{condition}), "
                f"{n_params:,} parameters")

    def forward(self, x: torch.Tensor, strength: float | torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        final, rough, _ = self.run(x, strength)
        return final, rough

    def run(self, x: torch.Tensor, strength: float | torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """:meth:`forward`, and for a depth-aware model with a blur stack the signed level each pixel was rendered
        at, ``(B, 1, H, W)`` in ``[-L, L]`` (:meth:`level_of` of the defocus map, corrected by stage 1); else None."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"GlassNet expects (B, 3, H, W), got {tuple(x.shape)}")
        if (strength is None) != (self.condition is None):
            raise ValueError("this GlassNet has no aperture input; it renders one fixed look" if strength is not None
                             else "this GlassNet takes a defocus map (B, 1, H, W)" if self.takes_defocus
                             else "this GlassNet takes the aperture: pass a strength (1.8 / f-number)")
        if self.takes_defocus:
            strength = pad_to_multiple(defocus_tensor(strength, x), self.size_multiple)
        elif strength is not None:
            strength = strength_tensor(strength, x.shape[0], x)
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.size_multiple)
        rough, level = self.rough_image(x, strength)
        final = self.refine(x, rough, strength)
        if self.renderer is not None:
            final = rough + SCALAR_RATE * self.refine_scale * final  # stage 2 corrects the layered image
        if self.gate is not None:
            final = self.gate(x, final, strength)
        if final.shape[-2:] != (h, w):
            final, rough = final[..., :h, :w], rough[..., :h, :w]
            level = None if level is None else level[..., :h, :w]
        return final, rough, level

    def level_of(self, defocus: torch.Tensor) -> torch.Tensor:
        """The signed blur-stack level of a defocus map ``(B, 1, H, W)`` px
        (:func:`~bggan.models.defocus.signed_level`): what stage 1 corrects, and what it is taught to reach from the
        true circle of confusion."""
        return signed_level(defocus, self.renderer.stack.diameters)

    def rough_image(self, x: torch.Tensor, condition: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Stage 1's image for ``x`` padded to :attr:`size_multiple` (``condition`` as :meth:`forward` has made it),
        and with a blur stack the level it was rendered at (else None).

        With a blur stack: the photo rendered by layers (:func:`~bggan.models.defocus.layered`) at each pixel's
        signed level, the defocus map's own (:meth:`level_of`) plus stage 1's correction, ``L * tanh(.)`` levels, the
        sum clamped to ``[-L, L]``.
        """
        if self.renderer is None:
            return self.rough(x, condition), None
        level = self.renderer.level(condition, self.rough(x, condition))
        return self.renderer(x, level), level

    def reset_parameters(self, init: Init = "released") -> None:
        """Re-initialise every weight with the ``"released"`` or ``"he"`` scheme (see class doc). (With a blur stack the
        untrained model is a classical layered renderer whatever the weights: the shares of both stages' corrections
        start at zero, :class:`~bggan.models.defocus.LayeredRenderer`.)"""
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                if init == "he":
                    nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / _fan_in(m)))
                elif isinstance(m, nn.ConvTranspose2d):
                    nn.init.xavier_uniform_(m.weight)
                else:
                    nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_norm_form(self, form: str) -> GlassNet:
        """Switch every normalization layer to ``form`` (``"reduce"`` or ``"pool"``), in place."""
        if form not in NORM_FORMS:
            raise ValueError(f"norm form must be one of {NORM_FORMS}, got {form!r}")
        for m in self.modules():
            if isinstance(m, InstanceNorm):
                m.form = form
        return self

    def to_pool_norm(self) -> GlassNet:
        """Compute normalization with average pooling (the TFLite-GPU form); same numbers. In place."""
        return self.set_norm_form("pool")

    def released_layer_order(self) -> list[nn.Conv2d | nn.ConvTranspose2d]:
        """Every convolution in the order the released Keras model created its layers.

        This is the order of ``layer_with_weights-K`` in the released checkpoint (53 layers
        for 9 residual blocks): stage 1 encoder, residual convs, transposed convs, output conv,
        then stage 2 the same way with its extra bridge conv after the encoder.
        """
        order: list[nn.Conv2d | nn.ConvTranspose2d] = []
        for stage in (self.rough, self.refine):
            order += [layer[0] for layer in stage.encoder]
            if isinstance(stage, RefineStage):
                order.append(stage.bridge[0])
            for block in stage.res:
                order += [block.conv1, block.conv2]
            order += [layer[0] for layer in stage.decoder]
            order.append(stage.out)
        return order
