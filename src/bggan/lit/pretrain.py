"""Stage 1 of BGGAN's training: the generator alone on reconstruction losses (L1 + SSIM)."""

from __future__ import annotations

from typing import Literal

import torch

from bggan.errors import BgganError
from bggan.lit.base import BokehModule
from bggan.losses import GeneratorLoss
from bggan.models.glassnet import GlassNet


class PretrainModule(BokehModule):
    """Pretraining: ``loss(G(x), y)`` with automatic optimization, one Adam optimizer.

    The challenge report says the two sub-networks were first trained separately: with
    ``stage1_epochs > 0`` the first epochs train stage 1 alone (its rough output against the
    target; stage 2 gets no gradient), then the whole Glass-Net trains on its final output.

    Args:
        generator, loss, lr, betas, ema_decay, grid_images, channels_last, lr_schedule: see :class:`BokehModule`.
        stage1_epochs: epochs of stage 1 alone before the whole network (0: whole network from the start).
    """

    stage = "pretrain"
    needs_critic = False

    def __init__(self, generator: GlassNet, loss: GeneratorLoss, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.0, 0.9), stage1_epochs: int = 0, ema_decay: float | None = None,
                 grid_images: int = 4, channels_last: bool = False,
                 lr_schedule: Literal["constant", "cosine"] = "constant"):
        super().__init__(generator, loss, lr, betas, ema_decay, grid_images, channels_last, lr_schedule)
        if stage1_epochs < 0:
            raise BgganError(f"stage.stage1_epochs must be >= 0, got {stage1_epochs}")
        if loss.w_adv > 0:
            raise BgganError(f"stage=pretrain has no critic, but loss.w_adv={loss.w_adv}; use loss=pretrain "
                             "or loss.w_adv=0")
        self.stage1_epochs = stage1_epochs

    @property
    def training_stage1_alone(self) -> bool:
        return self.current_epoch < self.stage1_epochs

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x, target, strength = self.layout(batch["input"]), batch["target"], self.strength(batch)
        if self.training_stage1_alone:
            out = self.loss.stage1_alone(self.rough_only(x, strength), target)  # the rough output is the prediction
        elif self.loss.w_level > 0:
            final, rough, level = self.generator.run(x, strength)
            out = self.loss(final, target, rough=rough, level=level, target_level=self.true_level(batch))
        else:
            final, rough = self.generator(x, strength)
            out = self.loss(final, target, rough=rough)
        self.check_finite(out.total, out.terms, "the generator loss")
        self.log_terms("train", out, prog_bar=("total",))
        return out.total

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.update_ema()

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.betas)
        scheduler = self.scheduler(optimizer)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
