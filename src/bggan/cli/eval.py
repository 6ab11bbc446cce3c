"""``bggan-eval``: score outputs against their targets: PSNR, SSIM, LPIPS, and the identity baseline.

Two modes:

- ``bggan-eval --pred DIR --target DIR [--input DIR] --out DIR``: images already rendered, paired by
  file stem (``.jpg``, ``.jpeg``, ``.png``, ``.webp``), in natural name order;
- ``bggan-eval --weights W --data NAME_OR_YAML [key=value ...] --out DIR``: a generator run on the
  validation split of a data config (``conf/data/NAME.yaml`` or a yaml file, Hydra overrides such as
  ``pairs.root=/data/ebb/val``), with the model's forward time per image.

Where the targets' circle of confusion is known (synthetic pairs, in memory or written by ``bggan-synth``
with their ``depth/`` files, or ``--coc DIR``), PSNR and detail kept are also reported per band of it: in
focus, transition, out of focus (:mod:`bggan.evaluate.bands`).

``--out`` receives ``metrics.csv`` (one row per image), ``metrics.md`` (means, conventions, skipped
pairs) and ``grid.png`` (input | output | target | error map for the first ``--grid`` images). Exit
codes: 0 all scored, 1 some pairs skipped (the rest are scored and written), 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bggan.cli.common import Parser, run_command
from bggan.devices import pick_device
from bggan.errors import BgganError

PROG = "bggan-eval"
CSV_NAME, MD_NAME, GRID_NAME = "metrics.csv", "metrics.md", "grid.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(prog=PROG, description=__doc__.splitlines()[0].split(": ", 1)[1],
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="\n".join(__doc__.splitlines()[2:]))
    files = p.add_argument_group("rendered images (mode 1)")
    files.add_argument("--pred", help="folder of outputs to score")
    files.add_argument("--target", help="folder of targets, matched to --pred by file stem")
    files.add_argument("--input", help="folder of inputs (optional): scores the identity baseline, shown in the grid")
    files.add_argument("--coc", help="folder of the targets' depth files, NAME.npz (as bggan-synth writes them in "
                                     "depth/) or NAME.npy (signed CoC, px): adds the per-band numbers")
    model = p.add_argument_group("a generator on a data config's validation split (mode 2)")
    model.add_argument("--weights", help="generator .safetensors or bggan-train .ckpt")
    model.add_argument("--data", help="data config: a name in conf/data/ (synthetic, ebb) or a path to a .yaml")
    model.add_argument("overrides", nargs="*", help="Hydra overrides of the data config, e.g. pairs.root=/data/ebb/val")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--overwrite", action="store_true", help="replace metrics.csv, metrics.md, grid.png in --out")
    p.add_argument("--grid", type=int, default=4, help="images in grid.png (0: no grid; default: %(default)s)")
    p.add_argument("--crop-border", type=int, default=0, help="pixels cropped from every side before scoring "
                                                              "(default: %(default)s, whole images)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument("--no-lpips", action="store_true", help="leave LPIPS out")
    p.add_argument("--bands", default="1,8", help="|CoC| edges in px between in focus, transition and out of focus "
                                                  "(default: %(default)s)")
    return p.parse_intermixed_args(argv)


def check_mode(args: argparse.Namespace) -> str:
    """``"pred"`` or ``"weights"``; BgganError unless exactly one mode's arguments are complete."""
    files = any(v is not None for v in (args.pred, args.target, args.input, args.coc))
    model = args.weights is not None or args.data is not None
    if files == model:
        raise BgganError("give either --pred DIR --target DIR [--input DIR], or --weights FILE --data NAME_OR_YAML "
                         + ("(not both)" if files else "(neither was given)"))
    if files:
        if args.pred is None or args.target is None:
            raise BgganError("--pred and --target go together")
        if args.overrides:
            raise BgganError(f"data overrides ({' '.join(args.overrides)}) only go with --weights and --data")
        return "pred"
    if args.weights is None or args.data is None:
        raise BgganError("--weights and --data go together")
    return "weights"


