"""``bggan-render``: add bokeh to photos with a trained generator, or with its ONNX or TFLite export.

    bggan-render photo.jpg holiday/ --weights generator.safetensors --out rendered/
    bggan-render holiday/ --weights export/generator-1024x1536/ --backend tflite --out rendered/

A model trained with the aperture as an input renders at the f-number asked for:

    bggan-render photo.jpg --weights aperture.safetensors --aperture 2.8 --out rendered/
    bggan-render photo.jpg --weights aperture.safetensors --out rendered/ --sweep [16,8,5.6,4,2.8,2,1.4]

A depth-aware model renders a photo with its depth map, at the focus and f-number asked for (default f/1.8):

    bggan-render photo.jpg --weights depth.safetensors --depth depth.png --focus 640,410 --aperture 2 --out rendered/
    bggan-render portraits/ --weights depth.safetensors --depth embedded --out rendered/   # phones' own depth

--sweep writes NAME_f16.jpg ... NAME_f1.4.jpg (NAME_noblur for inf) and NAME_strip.jpg, the renders side by side.

Files and folders (searched recursively for .jpg, .jpeg, .png, .webp and .heic; the subfolders are kept under --out).
Each output keeps its photo's size, format (unless --format), bit depth, ICC profile, EXIF and alpha; it is
written to a temporary file and renamed, and an existing one is replaced only with --overwrite. A photo that
cannot be read or rendered is reported in one line and skipped; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bggan.cli.common import Parser, parse_size, run_command
from bggan.cli.depth_args import add_depth_options, lens_from
from bggan.errors import BgganError
from bggan.files import OutputLost
from bggan.models.condition import STRIP_F_NUMBERS
from bggan.progress import progress
from bggan.render.backends import BACKENDS, PRECISIONS
from bggan.render.photo import FORMATS, PHOTO_SUFFIXES, SAME_SUFFIX
from bggan.render.renderer import OVERLAP, TILE, RenderOptions

PROG = "bggan-render"
#: ``--depth`` value that reads each photo's own depth (a phone's portrait photo).
EMBEDDED = "embedded"
#: The f-number a depth-aware model renders at when none is given.
DEFAULT_F_NUMBER = 1.8


@dataclass(frozen=True)
class Job:
    """One photo to render, where its output goes, and at which f-number (``None``: the model's one look)."""

    source: Path
    output: Path
    f_number: float | None = None


def parse_f_numbers(text: str, flag: str) -> list[float]:
    """``"2.8"`` or ``"16,8,2.8"`` -> f-numbers (``inf``: no blur); anything but positive numbers is a BgganError."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BgganError(f"{flag}: f-numbers such as 2.8 or 16,8,4 (inf: no blur), got {text!r}") from None
    if not all(v > 0 for v in values):  # nan fails too
        raise BgganError(f"{flag}: an f-number is a positive number, got {text!r}")
    if len(set(values)) != len(values):
        raise BgganError(f"{flag}: an f-number is given twice in {text!r}")
    return values


def sweep_name(relative: Path, f_number: float) -> Path:
    """``holiday/a.jpg`` at f/2.8 -> ``holiday/a_f2.8.jpg`` (``a_noblur.jpg`` for inf)."""
    tag = "noblur" if math.isinf(f_number) else f"f{f_number:g}"
    return relative.with_name(f"{relative.stem}_{tag}{relative.suffix}")


def strip_path(output: Path) -> Path:
    """Where a sweep's strip goes, from one of its outputs: ``a_f2.8.jpg`` -> ``a_strip.jpg``."""
    return output.with_name(f"{output.stem.rsplit('_', 1)[0]}_strip{output.suffix}")


def find_photos(inputs: list[str]) -> list[tuple[Path, Path]]:
    """``(photo, path relative to the output folder)`` for every input file and every photo under input folders.

    Raises:
        BgganError: an input does not exist, a file named is plainly no photo (by its first bytes: text, empty, a
            model, ...), or a folder holds no photo. A photo in a folder that cannot be read is skipped when its turn
            comes, as is one named that only fails to decode.
    """
    from bggan.files import identify

    found = []
    for name in inputs:
        path = Path(name)
        if path.is_file():
            kind = identify(path)
            if not (kind.endswith("image") or kind.startswith("binary data")):
                raise BgganError(f"{path} is {kind}, not a photo")
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


def plan_jobs(inputs: list[str], out: Path, fmt: str, f_numbers: list[float | None] | None = None,
              sweep: bool = False) -> list[Job]:
    """The jobs, with output names ``<relative path>.<format suffix>``, one per photo and f-number (``sweep``: named
    by :func:`sweep_name`, and each photo's strip planned too); refuses clashes and outputs over inputs."""
    jobs, seen = [], {}
    for source, relative in find_photos(inputs):
        given = source.suffix.lower()
        suffix = FORMATS[fmt] if fmt != "same" else SAME_SUFFIX.get(given, given if given in PHOTO_SUFFIXES else ".png")
        planned = [Job(source, out / (sweep_name(relative, f) if sweep else relative).with_suffix(suffix), f)
                   for f in f_numbers or [None]]
        for path in [j.output for j in planned] + ([strip_path(planned[0].output)] if sweep else []):
            if path in seen:
                raise BgganError(f"{source} and {seen[path]} would both be written to {path}")
            if path.resolve() == source.resolve():
                raise BgganError(f"{path} would replace its own input; choose another --out")
            seen[path] = source
        jobs += planned
    return jobs


def select_jobs(out: Path, jobs: list[Job], overwrite: bool, skip_existing: bool, sweep: bool = False) -> list[Job]:
    """Refuse to replace existing outputs (and a sweep's strips) unless told; with ``skip_existing`` drop the jobs
    whose output exists."""
    from bggan.files import check_output_folder

    check_output_folder(out, "--out")
    paths = [j.output for j in jobs] + (sorted({strip_path(j.output) for j in jobs}) if sweep else [])
    existing = [p for p in paths if p.exists()]
    if existing and not (overwrite or skip_existing):
        raise BgganError(f"{len(existing)} output(s) exist already (first: {existing[0]}); "
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


@dataclass(frozen=True)
class DepthPlan:
    """Where a depth-aware model's photos get their depth: one file for the one photo, or each photo's own
    (``--depth embedded``), with the depth options of :mod:`bggan.cli.depth_args`."""

    args: argparse.Namespace

    @property
    def embedded(self) -> bool:
        return self.args.depth == EMBEDDED

    def read(self, source: Path, shape: tuple[int, int]):
        """The photo's :class:`~bggan.cli.depth_args.PhotoDepth` (BgganError: one line)."""
        from bggan.cli.depth_args import read_photo_depth

        return read_photo_depth(self.args, str(source) if self.embedded else self.args.depth, shape, str(source))

    def defocus(self, depth, f_number: float | None, width: int):
        """The defocus map ``(H, W)`` px of ``depth`` at ``f_number`` (None: f/1.8; ``inf``: zeros, the lens's)."""
        import numpy as np

        from bggan.data.depth_bokeh import signed_coc

        lens = lens_from(self.args, DEFAULT_F_NUMBER if f_number is None else f_number)
        return signed_coc(depth.depth_m, depth.focus_m, lens, width).astype(np.float32)


def render_all(jobs: list[Job], backend, options: RenderOptions, fmt: str, quality: int,
               overwrite: bool, sweep: bool = False, depth: DepthPlan | None = None
               ) -> tuple[int, list[str], int, float]:
    """Render every job with a progress bar, each photo read once for all its f-numbers (``sweep``: then its strip,
    :func:`bggan.render.strip.aperture_strip`), with ``depth`` for a depth-aware model; returns (tiled renders,
    failure lines, renders not written, seconds)."""
    import torch

    from bggan.images import write_rgb
    from bggan.render.backends import set_aperture
    from bggan.render.photo import read_photo, write_photo
    from bggan.render.renderer import render_photo, tile_count
    from bggan.render.strip import aperture_strip

    failures, tiled, written = [], 0, 0
    started = time.perf_counter()
    bar = progress(total=len(jobs), desc="rendering", unit="render" if sweep else "photo", dynamic_ncols=True)
    for source, same_photo in itertools.groupby(jobs, key=lambda j: j.source):
        group, before = list(same_photo), written
        bar.set_postfix_str(source.name, refresh=False)
        try:
            photo = read_photo(source)
            if photo.note:
                tqdm.write(f"{source}: {photo.note}")
            photo_depth = None if depth is None else depth.read(source, photo.size)
            if photo_depth is not None and (depth.embedded or len(jobs) == len(group)):
                tqdm.write(f"{source}: {photo_depth.source}; {photo_depth.summary}")
            tiles = tile_count(photo.size, options, backend.fixed_size)
            renders = []
            for job in group:
                defocus = None
                if photo_depth is None:
                    set_aperture(backend, job.f_number)
                else:
                    defocus = depth.defocus(photo_depth, job.f_number, photo.size[1])
                tiled += tiles > 1
                with progress(total=tiles, desc=f"  {source.name}", unit="tile", leave=False,
                          disable=tiles == 1, dynamic_ncols=True) as tile_bar:
                    result = render_photo(photo, backend, options, backend.fixed_size, tile_bar.update, defocus)
                write_photo(job.output, result, None if fmt == "same" else fmt, overwrite, quality)
                renders.append(result.rgb if result.bits == 8 else (result.rgb >> 8).astype("uint8"))
                written += 1
                bar.update()
            if sweep:
                strip = strip_path(group[0].output)
                write_rgb(strip, aperture_strip(renders, [DEFAULT_F_NUMBER if j.f_number is None else j.f_number
                                                          for j in group]), overwrite,
                          **({"quality": quality} if strip.suffix in (".jpg", ".webp") else {}))
        except OutputLost as e:  # every later output would fail the same way; what is written stays
            failures.append(str(e))
            tqdm.write(f"{PROG}: stopped: {e}; {written} of {len(jobs)} written, the rest not tried", file=sys.stderr)
            break
        except (BgganError, MemoryError, torch.cuda.OutOfMemoryError) as e:
            line = str(e) if isinstance(e, BgganError) else f"{source}: out of memory ({type(e).__name__})"
            failures.append(line)
            bar.update(len(group) - (written - before))
            tqdm.write(f"{PROG}: skipped {line}", file=sys.stderr)
    bar.close()
    return tiled, failures, len(jobs) - written, time.perf_counter() - started


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
                   help="torch backend: fp32 (exact), bf16 (convolutions in bfloat16: 2-5x faster on a CPU with "
                        "AMX, 53-67 dB from fp32 measured) or int8 (convolutions in int8 on the CPU; see the "
                        "README for speed and quality) (default: %(default)s)")
    p.add_argument("--gpu-precision", choices=("fp16", "fp32"), default="fp16",
                   help="tflite-gpu backend: the GPU's default fp16, or fp32 (default: %(default)s)")
    aperture = p.add_mutually_exclusive_group()
    aperture.add_argument("--aperture", metavar="F", help="a model with the aperture or the depth as an input: render "
                                                          "at f/F (1.8: EBB!'s look and a depth-aware model's "
                                                          "default; inf: no blur)")
    aperture.add_argument("--sweep", nargs="?", const=",".join(f"{f:g}" for f in STRIP_F_NUMBERS), metavar="F,F,...",
                          help="a model with the aperture or the depth as an input: render each photo at every "
                               "f-number and side by side in NAME_strip (default: %(const)s)")
    add_depth_options(p.add_argument_group("depth (a depth-aware model: model=depth)"),
                      f"the photo's depth map: .npy (metres), a grayscale 8/16-bit image (relative, bright = far), a "
                      f"phone photo with its depth inside (Dynamic Depth or GDepth JPEG, HEIC); or '{EMBEDDED}': each "
                      "photo's own depth inside it")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    group.add_argument("--skip-existing", action="store_true", help="render only photos without an output yet")
    args = p.parse_args(argv)
    if not 1 <= args.quality <= 100:
        raise BgganError(f"--quality must be in 1..100, got {args.quality}")
    if args.overlap < 0:
        raise BgganError(f"--overlap must be >= 0, got {args.overlap}")
    options = RenderOptions(parse_tile(args.tile), args.overlap, args.resize_like_released)
    sweep = args.sweep is not None
    if sweep and args.skip_existing:
        raise BgganError("--skip-existing does not go with --sweep (a strip needs every render); use --overwrite")
    f_numbers = (parse_f_numbers(args.sweep, "--sweep") if sweep else
                 parse_f_numbers(args.aperture, "--aperture") if args.aperture is not None else [None])
    if len(f_numbers) > 1 and not sweep:
        raise BgganError(f"--aperture takes one f-number, got {args.aperture!r}; --sweep takes several")

    out = Path(args.out)
    jobs = select_jobs(out, plan_jobs(args.inputs, out, args.format, f_numbers, sweep), args.overwrite,
                       args.skip_existing, sweep)
    from bggan.render.backends import backend_for, set_aperture

    # before anything is created
    backend = backend_for(args.weights, args.backend, args.device, args.gpu_precision, args.precision)
    try:
        depth = check_depth(args, backend, jobs)  # a model and options that do not fit: one line, nothing written
        if depth is None:
            set_aperture(backend, f_numbers[0])
        print(f"model: {backend.description}")
        if not jobs:
            print(f"nothing to render: every output exists in {out}")
            return 0
        make_folders(jobs, out)
        tiled, failures, failed, seconds = render_all(jobs, backend, options, args.format, args.quality,
                                                      args.overwrite, sweep, depth)
    finally:
        getattr(backend, "close", lambda: None)()  # the GPU backend's worker process
    what = "render(s)" if len(f_numbers) > 1 else "photo(s)"
    print(f"rendered {len(jobs) - failed} of {len(jobs)} {what} in {seconds:.1f} s ({seconds / len(jobs):.2f} s each"
          f"{f', {tiled} tiled' if tiled else ''}) -> {out}" + (f"; {len(failures)} failed" if failures else ""))
    return 1 if failures else 0


def check_depth(args: argparse.Namespace, backend, jobs: list[Job]) -> DepthPlan | None:
    """The depth plan of a depth-aware model (None for another), checked before anything is written: one depth file
    goes with one photo, and is read once here.

    Raises:
        BgganError: a depth-aware model without ``--depth``, ``--depth`` for another model, a depth file for several
            photos, or a depth file that cannot be read for its photo.
    """
    if not backend.takes_defocus:
        if args.depth is not None:
            raise BgganError("--depth needs a depth-aware model (trained with model=depth); this one takes no depth")
        return None
    if args.depth is None:
        raise BgganError(f"this model is depth-aware: give --depth FILE (or --depth {EMBEDDED} for phone photos "
                         "with their depth inside)")
    if args.resize_like_released:
        raise BgganError("--resize-like-released does not go with a depth-aware model (it would resize the depth)")
    plan = DepthPlan(args)
    for f_number in {DEFAULT_F_NUMBER if j.f_number is None else j.f_number for j in jobs}:
        lens_from(args, f_number)  # the lens options, before any photo is rendered
    sources = sorted({job.source for job in jobs})
    if not plan.embedded and sources:
        if len(sources) > 1:
            raise BgganError(f"--depth {args.depth} is one photo's depth map; {len(sources)} photos were given "
                             f"(--depth {EMBEDDED} reads each photo's own)")
        from bggan.render.photo import read_photo

        plan.read(sources[0], read_photo(sources[0]).size)
    return plan


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
