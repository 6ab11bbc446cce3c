"""The generator's loss: reconstruction (L1, SSIM, VGG19 perceptual), the adversarial term and stage 1's rough output.

Images are ``(B, 3, H, W)`` in [-1, 1], the generator's range. The critics' own objective is in
:mod:`bggan.wgan`.
"""

from __future__ import annotations

from typing import NamedTuple

import kornia
import torch
from torch import nn

from bggan.errors import BgganError
from bggan.models.vgg import IMAGENET_MEAN, IMAGENET_STD, load_vgg19_features
from bggan.wgan import generator_adversarial_loss


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1) / 2


def ssim_loss(pred: torch.Tensor, target: torch.Tensor, window: int = 11) -> torch.Tensor:
    """``1 - mean SSIM`` of ``(B, 3, H, W)`` images in [-1, 1], the paper's "negative SSIM" term.

    SSIM from kornia on the images mapped to [0, 1] (data range 1): an 11x11 Gaussian window
    with sigma 1.5, constants ``(0.01)^2`` and ``(0.03)^2``, borders padded ("same"). Note that
    ``kornia.losses.ssim_loss`` is ``(1 - SSIM) / 2``, half of this. Computed in float32 even under
    autocast (a ``bf16-mixed`` run hands it bfloat16 outputs): SSIM's variances are differences of
    means of squares, which bfloat16's 8-bit mantissa would round away.
    """
    with torch.autocast(pred.device.type, enabled=False):
        ssim_map = kornia.metrics.ssim(to_unit_range(pred.float()), to_unit_range(target.float()), window,
                                       max_val=1.0)
    return 1 - ssim_map.mean()


class SSIMLoss(nn.Module):
    """:func:`ssim_loss` as a module: ``(B, 3, H, W)`` pred and target in [-1, 1] -> scalar in [0, 2]."""

    def __init__(self, window: int = 11):
        super().__init__()
        self.window = window

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ssim_loss(pred, target, self.window)


class PerceptualLoss(nn.Module):
    """``mean |F(pred) - F(target)|`` on frozen VGG19 features (relu5_4 for BGGAN).

    Args:
        features: e.g. :func:`bggan.models.vgg.load_vgg19_features` (passed in, so tests never
            download). It is frozen and kept in eval mode.

    Inputs ``(B, 3, H, W)`` in [-1, 1] are mapped to [0, 1] and normalised with ImageNet's mean
    and std, as the weights expect. Gradients reach ``pred`` only.
    """

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # never leaves eval mode
        return self

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((to_unit_range(x) - self.mean) / self.std)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self._embed(target)
        return (self._embed(pred) - target_features).abs().mean()


