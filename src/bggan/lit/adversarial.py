"""Stage 2 of BGGAN's training: the generator against two PatchGAN critics (Wasserstein, :mod:`bggan.wgan`)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from bggan.errors import BgganError
from bggan.lit.base import BokehModule
from bggan.losses import GeneratorLoss
from bggan.models.glassnet import GlassNet
from bggan.wgan import CriticObjective


class AdversarialModule(BokehModule):
    """Adversarial fine-tuning with manual optimization: two Adam optimizers, generator and critics.

    Every batch updates the critics once with ``gan``'s loss (e.g. ``D(fake) - D(real) + 10 GP``,
    averaged over the two critics) and then applies ``gan``'s constraint to their weights; every
    ``n_critic``-th batch also updates the generator with ``loss(G(x), y, critic)`` (BGGAN:
    ``0.5 L1 + 0.05 (1 - SSIM) + 0.1 VGG + 1 adv``).

    Counting: Lightning advances ``trainer.global_step`` on *every* optimizer step, critic and
    generator alike, so here ``global_step = batches + generator steps``. Length a run in epochs;
    ``generator_steps`` and ``batches_seen`` (saved in checkpoints) count what they say.

    Args:
        generator, loss, lr, betas, ema_decay, grid_images, channels_last, lr_schedule: see :class:`BokehModule`
            (with manual optimization, the schedules are stepped here at the end of each epoch).
        critic: a :class:`~bggan.models.MultiCritic` (or one critic).
        n_critic: critic updates per generator update (>= 1).
        gan: the critics' objective and constraint (``conf/gan/``: ``wgan_gp`` or ``released``);
            ``None`` for :class:`~bggan.wgan.CriticObjective`'s defaults (textbook WGAN-GP).
        critic_lr: the critics' learning rate (``None``: same as ``lr``).

    A generator with the aperture as an input (``condition``) needs critics that see it too
    (``MultiCritic(condition=True)``): each batch's strengths go to the generator, to the critics with
    both the real and the fake image of a pair (the target was rendered at the aperture asked for), and
    to the gradient penalty, which mixes the images only. A strength channel rather than, say, a
    projection head: the patch critics then judge every patch's blur against the strength locally, with
    one more input channel and nothing else changed.
    """

    stage = "adversarial"
    needs_critic = True

    def __init__(self, generator: GlassNet, loss: GeneratorLoss, critic: nn.Module, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.0, 0.9), n_critic: int = 1, gan: CriticObjective | None = None,
                 critic_lr: float | None = None, ema_decay: float | None = None, grid_images: int = 4,
                 channels_last: bool = False, lr_schedule: Literal["constant", "cosine"] = "constant"):
        super().__init__(generator, loss, lr, betas, ema_decay, grid_images, channels_last, lr_schedule)
        if generator.takes_defocus:
            raise BgganError("model.generator.condition=defocus trains in stage=pretrain only: its critics would "
                             "have to see the defocus map, which they do not yet")
        sees = bool(getattr(critic, "condition", False))
        if (generator.condition is not None) != sees:
            raise BgganError(f"model.generator.condition={generator.condition} needs "
                             f"model.critic.condition={str(not sees).lower()}: the critics judge a blur against the "
                             "aperture asked for exactly when the generator takes one")
        if n_critic < 1:
            raise BgganError(f"stage.n_critic must be >= 1, got {n_critic}")
        self.automatic_optimization = False
        self.critic = critic
        self.n_critic, self.gan = n_critic, gan or CriticObjective()
        self.critic_lr = lr if critic_lr is None else critic_lr
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt_g, opt_c = self.optimizers()
        x, real, strength = self.layout(batch["input"]), batch["target"], self.strength(batch)
        generator_turn = int(self.batches_seen + 1) % self.n_critic == 0
        with torch.set_grad_enabled(generator_turn):
            fake, rough = self.generator(x, strength)

        self.toggle_optimizer(opt_c)
        c = self.gan.critic_loss(self.critic, real, fake.detach(), strength)
        self.check_finite(c.total, {"wasserstein": c.wasserstein, "gp": c.penalty}, "the critic loss")
        opt_c.zero_grad(set_to_none=True)
        self.manual_backward(c.total)
        opt_c.step()
        self.gan.constrain(self.critic)
        self.untoggle_optimizer(opt_c)
        self.batches_seen += 1
        self.log_dict({"train/critic": c.total.detach(), "train/gp": c.penalty, "train/critic_scale": c.scale})
        if self.gan.critic_l2 > 0:
            self.log("train/critic_l2", c.l2)
        self.log("train/wasserstein", c.wasserstein, prog_bar=True)

        if generator_turn:
            self.toggle_optimizer(opt_g)  # critics frozen: the adversarial term's gradient reaches G only
            out = self.loss(fake, real, critic=self.critic, rough=rough, strength=strength)
            self.check_finite(out.total, out.terms, "the generator loss")
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(out.total)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            self.generator_steps += 1
            self.update_ema()
            self.log_terms("train", out, prog_bar=("total",))
        self.log("train/generator_steps", self.generator_steps.float(), on_step=True, on_epoch=False)

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in (schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []):
            scheduler.step()

    def configure_optimizers(self):
        optimizers = [torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.betas),
                      torch.optim.Adam(self.critic.parameters(), lr=self.critic_lr, betas=self.betas)]
        schedulers = [self.scheduler(o) for o in optimizers]
        return optimizers if schedulers[0] is None else (optimizers, schedulers)
