"""``bggan-export``: a trained generator to ONNX, a TensorFlow SavedModel and TFLite files, proven equal at
every hop (configured by Hydra over ``conf/export/default.yaml``)."""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bggan.cli.train import config_dir
from bggan.errors import BgganError

PROG = "bggan-export"


@hydra.main(version_base="1.3", config_path=str(config_dir() / "export"), config_name="default")
def main(cfg: DictConfig) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up lines
    from bggan.export import ExportConfig, export

    try:
        try:
            fields = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        except MissingMandatoryValue:
            raise BgganError("weights= is required: a training .ckpt or a generator .safetensors") from None
        try:
            size = tuple(int(v) for v in fields.pop("size"))
            export_cfg = ExportConfig(**fields, size=size)
        except (TypeError, ValueError) as e:
            raise BgganError(f"bad config: {e}") from None
        if len(size) != 2:
            raise BgganError(f"size must be [H, W], got {list(size)}")
        result = export(export_cfg, log=lambda line: print(line, flush=True))
    except BgganError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    print(f"export folder: {result.out}  ({result.seconds:.0f} s, peak {result.peak_rss_gb:.1f} GiB)")
    for name, size in result.files.items():
        print(f"  {result.out / name}  {size / 2**20:.1f} MiB")
    print(f"  {result.out / 'report.md'}, {result.out / 'report.json'}")


def cli() -> None:
    if not config_dir().is_dir():
        print(f"{PROG}: error: no config folder at {config_dir()}; set BGGAN_CONF=/path/to/bggan/conf", file=sys.stderr)
        sys.exit(2)
    sys.argv = [("overwrite=true" if a == "--overwrite" else a) for a in sys.argv]  # the flag every command takes
    main()