class LossTerms(NamedTuple):
    """The generator's weighted loss and each unweighted term (detached), for logging."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


class GeneratorLoss(nn.Module):
    """``w_l1 * L1 + w_ssim * (1 - SSIM) + w_vgg * VGG + w_adv * adv + w_rough * L1(rough) + w_level * L1(level)``: the
    generator's loss in both stages.

    BGGAN's pretraining stage uses ``0.5 * L1 + 1 * (1 - SSIM)``; its adversarial stage
    ``0.5 * L1 + 0.05 * (1 - SSIM) + 0.1 * VGG + 1 * adv`` (``conf/loss/``). A term whose weight
    is 0 is not computed (and the VGG19 weights are then not needed). ``w_rough`` (0 in the paper's
    recipes) supervises stage 1 as well: the L1 distance of its rough output to the same target, which
    the paper describes it as approximating (``I - R``, a rough bokeh image) but which no released loss
    asks for; without it the rough output drifts to whatever helps stage 2 (often flat grey).

    ``w_level`` supervises the blur level a depth-aware generator with a blur stack renders each pixel at (stage 1's
    correction of the defocus map it was given, :meth:`bggan.models.GlassNet.run`): its L1 distance to the level of
    the target's true circle of confusion. The pairs know the true depth even when the input carries a phone's.

    Args:
        w_l1, w_ssim, w_vgg, w_adv, w_rough, w_level: the weights.
        vgg_weights: VGG19 weights file in torchvision's layout, or ``None`` for torch.hub's cache
            (downloaded once, hash checked). Only read when ``w_vgg > 0``.
        vgg_features: a ready feature extractor instead of a file (tests pass a random one).

    Raises:
        BgganError: ``w_vgg > 0`` and the VGG19 weights cannot be found; the message names
            ``loss.vgg_weights``. Training never falls back to a random VGG.
    """

    def __init__(self, w_l1: float = 0.5, w_ssim: float = 1.0, w_vgg: float = 0.0, w_adv: float = 0.0,
                 vgg_weights: str | None = None, vgg_features: nn.Module | None = None, w_rough: float = 0.0,
                 w_level: float = 0.0):
        super().__init__()
        for name, value in (("w_l1", w_l1), ("w_ssim", w_ssim), ("w_vgg", w_vgg), ("w_adv", w_adv),
                            ("w_rough", w_rough), ("w_level", w_level)):
            if value < 0:
                raise BgganError(f"loss.{name} must be >= 0, got {value}")
        self.w_l1, self.w_ssim, self.w_vgg, self.w_adv, self.w_rough = w_l1, w_ssim, w_vgg, w_adv, w_rough
        self.w_level = w_level
        self.perceptual: PerceptualLoss | None = None
        if w_vgg > 0:
            self.perceptual = PerceptualLoss(vgg_features if vgg_features is not None
                                             else load_vgg19_features(vgg_weights, config_key="loss.vgg_weights"))

    def describe(self) -> str:
        """One line for the log, e.g. ``0.5*L1 + 1*(1-SSIM)``."""
        parts = [(self.w_l1, "L1"), (self.w_ssim, "(1-SSIM)"), (self.w_vgg, "VGG"), (self.w_adv, "adv"),
                 (self.w_rough, "L1(rough)"), (self.w_level, "L1(level)")]
        return " + ".join(f"{w:g}*{name}" for w, name in parts if w > 0) or "0"

    def forward(self, pred: torch.Tensor, target: torch.Tensor, critic: nn.Module | None = None,
                rough: torch.Tensor | None = None, strength: torch.Tensor | None = None,
                level: torch.Tensor | None = None, target_level: torch.Tensor | None = None) -> LossTerms:
        """``pred``, ``target`` and stage 1's ``rough`` output ``(B, 3, H, W)`` in [-1, 1]; ``critic`` needed when
        ``w_adv > 0``, ``rough`` when ``w_rough > 0``; ``strength`` ``(B,)`` for critics that see the aperture;
        ``level`` and ``target_level`` ``(B, 1, H, W)`` when ``w_level > 0``."""
        out = self._terms(pred, target, critic, rough, with_rough=True, strength=strength)
        if self.w_level <= 0:
            return out
        if level is None or target_level is None:
            raise ValueError("w_level > 0 needs the level rendered and the true one (a depth-aware generator)")
        value = (level.float() - target_level.float()).abs().mean()
        return LossTerms(out.total + self.w_level * value, {**out.terms, "level": value.detach()})

    def stage1_alone(self, rough: torch.Tensor, target: torch.Tensor) -> LossTerms:
        """The loss while stage 1 trains alone (``stage.stage1_epochs``): its rough output is the prediction,
        on the same terms, without the separate ``w_rough`` term (which would only count the L1 twice)."""
        return self._terms(rough, target, None, None, with_rough=False)

    def _terms(self, pred: torch.Tensor, target: torch.Tensor, critic: nn.Module | None,
               rough: torch.Tensor | None, with_rough: bool, strength: torch.Tensor | None = None) -> LossTerms:
        total = pred.new_zeros(())
        terms: dict[str, torch.Tensor] = {}

        def add(name: str, weight: float, value: torch.Tensor) -> None:
            nonlocal total
            total = total + weight * value
            terms[name] = value.detach()

        if self.w_l1 > 0:
            add("l1", self.w_l1, (pred - target).abs().mean())
        if self.w_ssim > 0:
            add("ssim", self.w_ssim, ssim_loss(pred, target))
        if self.perceptual is not None:
            add("vgg", self.w_vgg, self.perceptual(pred, target))
        if self.w_adv > 0:
            if critic is None:
                raise ValueError("w_adv > 0 needs the critic")
            add("adv", self.w_adv, generator_adversarial_loss(critic, pred, strength))
        if self.w_rough > 0 and with_rough:
            if rough is None:
                raise ValueError("w_rough > 0 needs stage 1's rough output")
            add("rough", self.w_rough, (rough - target).abs().mean())
        return LossTerms(total, terms)
