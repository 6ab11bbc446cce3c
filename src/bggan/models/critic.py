"""The multi-receptive-field PatchGAN critics of BGGAN (WGAN-GP: no sigmoid, unbounded scores)."""

from __future__ import annotations

import torch
from torch import nn

from bggan.models.blocks import Conv2dSame, InstanceNorm, Norm
from bggan.models.condition import strength_tensor, with_strength_channel


def _with_condition(x: torch.Tensor, strength: torch.Tensor | float | None, condition: bool) -> torch.Tensor:
    """The critic's input: the image, and for a critic that sees the aperture its strength as one more channel."""
    if condition:
        if strength is None:
            raise ValueError("this critic sees the aperture: pass the strength of each image")
        return with_strength_channel(x, strength_tensor(strength, x.shape[0], x))
    if strength is not None:
        raise ValueError("this critic does not see the aperture (condition=False): pass no strength")
    return x


class PatchCritic(nn.Module):
    """A PatchGAN critic: image ``(B, 3, H, W)`` in [-1, 1] -> score map ``(B, out_channels, h, w)``.

    ``n_layers`` 4x4 stride-2 convs (64, 128, 256, 512, 512, ... channels: doubling, capped at
    ``8 * ndf``), each followed by normalization and LeakyReLU(0.2); then a 4x4 stride-1 conv at
    ``8 * ndf`` channels with normalization and LeakyReLU; then a 1x1 conv to the score map.
    All convs have bias and TensorFlow "same" padding, so ``h = ceil(H / 2**n_layers)`` (same
    for ``w``). The released code uses ``n_layers=3`` ("patch", about 70x70 px receptive field)
    and ``n_layers=5`` ("full").

    Args:
        n_layers: stride-2 layers.
        ndf: width of the first layer.
        norm: ``"official"`` (the released formula) or ``"instance"``; see
            :class:`~bggan.models.blocks.InstanceNorm`.
        out_channels: channels of the score map; ``None`` for ``8 * ndf`` (512 at ndf 64), what the
            released code outputs. One channel is the usual PatchGAN choice. The critic loss averages
            over all scores either way; the released penalty takes the gradient of their sum, which
            grows with their number (:mod:`bggan.wgan`).
        condition: the critic sees the aperture: ``forward(x, strength)`` appends the strength
            (:mod:`bggan.models.condition`, ``(B,)``, 0 to 1.8) as a constant fourth input channel, so every
            patch is judged against the blur asked for. ``False``: the released critic, 3 input channels.
    """

    def __init__(self, n_layers: int = 3, ndf: int = 64, norm: Norm = "official",
                 out_channels: int | None = 1, condition: bool = False) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        out_channels = 8 * ndf if out_channels is None else out_channels
        widths = [ndf * min(2**i, 8) for i in range(n_layers + 1)]
        layers: list[nn.Module] = []
        prev = 4 if condition else 3
        for i, width in enumerate(widths):
            stride = 2 if i < n_layers else 1
            layers += [Conv2dSame(prev, width, 4, stride), InstanceNorm(norm), nn.LeakyReLU(0.2)]
            prev = width
        layers.append(nn.Conv2d(prev, out_channels, 1))
        self.n_layers, self.condition = n_layers, bool(condition)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, strength: torch.Tensor | float | None = None) -> torch.Tensor:
        """``x`` ``(B, 3, H, W)`` in [-1, 1]; ``strength`` ``(B,)`` (or one float) for a critic that sees the aperture."""
        return self.net(_with_condition(x, strength, self.condition))


class MultiCritic(nn.Module):
    """The two BGGAN critics, "patch" (3 stride-2 layers) and "full" (5), on the same input.

    Forward: image ``(B, 3, H, W)`` in [-1, 1] (and the strength ``(B,)`` when ``condition``) ->
    ``{"patch": (B, k, H/8, W/8), "full": (B, k, H/32, W/32)}`` (sizes rounded up). The WGAN losses in
    :mod:`bggan.wgan` average over the critics. ``condition``: both critics see the aperture
    (:class:`PatchCritic`), which the adversarial stage of a generator with the aperture as an input needs.
    """

    def __init__(self, ndf: int = 64, norm: Norm = "official", out_channels: int | None = 1,
                 depths: dict[str, int] | None = None, condition: bool = False) -> None:
        super().__init__()
        depths = depths or {"patch": 3, "full": 5}
        self.condition = bool(condition)
        self.critics = nn.ModuleDict({name: PatchCritic(n, ndf, norm, out_channels, condition)
                                      for name, n in depths.items()})

    def forward(self, x: torch.Tensor, strength: torch.Tensor | float | None = None) -> dict[str, torch.Tensor]:
        return {name: critic(x, strength) for name, critic in self.critics.items()}
