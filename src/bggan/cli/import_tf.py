"""``bggan-import-tf``: convert the released TensorFlow checkpoint to a safetensors generator."""

from __future__ import annotations

import argparse
import sys

from bggan.cli.common import Parser, run_command
from bggan.files import check_output
from bggan.models.tf_checkpoint import import_tf_checkpoint
from bggan.models.weights import save_generator

PROG = "bggan-import-tf"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(prog=PROG, description=(
        "Read a BGGAN TensorFlow checkpoint (tf.train.Checkpoint(generator=...), Keras 2 or 3 names) "
        "and write its generator as safetensors, with the model config in the file's metadata."))
    p.add_argument("checkpoint", help="checkpoint folder (latest checkpoint used) or prefix like DIR/ckpt-12")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--prefix", default="generator",
                   help="name the generator was saved under in the checkpoint (default: %(default)s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # before TensorFlow loads (import_tf_checkpoint checks the checkpoint's files first too)
    check_output(args.out, args.overwrite, inputs=[args.checkpoint, f"{args.checkpoint}.index"])
    imported = import_tf_checkpoint(args.checkpoint, prefix=args.prefix)
    save_generator(imported.model, args.out, overwrite=args.overwrite,
                   metadata={"source": "tensorflow-checkpoint", "key_scheme": imported.key_scheme})
    print(f"{args.checkpoint}: {imported.n_variables} variables ({imported.key_scheme} names) -> "
          f"{imported.model.summary()}")
    print(f"wrote {args.out}")
    return 0


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
