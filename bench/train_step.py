"""Seconds per training step of both stages, through the real Lightning modules, and peak GPU memory.

    python bench/train_step.py                                  # GPU if there is one: 1024x1408, batch 1
    python bench/train_step.py --precision bf16-mixed --channels-last
    python bench/train_step.py --all                            # both stages x {32-true, bf16-mixed} x layouts
    python bench/train_step.py --device cpu --size 256x384 --model tiny

A step is one batch: for the pretrain stage one generator update (L1 + SSIM); for the adversarial
stage one critic update (with the gradient penalty) and one generator update (L1 + SSIM + VGG19 +
adversarial; VGG19 with random weights, which cost the same). Data are random uint8 pairs already
in memory, so the loader is not measured (see bench/decode_pairs.py). The first steps warm up
(cuDNN autotuning) and are not timed; the table shows the median of the rest.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset

from bggan.cli.common import parse_size
from bggan.cli.train import config_dir
from bggan.images import to_model_range
from bggan.lit import AdversarialModule, PretrainModule
from bggan.losses import GeneratorLoss
from bggan.models.vgg import vgg19_features


class RandomPairs(Dataset):
    def __init__(self, n: int, h: int, w: int):
        self.n, self.h, self.w = n, h, w

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        return {"name": str(i), "input": torch.randint(0, 256, (3, self.h, self.w), generator=g, dtype=torch.uint8),
                "target": torch.randint(0, 256, (3, self.h, self.w), generator=g, dtype=torch.uint8)}


class StepTimer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.times, self._start = warmup, [], 0.0

    def _sync(self, module) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._sync(module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._sync(module)
        if batch_idx >= self.warmup:
            self.times.append(time.perf_counter() - self._start)


class Module:
    """Mixin: batches to [-1, 1] on the device, no validation."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        return {**batch, "input": to_model_range(batch["input"]), "target": to_model_range(batch["target"])}


class PretrainBench(Module, PretrainModule):
    pass


class AdversarialBench(Module, AdversarialModule):
    pass


def build(stage: str, model: str, channels_last: bool):
    with initialize_config_dir(config_dir=str(config_dir() / "model"), version_base="1.3"):
        cfg = compose(config_name=model)
    generator = instantiate(cfg.generator)
    if stage == "pretrain":
        return PretrainBench(generator, GeneratorLoss(0.5, 1.0), channels_last=channels_last)
    loss = GeneratorLoss(0.5, 0.05, 0.1, 1.0, vgg_features=vgg19_features())
    return AdversarialBench(generator, loss, instantiate(cfg.critic), channels_last=channels_last)


def run(stage: str, model: str, precision: str, channels_last: bool, device: str, size: tuple[int, int],
        batch: int, warmup: int, steps: int) -> tuple[float, float | None]:
    module = build(stage, model, channels_last)
    timer = StepTimer(warmup)
    trainer = pl.Trainer(accelerator=device, devices=1, precision=precision, max_steps=-1, max_epochs=1,
                         limit_train_batches=warmup + steps, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer], benchmark=device == "gpu")
    loader = DataLoader(RandomPairs((warmup + steps) * batch, *size), batch_size=batch)
    if device == "gpu":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, loader)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "gpu" else None
    return statistics.median(timer.times), peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["gpu", "cpu"], default="gpu" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", default="1024x1408", help="crop HxW (default: %(default)s, the paper's)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--model", default="released", help="conf/model/<name>.yaml (default: %(default)s)")
    p.add_argument("--stage", choices=["pretrain", "adversarial", "both"], default="both")
    p.add_argument("--precision", default="32-true", help="32-true or bf16-mixed")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--all", action="store_true", help="every precision x layout combination")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    size = parse_size(args.size)
    stages = ["pretrain", "adversarial"] if args.stage == "both" else [args.stage]
    combos = ([(pr, cl) for pr in ("32-true", "bf16-mixed") for cl in (False, True)] if args.all
              else [(args.precision, args.channels_last)])
    where = torch.cuda.get_device_name() if args.device == "gpu" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.model} model, {size[0]}x{size[1]} batch {args.batch}, {where}, torch {torch.__version__}")
    print("| stage | precision | layout | s / step | peak GPU memory (GiB) |\n|---|---|---|---:|---:|")
    for stage in stages:
        for precision, channels_last in combos:
            seconds, peak = run(stage, args.model, precision, channels_last, args.device, size, args.batch,
                                args.warmup, args.steps)
            layout = "channels_last" if channels_last else "NCHW"
            print(f"| {stage} | {precision} | {layout} | {seconds:.3f} | {'-' if peak is None else f'{peak:.2f}'} |",
                  flush=True)


if __name__ == "__main__":
    main()
