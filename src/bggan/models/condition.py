"""The aperture as an input: how an f-number becomes a strength, and the two ways Glass-Net can take it.

The circle of confusion of a thin lens scales with the aperture's diameter ``f / N``, so at a fixed focal length
and focus the blur of every out-of-focus point scales with ``1 / N``. The **strength** is that blur relative to
EBB!'s f/1.8: ``strength = 1.8 / N`` (f/1.8 -> 1, f/3.6 -> 0.5, f/22 -> 0.08, f/1.4 -> 1.29), and 0 means no
blur at all (the target is the photo). A strength is a float per image, ``(B,)``, 0 to 1.8 for lenses up to f/1.0.

Two ways to feed it (``GlassNet(condition=...)``):

- ``"channel"``: a constant map of the strength, concatenated to each stage's input as one more channel (what
  Bokehlicious does at its input). Stage 1 then takes 4 channels and stage 2 takes 7.
- ``"film"``: each residual block scales and shifts its branch per channel, ``branch * (1 + gamma(s)) +
  beta(s)`` with ``gamma, beta`` linear in the strength (FiLM; EBokehNet scales its residual branches by a
  strength). Initialised to zero: the untrained conditional model is the unconditional one.

Either way can be gated (``GlassNet(gate=True)``, :class:`ApertureGate`): the output is pulled back to the photo as
the strength falls, ``photo - tanh(k s) (photo - G)``, so "no blur" returns the photo exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bggan.errors import BgganError

#: EBB!'s aperture: strength 1.
REFERENCE_F_NUMBER = 1.8
#: ``GlassNet(condition=...)`` values besides None: the aperture (these two), or a defocus map per pixel
#: (``"defocus"``, :mod:`bggan.models.defocus`).
CONDITIONS = ("channel", "film", "defocus")
#: An aperture strip, f/16 to f/1.4: ``bggan-render --sweep`` without a list, the README's strip, and the real
#: apertures of the control curve (:data:`bggan.evaluate.control.DEFAULT_SWEEP` adds no blur).
STRIP_F_NUMBERS = (16.0, 8.0, 5.6, 4.0, 2.8, 2.0, 1.4)


def aperture_label(f_number: float) -> str:
    """``f/2.8``, or ``no blur`` for ``inf``."""
    return "no blur" if math.isinf(f_number) else f"f/{f_number:g}"


def strength_for(f_number: float) -> float:
    """``1.8 / f_number``: the blur relative to EBB!'s f/1.8; ``inf`` ("no blur") gives 0.

    Raises:
        ValueError: an f-number that is not a positive number.
    """
    if not isinstance(f_number, int | float) or math.isnan(f_number) or f_number <= 0:
        raise ValueError(f"an f-number is a positive number (f/1.4, f/22), got {f_number!r}")
    return REFERENCE_F_NUMBER / f_number


def requested_strength(conditional: bool, f_number: float | None, sweep: bool = False) -> float | None:
    """The strength to render at: ``strength_for(f_number)`` (``inf``: no blur), or None (the model's one fixed
    look) for a model without the aperture as an input. ``sweep``: the command also has ``--sweep``.

    Raises:
        BgganError: one line: a model with the aperture as an input and no f-number, one without it and an
            f-number, or an f-number that is not positive.
    """
    if f_number is None and conditional:
        raise BgganError("this model takes the aperture as an input: pass --aperture F (e.g. 1.8, EBB!'s look; inf "
                         "for no blur)" + (" or --sweep" if sweep else ""))
    if f_number is not None and not conditional:
        raise BgganError(("--aperture and --sweep need" if sweep else "--aperture needs") + " a model trained with "
                         "the aperture as an input (model.generator.condition); this one renders one fixed look")
    try:
        return None if f_number is None else strength_for(f_number)
    except ValueError as e:
        raise BgganError(f"--aperture: {e}") from None


def strength_tensor(strength: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
    """``strength`` (a float, or ``(B,)`` / ``(B, 1)``) as a ``(B,)`` tensor on ``like``'s device and dtype."""
    s = torch.as_tensor(strength, dtype=like.dtype, device=like.device).reshape(-1)
    if s.numel() == 1:
        s = s.expand(batch)
    if s.shape != (batch,):
        raise ValueError(f"strength must be one value or one per image ({batch}), got shape {tuple(s.shape)}")
    return s


def with_strength_channel(x: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` and ``(B,)`` -> ``(B, C + 1, H, W)``: the strength as a constant last channel."""
    b, _, h, w = x.shape
    return torch.cat([x, strength.to(x.dtype).view(b, 1, 1, 1).expand(b, 1, h, w)], dim=1)


class FiLM(nn.Module):
    """Per-channel ``(1 + gamma, beta)`` from the strength, linear in it and zero at initialisation.

    ``forward(branch (B, C, H, W), strength (B,))`` -> ``branch * (1 + gamma) + beta``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2 * channels)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, branch: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.linear(strength.to(branch.dtype)[:, None]).chunk(2, dim=1)
        return branch * (1 + gamma[..., None, None]) + beta[..., None, None]


class ApertureGate(nn.Module):
    """``photo - tanh(k * strength) * (photo - output)``: strength 0 gives the photo back exactly, and the model's
    output takes over as the strength grows. ``k = exp(log_scale)`` is learned (positive by construction),
    ``scale`` at initialisation: at 10 the gate is 0.67 at f/22, 0.81 at f/16, 0.98 at f/8.

    ``forward(photo, output, strength)``: two ``(B, 3, H, W)`` maps and ``(B,)`` -> ``(B, 3, H, W)``.
    """

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def weight(self, strength: torch.Tensor) -> torch.Tensor:
        """``tanh(k * strength)``, the output's share, same shape as ``strength``: 0 at strength 0, towards 1."""
        return torch.tanh(strength * self.log_scale.exp())

    def forward(self, photo: torch.Tensor, output: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        g = self.weight(strength.to(output.dtype)).view(-1, 1, 1, 1)
        return photo - g * (photo - output)
