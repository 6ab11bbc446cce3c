"""``bggan-demo``: the main job on a fresh CPU machine: synthetic pairs -> pretrain -> adversarial -> scores.

Both stages train the tiny Glass-Net (``experiment=demo``) through the same code as
``bggan-train``; the table compares the held-out synthetic pairs' PSNR and SSIM with the
identity baseline (output = input), which a useful model must beat.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

from bggan.cli.common import run_command
from bggan.errors import BgganError, TrainingFailed

PROG = "bggan-demo"
MARKER = "demo.json"  # marks a folder this command made: --overwrite only ever deletes such a folder


def prepare_folder(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BgganError(f"{out} exists and is not empty; pass --overwrite to replace an earlier demo")
        if not (out / MARKER).is_file():
            raise BgganError(f"{out} holds files that bggan-demo did not write (no {MARKER}); not deleting it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from bggan.cli.train import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def quiet_known_warnings() -> None:
    """Lightning's advice that does not apply here (the demo loads in-memory pairs in the main process)."""
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*smaller than the logging interval.*")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("--out", default="outputs/demo", help="folder for both runs and the scores (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    p.add_argument("--vgg-weights", help="local VGG19 weights (vgg19-dcbb9e9d.pth) to turn the perceptual term on")
    p.add_argument("--pretrain-epochs", type=int, default=40, help="default: %(default)s")
    p.add_argument("--adversarial-epochs", type=int, default=12, help="default: %(default)s")
    p.add_argument("--min-gain", type=float, default=0.0,
                   help="dB over the identity baseline the final model must reach (default: %(default)s)")
    args = p.parse_args(argv)
    if args.vgg_weights and not Path(args.vgg_weights).is_file():
        raise BgganError(f"--vgg-weights {args.vgg_weights}: no such file")
    if args.pretrain_epochs < 1 or args.adversarial_epochs < 1:
        raise BgganError("--pretrain-epochs and --adversarial-epochs must be >= 1")
    out = Path(args.out)
    prepare_folder(out, args.overwrite)
    (out / MARKER).write_text(json.dumps(vars(args), indent=2) + "\n")
    quiet_known_warnings()

    from bggan.evaluate import evaluate
    from bggan.models.weights import load_generator
    from bggan.train import build, train

    if args.vgg_weights:
        vgg = [f"loss.vgg_weights={Path(args.vgg_weights).resolve()}"]
        print(f"VGG19 perceptual term: ON in the adversarial stage (weight 0.1), weights from {args.vgg_weights}")
    else:
        vgg = ["loss.w_vgg=0"]
        print("VGG19 perceptual term: OFF (no VGG19 weights offline; --vgg-weights PATH turns it on)")
    started = time.perf_counter()
    common = ["experiment=demo", "trainer.enable_model_summary=false"]

    print(f"\n[1/3] pretrain: tiny Glass-Net, L1 + SSIM, {args.pretrain_epochs} epochs  ->  {out / 'pretrain'}")
    pre_cfg = compose([*common, "stage=pretrain", "name=demo/pretrain", f"trainer.max_epochs={args.pretrain_epochs}"])
    pre = train(pre_cfg, out / "pretrain")

    print(f"\n[2/3] adversarial: + two PatchGAN critics (WGAN-GP), {args.adversarial_epochs} epochs, "
          f"from {pre.best}  ->  {out / 'adversarial'}")
    adv_cfg = compose([*common, "stage=adversarial", "name=demo/adversarial", f"init_from={pre.best}",
                       f"trainer.max_epochs={args.adversarial_epochs}", *vgg])
    adv = train(adv_cfg, out / "adversarial")

    print("\n[3/3] scoring on the held-out synthetic pairs")
    _, held_out = build(adv_cfg.data.pairs).split()
    rows = [("identity (output = input)", evaluate(None, held_out, "identity")),
            ("after pretrain", evaluate(load_generator(pre.generator), held_out, "pretrain")),
            ("after adversarial", evaluate(load_generator(adv.generator), held_out, "adversarial"))]
    h, w = adv_cfg.data.pairs.size
    table = [f"held-out synthetic pairs: {rows[0][1].images} at {h}x{w}; PSNR/SSIM on RGB in [0, 1], whole images",
             "", "| model | PSNR (dB) | SSIM | s/image |", "|---|---:|---:|---:|"]
    table += [f"| {name} | {s.psnr:.2f} | {s.ssim:.4f} | {f'{s.seconds_per_image:.3f}' if i else '-'} |"
              for i, (name, s) in enumerate(rows)]
    text = "\n".join(table)
    (out / "scores.md").write_text(text + "\n")
    print("\n" + text)
    gain = rows[2][1].psnr - rows[0][1].psnr
    minutes = (time.perf_counter() - started) / 60
    print(f"\nfinal model vs identity: {gain:+.2f} dB PSNR, {rows[2][1].ssim - rows[0][1].ssim:+.4f} SSIM "
          f"({minutes:.1f} min)\n\nartifacts:\n  pretrain run:    {pre.run_dir}\n  adversarial run: {adv.run_dir}\n"
          f"  generator:       {adv.generator}\n  scores:          {out / 'scores.md'}\n"
          f"  validation grids: {adv.run_dir / 'images'}")
    if gain <= args.min_gain:
        raise TrainingFailed(f"the trained model does not beat the identity baseline by more than "
                             f"{args.min_gain} dB ({gain:+.2f} dB)")
    return 0


def cli() -> None:
    sys.exit(run_command(PROG, main))
