"""``bggan-render``: add bokeh to photos with a trained generator, or with its ONNX or TFLite export.

    bggan-render photo.jpg holiday/ --weights generator.safetensors --out rendered/
    bggan-render holiday/ --weights export/generator-1024x1536/ --backend tflite --out rendered/

Files and folders (searched recursively for .jpg, .jpeg, .png and .webp; the subfolders are kept under --out).
Each output keeps its photo's size, format (unless --format), bit depth, ICC profile, EXIF and alpha; it is
written to a temporary file and renamed, and an existing one is replaced only with --overwrite. A photo that
cannot be read or rendered is reported in one line and skipped; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bggan.cli.common import Parser, parse_size, run_command
from bggan.errors import BgganError
from bggan.render.backends import BACKENDS, PRECISIONS
from bggan.render.photo import FORMATS, PHOTO_SUFFIXES
from bggan.render.renderer import OVERLAP, TILE, RenderOptions

PROG = "bggan-render"


@dataclass(frozen=True)
class Job:
    """One photo to render and where its output goes."""

    source: Path
    output: Path


def find_photos(inputs: list[str]) -> list[tuple[Path, Path]]:
    """``(photo, path relative to the output folder)`` for every input file and every photo under input folders.

    Raises:
        BgganError: an input does not exist, or a folder holds no photo.
    """
    found = []
    for name in inputs:
        path = Path(name)
        if path.is_file():
            found.append((path, Path(path.name)))
        elif path.is_dir():
            photos = sorted(p for p in path.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not photos:
                raise BgganError(f"{path}: no {', '.join(PHOTO_SUFFIXES)} files in this folder")
            found += [(p, p.relative_to(path)) for p in photos]
        else:
            raise BgganError(f"{path}: no such file or folder")
    return found


def plan_jobs(inputs: list[str], out: Path, fmt: str) -> list[Job]:
    """The jobs, with output names ``<relative path>.<format suffix>``; refuses clashes and outputs over inputs."""
    jobs, seen = [], {}
    for source, relative in find_photos(inputs):
        suffix = FORMATS[fmt] if fmt != "same" else (source.suffix.lower() if source.suffix.lower() in
                                                     PHOTO_SUFFIXES else ".png")
        output = out / relative.with_suffix(suffix)
        if output in seen:
            raise BgganError(f"{source} and {seen[output]} would both be written to {output}")
        if output.resolve() == source.resolve():
            raise BgganError(f"{output} would replace its own input; choose another --out")
        seen[output] = source
        jobs.append(Job(source, output))
    return jobs


def select_jobs(out: Path, jobs: list[Job], overwrite: bool, skip_existing: bool) -> list[Job]:
    """Refuse to replace existing outputs unless told; with ``skip_existing`` drop the jobs whose output exists."""
    if out.exists() and not out.is_dir():
        raise BgganError(f"--out {out} is a file, expected a folder")
    existing = [j for j in jobs if j.output.exists()]
    if existing and not (overwrite or skip_existing):
        raise BgganError(f"{len(existing)} output(s) exist already (first: {existing[0].output}); "
                         "pass --overwrite to replace them or --skip-existing to render only the others")
    return [j for j in jobs if not j.output.exists()] if skip_existing else jobs


def make_folders(jobs: list[Job], out: Path) -> None:
    """Create the output folder and its subfolders; one line if that is impossible."""
    folders = sorted({j.output.parent for j in jobs})
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BgganError(f"cannot create {e.filename or out}: {e.strerror}") from None
    for folder in folders:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BgganError(f"folder {folder} is not writable")


def parse_tile(text: str) -> tuple[int, int] | None:
    return None if text.lower() == "none" else parse_size(text, "--tile")


def render_all(jobs: list[Job], backend, options: RenderOptions, fmt: str, quality: int,
               overwrite: bool) -> tuple[int, list[str], float]:
    """Render every job with a progress bar; returns (tiled photos, failure lines, seconds)."""
    import torch

    from bggan.render.photo import read_photo, write_photo
    from bggan.render.renderer import render_photo, tile_count

    failures, tiled = [], 0
    started = time.perf_counter()
    bar = tqdm(jobs, desc="rendering", unit="photo", dynamic_ncols=True)
    for job in bar:
        bar.set_postfix_str(job.source.name, refresh=False)
        try:
            photo = read_photo(job.source)
            if photo.note:
                tqdm.write(f"{job.source}: {photo.note}")
            tiles = tile_count(photo.size, options, backend.fixed_size)
            tiled += tiles > 1
            with tqdm(total=tiles, desc=f"  {job.source.name}", unit="tile", leave=False,
                      disable=tiles == 1, dynamic_ncols=True) as tile_bar:
                result = render_photo(photo, backend, options, backend.fixed_size, tile_bar.update)
            write_photo(job.output, result, None if fmt == "same" else fmt, overwrite, quality)
        except (BgganError, MemoryError, torch.cuda.OutOfMemoryError) as e:
            line = str(e) if isinstance(e, BgganError) else f"{job.source}: out of memory ({type(e).__name__})"
            failures.append(line)
            tqdm.write(f"{PROG}: skipped {line}", file=sys.stderr)
    return tiled, failures, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog=PROG, description=__doc__.splitlines()[0].split(": ", 1)[1],
               formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files and folders")
    p.add_argument("--weights", required=True,
                   help="a .ckpt or .safetensors generator (torch), a .onnx or .tflite file, or a bggan-export folder")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                   help="default: from --weights (.onnx, .tflite, an export folder: its TFLite model; else torch)")
    p.add_argument("--format", choices=("same", *FORMATS), default="same", help="output format (default: the input's)")
    p.add_argument("--quality", type=int, default=95, help="JPEG and WebP quality (default: %(default)s)")
    p.add_argument("--tile", default=f"{TILE[0]}x{TILE[1]}",
                   help="largest piece the model sees at once, HxW, turned for portrait photos, or 'none' "
                        "(default: %(default)s; photos that fit are rendered whole, exactly)")
    p.add_argument("--overlap", type=int, default=OVERLAP, help="px shared by neighbouring tiles (default: %(default)s)")
    p.add_argument("--resize-like-released", action="store_true",
                   help="resize sides up to a multiple of 8 (bicubic) and back, as the authors' script did, "
                        "instead of reflect padding")
    p.add_argument("--device", help="torch backend: cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="torch backend: fp32 (exact) or bf16 (convolutions in bfloat16: 2-4x faster on a CPU with "
                        "AMX, 53-67 dB from fp32 measured; see the README) (default: %(default)s)")
    p.add_argument("--gpu-precision", choices=("fp16", "fp32"), default="fp16",
                   help="tflite-gpu backend: the GPU's default fp16, or fp32 (default: %(default)s)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    group.add_argument("--skip-existing", action="store_true", help="render only photos without an output yet")
    args = p.parse_args(argv)
    if not 1 <= args.quality <= 100:
        raise BgganError(f"--quality must be in 1..100, got {args.quality}")
    if args.overlap < 0:
        raise BgganError(f"--overlap must be >= 0, got {args.overlap}")
    options = RenderOptions(parse_tile(args.tile), args.overlap, args.resize_like_released)

    out = Path(args.out)
    jobs = select_jobs(out, plan_jobs(args.inputs, out, args.format), args.overwrite, args.skip_existing)
    from bggan.render.backends import backend_for

    # before anything is created
    backend = backend_for(args.weights, args.backend, args.device, args.gpu_precision, args.precision)
    try:
        print(f"model: {backend.description}")
        if not jobs:
            print(f"nothing to render: every output exists in {out}")
            return 0
        make_folders(jobs, out)
        tiled, failures, seconds = render_all(jobs, backend, options, args.format, args.quality, args.overwrite)
    finally:
        getattr(backend, "close", lambda: None)()  # the GPU backend's worker process
    done = len(jobs) - len(failures)
    print(f"rendered {done} of {len(jobs)} photo(s) in {seconds:.1f} s ({seconds / len(jobs):.2f} s/photo"
          f"{f', {tiled} tiled' if tiled else ''}) -> {out}" + (f"; {len(failures)} failed" if failures else ""))
    return 1 if failures else 0


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
