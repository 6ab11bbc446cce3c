"""``bggan-train``: one BGGAN training stage, configured by Hydra over ``conf/`` (see ``conf/train.yaml``)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bggan.cli.hydra_app import config_dir, one_line_errors, run_hydra_app
from bggan.config_check import discard_new_run_folder
from bggan.errors import BgganError

PROG = "bggan-train"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
@one_line_errors(PROG)
def main(cfg: DictConfig) -> float | None:
    from pytorch_lightning.utilities import rank_zero_only

    from bggan.train import train  # after Hydra has parsed the command line: --help stays fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = train(cfg, run_dir)  # a BgganError (bad value, missing data): one line, see one_line_errors
    except BgganError:
        discard_new_run_folder(run_dir)  # refused before it began: no empty run folder left behind
        raise
    if result.interrupted:
        print(f"{PROG}: interrupted; resume with name=<this run's name> ckpt_path=last ({run_dir})", file=sys.stderr)
        sys.exit(130)
    summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    if rank_zero_only.rank == 0:  # under DDP every process gets here; rank 0 exported the generator
        print(f"run folder: {run_dir}\n  {summary}\n  last: {result.last}\n  best: {result.best}\n"
              f"  generator: {result.generator}")
    return result.metrics.get("val/psnr")  # for Hydra sweepers that optimise a value


def cli() -> None:
    run_hydra_app(PROG, main)