def plan_outputs(out: str, grid: int, overwrite: bool, inputs: tuple[str | None, ...] = ()) -> dict[str, Path]:
    """The files to write in ``out``, checked up front: BgganError if one exists (without ``overwrite``), ``out`` is
    a file, under a file, one of the ``inputs`` folders, or cannot be written (:func:`bggan.files.check_output_folder`)."""
    from bggan.files import check_output_folder

    folder = check_output_folder(out, "--out", inputs)
    paths = {"csv": folder / CSV_NAME, "md": folder / MD_NAME}
    if grid > 0:
        paths["grid"] = folder / GRID_NAME
    existing = [p.name for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise BgganError(f"{', '.join(existing)} already in {folder}; pass --overwrite to replace")
    return paths


def parse_bands(text: str):
    """``"1,8"`` -> :class:`bggan.evaluate.CocBands` with those edges; BgganError otherwise."""
    from bggan.evaluate import CocBands

    try:
        low, high = (float(v) for v in text.split(","))
        return CocBands(in_focus=low, out_of_focus=high)
    except ValueError:
        raise BgganError(f"--bands takes two |CoC| edges in px, 0 < in-focus <= out-of-focus, like 1,8; got {text!r}") \
            from None


def compose_data(data: str, overrides: list[str]):
    """The data config ``data`` (a name in ``conf/data/`` or a yaml path) with Hydra ``overrides`` applied."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from bggan.cli.hydra_app import config_dir, group_choices, hydra_error_line

    if data.endswith((".yaml", ".yml")) or os.sep in data:
        path = Path(data)
        if not path.is_file():
            raise BgganError(f"--data {data}: no such file")
        folder, name = path.resolve().parent, path.stem
    else:
        folder, name = config_dir() / "data", data
        choices = group_choices("data")
        if name not in choices:
            raise BgganError(f"--data {data}: unknown data config (choices: {', '.join(choices)}; "
                             "or a path to a .yaml file)")
    try:
        with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
            return compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise BgganError(f"--data {data}: {hydra_error_line(e)}") from None


def validation_pairs(cfg, overrides: list[str]):
    """``(validation dataset, summary)`` of the pairs a data config describes (its ``pairs`` node, else itself).

    Synthetic pairs are rendered as they are read (``pairs.cache=false``) unless the overrides say
    otherwise: caching would render the training pairs too. Photo pairs are read through
    :class:`bggan.evaluate.FilePairs`, so a broken file skips its pair instead of repeating another.
    """
    from hydra.errors import InstantiationException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    from bggan.cli.hydra_app import hydra_error_line
    from bggan.config_check import check_targets
    from bggan.data.depth_maps import DEPTH_FOLDER
    from bggan.data.paired import PairFiles
    from bggan.evaluate import FilePairs
    from bggan.train import build

    node = cfg.pairs if "pairs" in cfg else cfg
    if "_target_" not in node:
        raise BgganError("the data config has no pairs._target_ (e.g. bggan.data.SyntheticPairs)")
    check_targets(node, "pairs" if node is not cfg else "")
    notes = []
    if OmegaConf.select(node, "cache") is True and not any("pairs.cache" in o for o in overrides):
        with open_dict(node):
            node.cache = False
        notes.append("pairs.cache=false: only the validation pairs are rendered")
    try:
        source = build(node)
        _, val = source.split()
    except (InstantiationException, OmegaConfBaseException) as e:
        raise BgganError(f"cannot build the data config's pairs: {hydra_error_line(e)}") from None
    if isinstance(val, PairFiles):
        root = OmegaConf.select(node, "root")
        depth = Path(root) / DEPTH_FOLDER if root else None
        val = FilePairs.from_pairs(val.pairs, depth if depth is not None and depth.is_dir() else None)
        if depth is not None and depth.is_dir():
            notes.append(f"depth files from {depth}")
    if len(val) == 0:
        raise BgganError("the data config's validation split is empty")
    summary = source.summary() if hasattr(source, "summary") else f"{len(val)} validation pairs"
    return val, "\n".join([summary, *notes])


def carries_f_numbers(pairs) -> bool:
    """Whether the pairs carry their targets' f-numbers (judged by the first one that can be read)."""
    for i in range(min(len(pairs), 3)):
        try:
            return "f_number" in pairs[i]
        except BgganError:
            continue  # a broken pair is reported when it is scored
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = check_mode(args)
    if args.grid < 0:
        raise BgganError(f"--grid must be >= 0, got {args.grid}")
    if args.crop_border < 0:
        raise BgganError(f"--crop-border must be >= 0, got {args.crop_border}")
    bands = parse_bands(args.bands)
    outputs = plan_outputs(args.out, args.grid, args.overwrite, (args.pred, args.target, args.input, args.coc))

    from bggan import evaluate as ev

    device = pick_device(args.device)
    model, notes = None, []
    if mode == "pred":
        pairing = ev.pair_folders(args.pred, args.target, args.input, args.coc)
        line = pairing.unmatched_line()
        if len(pairing.pairs) == 0 and not pairing.ambiguous:
            raise BgganError(f"no pairs to score: no name is in every folder{f' ({line})' if line else ''}")
        if line:
            print(line)
            notes.append(f"Unmatched: {line}")
        pairs, skipped = pairing.pairs, list(pairing.ambiguous)
        label = f"pred ({args.pred})"
        source = f"pred: {args.pred}; target: {args.target}" + (f"; input: {args.input}" if args.input else "")
    else:
        from bggan.models.defocus import refuse_depth_aware
        from bggan.models.weights import load_generator

        model = load_generator(args.weights, map_location=device)
        refuse_depth_aware(model, PROG)
        pairs, summary = validation_pairs(compose_data(args.data, args.overrides), args.overrides)
        if model.takes_aperture and not carries_f_numbers(pairs):
            raise BgganError(f"{args.weights}: this generator takes the aperture as an input, and these pairs carry no "
                             "f-number (set pairs.f_number=1.8, or pairs.apertures=[1.4,22] for synthetic pairs)")
        print(f"weights: {args.weights} ({model.summary()})\n{summary}")
        skipped, label = [], f"model ({Path(args.weights).name})"
        source = (f"weights: {args.weights}; data: {' '.join([args.data, *args.overrides])}, "
                  f"validation split ({len(pairs)} pairs)")
        notes.append(f"Timing: seconds per image of the model forward alone on {device} (channels-last, "
                     "torch.inference_mode, one untimed warm-up forward first); reading and scoring not counted")

    metric, lpips_note = ev.load_lpips_metric(not args.no_lpips)
    print(lpips_note)
    scorer = ev.Scorer(args.crop_border, metric, lpips_note, device, bands)
    scores, failed = ev.score_pairs(pairs, scorer, model, keep=args.grid)
    skipped += failed
    if not scores:
        first = f": {skipped[0].name}: {skipped[0].reason}" if skipped else ""
        raise BgganError(f"none of the {len(skipped)} pairs could be scored{first}")

    Path(args.out).mkdir(parents=True, exist_ok=True)
    text = ev.metrics_markdown(scores, scorer, label, source, skipped, notes)
    ev.write_csv(outputs["csv"], scores, args.overwrite)
    ev.write_text(outputs["md"], text, args.overwrite)
    if "grid" in outputs:
        from bggan.images import write_rgb

        write_rgb(outputs["grid"], ev.comparison_grid([s.panels for s in scores if s.panels]), args.overwrite)
    by_f_number = ev.f_number_table(scores)
    print(f"\n{ev.metrics_table(scores, label)}\n" + (f"\nby the targets' f-number:\n{by_f_number}\n" if by_f_number else "")
          + f"\n{scorer.conventions()}.\n\nwrote:\n"
          + "\n".join(f"  {p}" for p in outputs.values()))
    for s in skipped:
        print(f"{PROG}: skipped {s.name}: {s.reason}", file=sys.stderr)
    if skipped:
        print(f"{PROG}: {len(skipped)} of {len(skipped) + len(scores)} pairs skipped (listed in {outputs['md']})",
              file=sys.stderr)
        return 1
    return 0


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
