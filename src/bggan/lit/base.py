"""What both training stages share: the generator and its EMA copy, validation, image grids, the NaN guard."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchmetrics import MeanMetric

from bggan.errors import BgganError, TrainingFailed
from bggan.evaluate import BAND_NAMES, band_metrics, image_metrics
from bggan.images import write_rgb
from bggan.losses import GeneratorLoss, LossTerms, to_unit_range
from bggan.models.glassnet import GlassNet, pad_to_multiple

#: Validation series: the model's output, its stage-1 output, and the input itself (the identity baseline).
SERIES = ("final", "rough", "identity")
#: Per band of the target's circle of confusion (pairs that carry it): the output's PSNR and detail kept,
#: and the input's detail kept for reference.
BAND_METRICS = tuple(f"val/{kind}_{band}" for band in BAND_NAMES
                     for kind in ("psnr", "detail", "detail_identity"))
_BAND_INDEX = {name: i for i, name in enumerate(BAND_METRICS)}  #: a band metric's row in the epoch's totals
_GRID_HEIGHT = 192  # px per row of the logged image grid
_GAP = 4
#: Validation PSNR of one image is capped at this (dB): an exact match (the identity on a "no blur" pair, a
#: model that returns the photo there) would make the epoch's mean, and so the checkpoint monitor, infinite.
PSNR_CAP = 100.0


class CappedPSNR(MeanMetric):
    """Mean over images of ``10 log10(1 / MSE)`` on ``(B, 3, H, W)`` in [0, 1] (torchmetrics' PSNR at data range 1,
    per image), each capped at :data:`PSNR_CAP`."""

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
        mse = (pred.float() - target.float()).square().flatten(1).mean(1)
        super().update(-10 * torch.log10(mse.clamp_min(10 ** (-PSNR_CAP / 10))))


def metric_name(metric: str, series: str) -> str:
    """``val/psnr`` for the final output, ``val/psnr_rough``, ``val/psnr_identity``."""
    return f"val/{metric}" if series == "final" else f"val/{metric}_{series}"


class BokehModule(LightningModule):
    """Base of :class:`~bggan.lit.PretrainModule` and :class:`~bggan.lit.AdversarialModule`.

    Batches are ``{"input", "target"}`` of ``(B, 3, H, W)`` in [-1, 1] (see
    :class:`~bggan.data.BokehDataModule`).

    Validation: PSNR and SSIM with :func:`bggan.evaluate.image_metrics`' conventions (torchmetrics,
    [0, 1] clamped, RGB, no border crop, averaged over images; each image's PSNR capped at :data:`PSNR_CAP`, so
    that an exact match does not make the mean infinite); logged per epoch as ``val/psnr`` and ``val/ssim`` for the
    final output, ``*_rough`` for stage 1 and ``*_identity`` for the input itself (the baseline a
    model must beat). When the batches carry the target's circle of confusion (synthetic pairs), the
    depth-aware yardstick (:mod:`bggan.evaluate.bands`) is logged too: ``val/psnr_<band>``,
    ``val/detail_<band>`` and ``val/detail_identity_<band>`` for the bands in focus, transition and
    out of focus (means over the images that have the band). The first ``grid_images`` validation images are written as one PNG per epoch
    (rows of input | rough | final | target) to ``<run>/images/`` and sent to a TensorBoard
    logger if there is one.

    Args:
        generator: the Glass-Net being trained.
        loss: the generator's loss.
        lr, betas: Adam's (BGGAN: 1e-4 and (0, 0.9), for generator and critics).
        lr_schedule: ``"constant"`` (BGGAN) or ``"cosine"``: every learning rate follows a cosine from its
            start to 5% of it over ``trainer.max_epochs``, stepped once per epoch.
        ema_decay: keep an exponential moving average of the generator's weights (e.g. 0.999),
            used for validation and saved in checkpoints for export; ``None`` for none.
        grid_images: validation images shown in the grid (0 for no grid).
        channels_last: run convolutions in channels-last memory layout (faster on recent GPUs).
    """

    stage = "base"  #: the ``stage=`` name of the subclass
    needs_critic = False

    def __init__(self, generator: GlassNet, loss: GeneratorLoss, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.0, 0.9), ema_decay: float | None = None,
                 grid_images: int = 4, channels_last: bool = False,
                 lr_schedule: Literal["constant", "cosine"] = "constant"):
        super().__init__()
        if lr <= 0:
            raise BgganError(f"stage.lr must be > 0, got {lr}")
        if ema_decay is not None and not 0 < ema_decay < 1:
            raise BgganError(f"stage.ema_decay must be in (0, 1) or null, got {ema_decay}")
        self.generator, self.loss = generator, loss
        self.lr, self.betas, self.lr_schedule = float(lr), tuple(float(b) for b in betas), lr_schedule
        self.ema: AveragedModel | None = None
        if ema_decay is not None:
            # The first update copies the generator (n_averaged == 0), so weights loaded after this
            # point (init_from) are what the average starts from.
            self.ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
            self.ema.requires_grad_(False)
        self.grid_images, self.channels_last = grid_images, channels_last
        self.psnr = nn.ModuleDict({s: CappedPSNR() for s in SERIES})
        self.ssim = nn.ModuleDict({s: image_metrics()[1] for s in SERIES})
        #: per band metric: (sum, count) over this validation epoch's images on this process
        self._band_totals = torch.zeros(len(BAND_METRICS), 2, dtype=torch.float64)
        self._grid: list[np.ndarray] = []

    # ----------------------------------------------------------------- the generator
    @property
    def inference_generator(self) -> GlassNet:
        """The EMA generator once it has been updated, else the trained one: what validation and export use."""
        if self.ema is not None and int(self.ema.n_averaged) > 0:
            return self.ema.module
        return self.generator

    def update_ema(self) -> None:
        """Fold the generator's current weights into the EMA (after each generator step)."""
        if self.ema is not None:
            self.ema.update_parameters(self.generator)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def setup(self, stage: str) -> None:
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def rough_only(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        """Stage 1 alone: ``(B, 3, H, W)`` in [-1, 1] -> rough ``(B, 3, H, W)``, padded and cropped like GlassNet."""
        h, w = x.shape[-2:]
        multiple = self.generator.size_multiple
        if self.generator.takes_defocus:
            strength = pad_to_multiple(strength, multiple)
        return self.generator.rough_image(pad_to_multiple(x, multiple), strength)[0][..., :h, :w]

    def strength(self, batch: dict) -> torch.Tensor | None:
        """What the generator takes besides the photo: the batch's apertures as strengths ``(B,)``, its defocus maps
        ``(B, 1, H, W)`` for a depth-aware generator, or None for one that takes neither.

        Raises:
            BgganError: the generator takes the aperture or a defocus map and the pairs carry none.
        """
        if self.generator.condition is None:
            return None
        if self.generator.takes_defocus:
            if batch.get("defocus") is None:
                raise BgganError("model.generator.condition=defocus needs pairs with a defocus map (synthetic: "
                                 "data.pairs.depth_input=true); these pairs carry none")
            return self.layout(batch["defocus"])
        if batch.get("strength") is None:
            raise BgganError(f"model.generator.condition={self.generator.condition} needs pairs labelled with their "
                             "aperture (synthetic: data.pairs.apertures=[1.4,22]); these pairs carry none")
        return batch["strength"]

    def true_level(self, batch: dict) -> torch.Tensor:
        """The blur-stack level of the batch's true circle of confusion ``(B, 1, H, W)``, for ``loss.w_level``.

        Raises:
            BgganError: the generator renders no levels (not depth-aware with a blur stack), or the pairs carry no
                circle of confusion.
        """
        if self.generator.renderer is None:
            raise BgganError("loss.w_level needs a depth-aware generator with a blur stack (model=depth)")
        if batch.get("coc") is None:
            raise BgganError("loss.w_level needs pairs that carry their circle of confusion (synthetic pairs do)")
        return self.generator.level_of(self.layout(batch["coc"]))

    def scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The ``lr_schedule`` of ``optimizer`` (``None`` for a constant rate)."""
        if self.lr_schedule == "constant":
            return None
        epochs = max(int(self.trainer.max_epochs or 1), 1)
        start = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=0.05 * start)

    # ----------------------------------------------------------------- faults
    def check_finite(self, loss: torch.Tensor, terms: dict[str, torch.Tensor], what: str) -> None:
        """Stop the run, on every rank at once, when ``loss`` is NaN or infinite.

        Checked before the backward pass, so the weights (and the checkpoints written so far) are
        still the last good ones.
        """
        bad = not bool(torch.isfinite(loss))
        if self.trainer.world_size > 1:
            bad = self.trainer.strategy.reduce_boolean_decision(bad, all=False)
        if not bad:
            return
        values = ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
        last = getattr(self.trainer.checkpoint_callback, "last_model_path", "") or ""
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint had been written yet"
        raise TrainingFailed(f"{what} is {loss.item()} at epoch {self.current_epoch}, step {self.global_step} "
                             f"({values or 'no terms'}); stopped, {kept}")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the gradient norm; stop if it is not finite (a step would turn the weights into NaN)."""
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        norm = torch.nn.utils.get_total_norm(grads)
        name = "generator" if optimizer is self._generator_optimizer() else "critic"
        self.log(f"train/grad_norm_{name}", norm, on_step=True, on_epoch=False)
        if not str(self.trainer.precision).startswith("16"):  # fp16's loss scaler skips inf steps itself
            self.check_finite(norm, {}, f"the {name}'s gradient norm")

    def _generator_optimizer(self) -> torch.optim.Optimizer:
        opts = self.trainer.optimizers
        return opts[0] if opts else None

    def log_terms(self, prefix: str, out: LossTerms, prog_bar: tuple[str, ...] = ()) -> None:
        self.log(f"{prefix}/total", out.total.detach(), prog_bar="total" in prog_bar)
        for name, value in out.terms.items():
            self.log(f"{prefix}/{name}", value, prog_bar=name in prog_bar)

    # ----------------------------------------------------------------- validation
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        x, target = self.layout(batch["input"]), batch["target"]
        final, rough = self.inference_generator(x, self.strength(batch))
        unit_target = to_unit_range(target).clamp(0, 1)
        outputs = {"final": final, "rough": rough, "identity": x}
        for series, pred in outputs.items():
            unit_pred = to_unit_range(pred.float()).clamp(0, 1)
            self.psnr[series](unit_pred, unit_target)
            self.ssim[series](unit_pred, unit_target)
        for series in SERIES:
            self.log(metric_name("psnr", series), self.psnr[series], prog_bar=series == "final")
            self.log(metric_name("ssim", series), self.ssim[series], prog_bar=series == "final")
        if batch.get("coc") is not None:
            self.add_bands(final, x, target, batch["coc"])
        if self.global_rank == 0 and len(self._grid) < self.grid_images:
            for i in range(min(x.shape[0], self.grid_images - len(self._grid))):
                self._grid.append(grid_row([t[i] for t in (x, rough, final, target)]))

    def add_bands(self, final: torch.Tensor, x: torch.Tensor, target: torch.Tensor, coc: torch.Tensor) -> None:
        """Add this batch's per-band values to the epoch's totals (see the class docstring); ``inf`` and unmeasurable
        values are left out."""
        for output, kinds in ((final, ("psnr", "detail")), (x, ("detail_identity",))):
            for image in band_metrics(output, target, coc):
                for band, m in image.items():
                    for kind in kinds:
                        value = m.psnr if kind == "psnr" else m.detail
                        if value is not None and math.isfinite(value):
                            self._band_totals[_BAND_INDEX[f"val/{kind}_{band}"]] += torch.tensor([value, 1.0],
                                                                                          dtype=torch.float64)

    def on_validation_epoch_start(self) -> None:
        self._band_totals.zero_()

    def log_bands(self) -> None:
        """Log the epoch's per-band means, over every process's images. Every process reduces the totals, whether its
        own images had the band or not: a band logged on some processes only would leave the others waiting in
        Lightning's metric sync forever (seen with two nodes whose validation images differed)."""
        totals = self.trainer.strategy.reduce(self._band_totals.to(self.device, torch.float32), reduce_op="sum")
        for name, (total, count) in zip(BAND_METRICS, totals.tolist(), strict=True):
            if count > 0:  # the same on every process after the reduce (so Lightning's sync, a mean, keeps it)
                self.log(name, total / count, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self.log_bands()
        rows, self._grid = self._grid, []
        if not rows or self.trainer.sanity_checking or self.global_rank != 0:
            return
        grid = stack_rows(rows)
        folder = Path(self.trainer.default_root_dir) / "images"
        folder.mkdir(parents=True, exist_ok=True)
        write_rgb(folder / f"val_epoch{self.current_epoch:03d}.png", grid, overwrite=True)
        for logger in self.loggers:
            add_image = getattr(getattr(logger, "experiment", None), "add_image", None)
            if add_image is not None:  # TensorBoard
                add_image("val/input|rough|final|target", grid, self.global_step, dataformats="HWC")

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the generator's config (for export) and leave the frozen VGG19 out (80 MB, loaded from config)."""
        checkpoint["bggan"] = {"generator": dict(self.generator.config), "ema": self.ema is not None,
                               "stage": type(self).__name__}
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("loss.")]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        own = {k: v for k, v in self.state_dict().items() if k.startswith("loss.")}
        checkpoint["state_dict"].update(own)


def grid_row(images: list[torch.Tensor]) -> np.ndarray:
    """Side by side, each ``(3, H, W)`` in [-1, 1] scaled to :data:`_GRID_HEIGHT` px high -> ``(h, w, 3)`` uint8."""
    h, w = images[0].shape[-2:]
    size = (_GRID_HEIGHT, max(1, round(w * _GRID_HEIGHT / h)))
    tiles = [F.interpolate(im[None].float(), size=size, mode="area")[0] for im in images]
    gap = tiles[0].new_ones(3, size[0], _GAP)
    row = torch.cat([t for tile in tiles for t in (tile, gap)][:-1], dim=2)
    return (to_unit_range(row).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of possibly different widths, top to bottom, on white, ``(H, W, 3)`` uint8."""
    width = max(r.shape[1] for r in rows)
    out = np.full((len(rows) * (_GRID_HEIGHT + _GAP) - _GAP, width, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        top = i * (_GRID_HEIGHT + _GAP)
        out[top:top + row.shape[0], :row.shape[1]] = row
    return out
