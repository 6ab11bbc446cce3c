"""Losses: reconstruction (SSIM, VGG19 perceptual) and the WGAN-GP terms of the adversarial stage.

Images are ``(B, 3, H, W)`` in [-1, 1], the generator's range. ``critic`` below is a :class:`~bggan.models.critic.PatchCritic` (or any module mapping
``(B, 3, H, W)`` to a score map) or a :class:`~bggan.models.critic.MultiCritic`, whose
critics' losses are averaged, as in the released training code.
"""

from __future__ import annotations

from typing import NamedTuple

import kornia
import torch
from torch import nn

from bggan.errors import BgganError
from bggan.models.critic import MultiCritic
from bggan.models.vgg import IMAGENET_MEAN, IMAGENET_STD, load_vgg19_features

GP_WEIGHT = 10.0


def _members(critic: nn.Module) -> list[nn.Module]:
    return list(critic.critics.values()) if isinstance(critic, MultiCritic) else [critic]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     weight: float = GP_WEIGHT) -> torch.Tensor:
    """WGAN-GP penalty ``weight * mean_b (||grad_x D(x_b)||_2 - 1)^2`` for one critic.

    ``x_b = a_b * real_b + (1 - a_b) * fake_b`` with one ``a_b ~ U[0, 1)`` per sample; the
    gradient of the summed score map is taken per sample and its norm over all of C, H, W.
    ``fake`` is detached, so the penalty reaches only the critic's parameters. It is built
    with ``create_graph=True`` so it can be back-propagated; it is computed in float32 even
    under autocast (the squared norm underflows in half precision).

    Args:
        critic: one critic, ``(B, 3, H, W)`` -> ``(B, k, h, w)``.
        real, fake: ``(B, 3, H, W)``.
        weight: lambda (10 in the WGAN-GP paper and in BGGAN).

    Returns:
        A scalar tensor.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    with torch.autocast(real.device.type, enabled=False):
        mixed = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
        mixed.requires_grad_(True)
        score = critic(mixed)
        (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        return weight * ((norm - 1) ** 2).mean()


class CriticLoss(NamedTuple):
    """The critic's loss and its two parts (averaged over critics), for logging."""

    total: torch.Tensor
    wasserstein: torch.Tensor  #: mean D(real) - mean D(fake): the critic's estimate of the distance
    penalty: torch.Tensor


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                gp_weight: float = GP_WEIGHT) -> CriticLoss:
    """WGAN-GP critic loss ``D(fake) - D(real) + GP``, averaged over the critics.

    Args:
        critic: a critic or a :class:`MultiCritic`.
        real: target images ``(B, 3, H, W)`` in [-1, 1].
        fake: generator output, same shape; detached here.
        gp_weight: lambda of the gradient penalty.
    """
    members = _members(critic)
    distance = sum(c(real).mean() - c(fake.detach()).mean() for c in members) / len(members)
    penalty = sum(gradient_penalty(c, real, fake, gp_weight) for c in members) / len(members)
    return CriticLoss(penalty - distance, distance.detach(), penalty.detach())


def generator_adversarial_loss(critic: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """The generator's WGAN loss ``-mean D(fake)``, averaged over the critics.

    Args:
        critic: a critic or a :class:`MultiCritic`.
        fake: generator output ``(B, 3, H, W)`` in [-1, 1], not detached.
    """
    members = _members(critic)
    return -sum(c(fake).mean() for c in members) / len(members)


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1) / 2


def ssim_loss(pred: torch.Tensor, target: torch.Tensor, window: int = 11) -> torch.Tensor:
    """``1 - mean SSIM`` of ``(B, 3, H, W)`` images in [-1, 1], the paper's "negative SSIM" term.

    SSIM from kornia on the images mapped to [0, 1] (data range 1): an 11x11 Gaussian window
    with sigma 1.5, constants ``(0.01)^2`` and ``(0.03)^2``, borders padded ("same"). Note that
    ``kornia.losses.ssim_loss`` is ``(1 - SSIM) / 2``, half of this.
    """
    ssim_map = kornia.metrics.ssim(to_unit_range(pred), to_unit_range(target), window, max_val=1.0)
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
    """``w_l1 * L1 + w_ssim * (1 - SSIM) + w_vgg * VGG + w_adv * adv + w_rough * L1(rough)``: the generator's
    loss in both stages.

    BGGAN's pretraining stage uses ``0.5 * L1 + 1 * (1 - SSIM)``; its adversarial stage
    ``0.5 * L1 + 0.05 * (1 - SSIM) + 0.1 * VGG + 1 * adv`` (``conf/loss/``). A term whose weight
    is 0 is not computed (and the VGG19 weights are then not needed). ``w_rough`` (0 in the paper's
    recipes) supervises stage 1 as well: the L1 distance of its rough output to the same target, which
    the paper describes it as approximating (``I - R``, a rough bokeh image) but which no released loss
    asks for; without it the rough output drifts to whatever helps stage 2 (often flat grey).

    Args:
        w_l1, w_ssim, w_vgg, w_adv, w_rough: the weights.
        vgg_weights: VGG19 weights file in torchvision's layout, or ``None`` for torch.hub's cache
            (downloaded once, hash checked). Only read when ``w_vgg > 0``.
        vgg_features: a ready feature extractor instead of a file (tests pass a random one).

    Raises:
        BgganError: ``w_vgg > 0`` and the VGG19 weights cannot be found; the message names
            ``loss.vgg_weights``. Training never falls back to a random VGG.
    """

    def __init__(self, w_l1: float = 0.5, w_ssim: float = 1.0, w_vgg: float = 0.0, w_adv: float = 0.0,
                 vgg_weights: str | None = None, vgg_features: nn.Module | None = None, w_rough: float = 0.0):
        super().__init__()
        for name, value in (("w_l1", w_l1), ("w_ssim", w_ssim), ("w_vgg", w_vgg), ("w_adv", w_adv),
                            ("w_rough", w_rough)):
            if value < 0:
                raise BgganError(f"loss.{name} must be >= 0, got {value}")
        self.w_l1, self.w_ssim, self.w_vgg, self.w_adv, self.w_rough = w_l1, w_ssim, w_vgg, w_adv, w_rough
        self.perceptual: PerceptualLoss | None = None
        if w_vgg > 0:
            self.perceptual = PerceptualLoss(vgg_features if vgg_features is not None
                                             else load_vgg19_features(vgg_weights, config_key="loss.vgg_weights"))

    def describe(self) -> str:
        """One line for the log, e.g. ``0.5*L1 + 1*(1-SSIM)``."""
        parts = [(self.w_l1, "L1"), (self.w_ssim, "(1-SSIM)"), (self.w_vgg, "VGG"), (self.w_adv, "adv"),
                 (self.w_rough, "L1(rough)")]
        return " + ".join(f"{w:g}*{name}" for w, name in parts if w > 0) or "0"

    def forward(self, pred: torch.Tensor, target: torch.Tensor, critic: nn.Module | None = None,
                rough: torch.Tensor | None = None) -> LossTerms:
        """``pred``, ``target`` and stage 1's ``rough`` output ``(B, 3, H, W)`` in [-1, 1]; ``critic`` needed when
        ``w_adv > 0``, ``rough`` when ``w_rough > 0``."""
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
            add("adv", self.w_adv, generator_adversarial_loss(critic, pred))
        if self.w_rough > 0:
            if rough is None:
                raise ValueError("w_rough > 0 needs stage 1's rough output")
            add("rough", self.w_rough, (rough - target).abs().mean())
        return LossTerms(total, terms)
