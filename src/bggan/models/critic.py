"""The multi-receptive-field PatchGAN critics of BGGAN (WGAN-GP: no sigmoid, unbounded scores)."""

from __future__ import annotations

import torch
from torch import nn

from bggan.models.blocks import Conv2dSame, InstanceNorm, Norm


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
    """

    def __init__(self, n_layers: int = 3, ndf: int = 64, norm: Norm = "official",
                 out_channels: int | None = 1, in_channels: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        out_channels = 8 * ndf if out_channels is None else out_channels
        widths = [ndf * min(2**i, 8) for i in range(n_layers + 1)]
        layers: list[nn.Module] = []
        prev = in_channels
        for i, width in enumerate(widths):
            stride = 2 if i < n_layers else 1
            layers += [Conv2dSame(prev, width, 4, stride), InstanceNorm(norm), nn.LeakyReLU(0.2)]
            prev = width
        layers.append(nn.Conv2d(prev, out_channels, 1))
        self.n_layers = n_layers
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiCritic(nn.Module):
    """The two BGGAN critics, "patch" (3 stride-2 layers) and "full" (5), on the same input.

    Forward: image ``(B, 3, H, W)`` in [-1, 1] -> ``{"patch": (B, k, H/8, W/8), "full": (B, k, H/32, W/32)}``
    (sizes rounded up). The WGAN losses in :mod:`bggan.wgan` average over the critics.
    """

    def __init__(self, ndf: int = 64, norm: Norm = "official", out_channels: int | None = 1,
                 depths: dict[str, int] | None = None) -> None:
        super().__init__()
        depths = depths or {"patch": 3, "full": 5}
        self.critics = nn.ModuleDict({name: PatchCritic(n, ndf, norm, out_channels)
                                      for name, n in depths.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: critic(x) for name, critic in self.critics.items()}
