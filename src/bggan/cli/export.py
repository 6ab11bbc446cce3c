"""``bggan-export``: a trained generator to ONNX, a TensorFlow SavedModel and TFLite files, proven equal at
every hop (configured by Hydra over ``conf/export/default.yaml``)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bggan.cli.hydra_app import config_dir, one_line_errors, run_hydra_app
from bggan.errors import BgganError

PROG = "bggan-export"


@hydra.main(version_base="1.3", config_path=str(config_dir() / "export"), config_name="default")
@one_line_errors(PROG)
def main(cfg: DictConfig) -> None:
    from bggan.export import ExportConfig, export

    try:
        fields = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue:
        raise BgganError("weights= is required: a training .ckpt or a generator .safetensors") from None
    size = tuple(int(v) for v in fields.pop("size"))
    result = export(ExportConfig(**fields, size=size), log=lambda line: print(line, flush=True))
    print(f"export folder: {result.out}  ({result.seconds:.0f} s, peak {result.peak_rss_gb:.1f} GiB)")
    for name, size in result.files.items():
        print(f"  {result.out / name}  {size / 2**20:.1f} MiB")
    print(f"  {result.out / 'report.md'}, {result.out / 'report.json'}")


def cli() -> None:
    sys.argv = [("overwrite=true" if a == "--overwrite" else a) for a in sys.argv]  # the flag every command takes
    run_hydra_app(PROG, main)
