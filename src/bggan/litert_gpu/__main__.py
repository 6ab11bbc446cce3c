"""``python -m bggan.litert_gpu setup [DIR]``: install the GPU runtime (default: ``<sys.prefix>/litert-gpu``);
``python -m bggan.litert_gpu check MODEL.tflite``: compile a model on the GPU alone and print the adapter."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bggan.errors import BgganError
from bggan.files import identify
from bggan.litert_gpu.runtime import SETUP, GpuModel, find_runtime, runtime_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bggan.litert_gpu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="install (or check) the runtime folder; idempotent")
    setup.add_argument("folder", nargs="?", type=Path, default=None)
    check = sub.add_parser("check", help="compile MODEL on the GPU alone and print what it runs on")
    check.add_argument("model", type=Path)
    args = parser.parse_args(argv)
    if args.command == "setup":
        return subprocess.call(["bash", str(SETUP), str(args.folder or runtime_folder())])
    try:
        runtime = find_runtime()
        if not args.model.is_file():
            raise BgganError(f"{args.model}: no such file")
        if identify(args.model) != "a TFLite model":
            raise BgganError(f"{args.model} is {identify(args.model)}, not a TFLite model")
        with GpuModel(args.model, "fp32", runtime) as model:
            print(f"{args.model}: fully accelerated: {model.fully_accelerated}; adapter: {model.adapter or 'unknown'}; "
                  f"ai-edge-litert {model.litert}; runtime {runtime.folder}")
        return 0 if model.fully_accelerated else 1
    except BgganError as e:
        print(f"python -m bggan.litert_gpu: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
