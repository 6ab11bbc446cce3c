"""``bggan-train``: one BGGAN training stage, configured by Hydra over ``conf/`` (see ``conf/train.yaml``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bggan.errors import BgganError

PROG = "bggan-train"


def config_dir() -> Path:
    """``$BGGAN_CONF``, else the ``conf/`` folder of the source tree this package runs from."""
    if os.environ.get("BGGAN_CONF"):
        return Path(os.environ["BGGAN_CONF"]).resolve()
    return Path(__file__).resolve().parents[3] / "conf"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float | None:
    from pytorch_lightning.utilities import rank_zero_only

    from bggan.train import train  # after Hydra has parsed the command line: --help stays fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = train(cfg, run_dir)
    except BgganError as e:  # train() builds every config node through build(), which unwraps Hydra's wrapper
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    if result.interrupted:
        print(f"{PROG}: interrupted; resume with name=<this run's name> ckpt_path=last ({run_dir})", file=sys.stderr)
        sys.exit(130)
    summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    if rank_zero_only.rank == 0:  # under DDP every process gets here; rank 0 exported the generator
        print(f"run folder: {run_dir}\n  {summary}\n  last: {result.last}\n  best: {result.best}\n"
              f"  generator: {result.generator}")
    return result.metrics.get("val/psnr")  # for Hydra sweepers that optimise a value


def cli() -> None:
    if not config_dir().is_dir():
        print(f"{PROG}: error: no config folder at {config_dir()}; set BGGAN_CONF=/path/to/bggan/conf", file=sys.stderr)
        sys.exit(2)
    main()
