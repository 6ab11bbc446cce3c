"""The Wasserstein terms of the adversarial stage: the critics' objective, their constraint, the generator's term.

Images are ``(B, 3, H, W)`` in [-1, 1], the generator's range. ``critic`` below is a
:class:`~bggan.models.critic.PatchCritic` (or any module mapping ``(B, 3, H, W)`` to a score map
``(B, k, h, w)``) or a :class:`~bggan.models.critic.MultiCritic`, whose critics' losses are averaged,
as in the released training code.

Two recipes are configured as presets in ``conf/gan/`` (:class:`CriticObjective` is the class):

- ``wgan_gp``, the textbook WGAN-GP (Gulrajani et al. 2017) for a patch critic: lambda 10, the
  gradient of each sample's *mean* score, no constraint on the weights.
- ``released``, what BGGAN's released ``discriminator.py`` does: the gradient of the *summed* score
  map, its ``LAMBDA = 10`` defined and never used (weight 1), and every critic conv held by Keras'
  ``min_max_norm(-0.01, 0.01)`` after each step (:func:`released_max_norm_`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from bggan.errors import BgganError
from bggan.models.critic import MultiCritic

#: How the penalty reduces a critic's score map before the gradient: ``sum`` (released) or ``mean``.
Reduction = Literal["sum", "mean"]
#: What holds the critics' weights after each step: ``none`` or ``released`` (Keras MinMaxNorm 0.01).
Constraint = Literal["none", "released"]
#: Keras' ``min_max_norm(-0.01, 0.01)`` bound and its ``backend.epsilon()``.
RELEASED_MAX_NORM = 0.01
KERAS_EPSILON = 1e-7


def members(critic: nn.Module) -> list[nn.Module]:
    """The critics of a :class:`MultiCritic`, or ``[critic]``."""
    return list(critic.critics.values()) if isinstance(critic, MultiCritic) else [critic]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     reduction: Reduction = "mean", strength: torch.Tensor | None = None) -> torch.Tensor:
    """The unweighted WGAN-GP penalty ``mean_b (||grad_x s(x_b)||_2 - 1)^2`` of one critic.

    ``x_b = a_b * real_b + (1 - a_b) * fake_b`` with one ``a_b ~ U[0, 1)`` per sample; ``s`` is the
    sample's score map reduced to a number: its ``sum`` (the released code: the gradient grows with
    the number of scores, ``k * h * w``) or its ``mean`` (a scalar critic's penalty, as in WGAN-GP).
    The gradient's norm is taken per sample over all of C, H, W. ``fake`` is detached, so the penalty
    reaches only the critic's parameters; it is built with ``create_graph=True`` so it can be
    back-propagated, and computed in float32 even under autocast (the squared norm underflows in
    half precision). A critic that sees the aperture gets each sample's ``strength``, the same for its
    real and fake image, so the mix is along the image only and the gradient is the image's: the penalty
    holds the critic 1-Lipschitz in the image at every aperture.

    Args:
        critic: one critic, ``(B, 3, H, W)`` -> ``(B, k, h, w)``.
        real, fake: ``(B, 3, H, W)``.
        reduction: ``"sum"`` or ``"mean"`` of each sample's score map.
        strength: ``(B,)`` for a critic that sees the aperture, else ``None``.

    Returns:
        A scalar tensor (float32).
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    with torch.autocast(real.device.type, enabled=False):
        mixed = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
        mixed.requires_grad_(True)
        score = _scores(critic, mixed, None if strength is None else strength.float()).flatten(1)
        per_sample = score.sum(dim=1) if reduction == "sum" else score.mean(dim=1)
        (grad,) = torch.autograd.grad(per_sample.sum(), mixed, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        return ((norm - 1) ** 2).mean()


def _scores(critic: nn.Module, x: torch.Tensor, strength: torch.Tensor | None) -> torch.Tensor:
    """One critic's score map; the strength is passed only when there is one (the released critics take none)."""
    return critic(x) if strength is None else critic(x, strength)


def kernel_l2(critic: nn.Module) -> torch.Tensor:
    """``sum ||W||^2`` over the conv kernels of one critic (biases left out), as Keras' ``l2()`` regularizer sums."""
    return sum(m.weight.float().pow(2).sum() for m in critic.modules() if isinstance(m, nn.Conv2d))


def max_norm_(weight: torch.Tensor, dims: tuple[int, ...], max_value: float = RELEASED_MAX_NORM) -> None:
    """Keras' ``MinMaxNorm(min, max_value, rate=1)`` in place: every vector along ``dims`` rescaled to
    L2 norm ``min(norm, max_value)``, computed as Keras does (``w * clip(n) / (epsilon + n)``, so
    vectors already inside shrink by ``n / (1e-7 + n)``; a negative ``min_value`` changes nothing)."""
    with torch.no_grad():
        norms = weight.pow(2).sum(dim=dims, keepdim=True).sqrt()
        weight.mul_(norms.clamp(max=max_value) / (KERAS_EPSILON + norms))


def released_max_norm_(critic: nn.Module) -> None:
    """The released critics' weight constraint, in place, after each critic step.

    Every critic conv kernel carries ``kernel_constraint=min_max_norm(-0.01, 0.01)``, with Keras'
    defaults ``axis=0`` and ``rate=1``: a TensorFlow kernel is ``(kh, kw, in, out)``, so each vector
    along the kernel's *height* is held to L2 norm <= 0.01 (PyTorch's ``(out, in, kh, kw)``: dim 2).
    Every conv but a critic's first also carries it as ``bias_constraint``: the whole bias vector
    (axis 0 of ``(out,)``) to norm <= 0.01.
    """
    for one in members(critic):
        convs = [m for m in one.modules() if isinstance(m, nn.Conv2d)]
        for i, conv in enumerate(convs):
            max_norm_(conv.weight, dims=(2,))
            if i > 0 and conv.bias is not None:
                max_norm_(conv.bias, dims=(0,))


class CriticLoss(NamedTuple):
    """The critics' loss and its parts (averaged over critics, detached), for logging."""

    total: torch.Tensor
    wasserstein: torch.Tensor  #: mean D(real) - mean D(fake): the critics' estimate of the distance
    penalty: torch.Tensor  #: the gradient penalty, unweighted
    scale: torch.Tensor  #: mean |score| over real and fake maps: how far the critics are from flat
    l2: torch.Tensor  #: sum of squared kernel weights (0 when ``critic_l2`` is 0)


class CriticObjective:
    """How the critics are trained and held: the loss of each critic step and the constraint after it.

    Critic loss, per critic then averaged over the critics::

        mean D(fake) - mean D(real) + gp_weight * GP(gp_reduction) + critic_l2 * sum ||W||^2

    and, after each critic step, ``critic_constraint`` on the critics' weights. Presets: ``conf/gan/``
    (``wgan_gp``: 10, ``mean``, ``none``, 0; ``released``: 1, ``sum``, ``released``, 0; see this module's
    docstring for the sources).

    Args:
        gp_weight: lambda of the gradient penalty (>= 0).
        gp_reduction: ``"sum"`` or ``"mean"`` of each sample's score map (:func:`gradient_penalty`).
        critic_constraint: ``"none"`` or ``"released"`` (:func:`released_max_norm_`).
        critic_l2: factor of an L2 penalty on the critics' conv kernels (>= 0). The released convs
            declare Keras' ``l2()`` (0.01), but whether the released loop added those losses is not
            public; both presets leave it at 0.
    """

    def __init__(self, gp_weight: float = 10.0, gp_reduction: Reduction = "mean",
                 critic_constraint: Constraint = "none", critic_l2: float = 0.0) -> None:
        if gp_weight < 0:
            raise BgganError(f"gan.gp_weight must be >= 0, got {gp_weight}")
        if critic_l2 < 0:
            raise BgganError(f"gan.critic_l2 must be >= 0, got {critic_l2}")
        if gp_reduction not in ("sum", "mean"):
            raise BgganError(f"gan.gp_reduction must be sum or mean, got {gp_reduction!r}")
        if critic_constraint not in ("none", "released"):
            raise BgganError(f"gan.critic_constraint must be none or released, got {critic_constraint!r}")
        self.gp_weight, self.gp_reduction = float(gp_weight), gp_reduction
        self.critic_constraint, self.critic_l2 = critic_constraint, float(critic_l2)

    def describe(self) -> str:
        """One line for the log, e.g. ``D(fake) - D(real) + 10*GP(mean)``."""
        parts = ["D(fake) - D(real)"]
        if self.gp_weight > 0:
            parts.append(f"{self.gp_weight:g}*GP({self.gp_reduction})")
        if self.critic_l2 > 0:
            parts.append(f"{self.critic_l2:g}*L2")
        held = ", max-norm 0.01 as released" if self.critic_constraint == "released" else ""
        return " + ".join(parts) + held

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    strength: torch.Tensor | None = None) -> CriticLoss:
        """The loss of one critic step (see the class docstring).

        Args:
            critic: a critic or a :class:`MultiCritic`.
            real: target images ``(B, 3, H, W)`` in [-1, 1].
            fake: generator output, same shape; detached here.
            strength: the aperture of each pair ``(B,)`` for critics that see it (both images of a pair
                were asked for at it), else ``None``.
        """
        critics = members(critic)
        fake = fake.detach()
        totals, distances, penalties, scales, l2s = [], [], [], [], []
        for one in critics:
            d_real, d_fake = _scores(one, real, strength), _scores(one, fake, strength)
            distance = d_real.mean() - d_fake.mean()
            total = -distance
            if self.gp_weight > 0:
                penalty = gradient_penalty(one, real, fake, self.gp_reduction, strength)
                total = total + self.gp_weight * penalty
            else:
                penalty = distance.new_zeros(())
            l2 = kernel_l2(one) if self.critic_l2 > 0 else distance.new_zeros(())
            total = total + self.critic_l2 * l2
            totals.append(total)
            distances.append(distance.detach())
            penalties.append(penalty.detach())
            scales.append(0.5 * (d_real.detach().abs().mean() + d_fake.detach().abs().mean()))
            l2s.append(l2.detach())
        n = len(critics)
        return CriticLoss(*(sum(values) / n for values in (totals, distances, penalties, scales, l2s)))

    def constrain(self, critic: nn.Module) -> None:
        """Apply ``critic_constraint`` to the critics' weights (in place; after each critic step)."""
        if self.critic_constraint == "released":
            released_max_norm_(critic)


def generator_adversarial_loss(critic: nn.Module, fake: torch.Tensor,
                               strength: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's WGAN loss ``-mean D(fake)``, averaged over the critics.

    Args:
        critic: a critic or a :class:`MultiCritic`.
        fake: generator output ``(B, 3, H, W)`` in [-1, 1], not detached.
        strength: ``(B,)``, the apertures asked for, for critics that see them; else ``None``.
    """
    critics = members(critic)
    return -sum(_scores(c, fake, strength).mean() for c in critics) / len(critics)
