"""``bggan-synth``: synthetic bokeh pairs for training, or classical bokeh for one photo with a depth map.

    bggan-synth --out DIR --n 500 --size 512x768 --seed 0
    bggan-synth --image photo.jpg --depth depth.png --focus 2.5 --aperture 1.8 --out out.jpg
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bggan.cli.common import Parser, parse_size, run_command
from bggan.cli.depth_args import add_depth_options, lens_from, read_photo_depth
from bggan.errors import BgganError
from bggan.files import check_output
from bggan.images import read_rgb, write_rgb

PROG = "bggan-synth"
#: What ``--depth`` takes (bggan-render's says the same).
DEPTH_HELP = ("its depth map: .npy (metres), a grayscale 8/16-bit image (relative, bright = far), or a phone photo "
              "with its depth inside (Dynamic Depth or GDepth JPEG, HEIC), e.g. the photo itself")


def photo_main(args: argparse.Namespace) -> int:
    from bggan.data.depth_bokeh import render_with_depth, signed_coc

    if args.depth is None:
        raise BgganError("--image needs --depth (a depth or disparity map of the photo, or the photo itself if its "
                         "depth is inside)")
    check_output(args.out, args.overwrite, inputs=[args.image, args.depth])
    image = read_rgb(args.image)
    depth = read_photo_depth(args, args.depth, image.shape[:2], photo=args.image)
    print(f"depth map: {depth.source}")
    lens = lens_from(args, args.aperture)
    bokeh = render_with_depth(image, depth.depth_m, depth.focus_m, lens, highlight_gain=args.highlights)
    largest = float(np.abs(signed_coc(depth.depth_m, depth.focus_m, lens, image.shape[1])).max())
    print(f"{depth.summary}; {lens.focal_mm:g} mm f/{lens.f_number:g}: blur up to {largest:.0f} px")
    write_rgb(args.out, bokeh, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    return 0


def folder_main(args: argparse.Namespace) -> int:
    from bggan.data.synthetic import check_apertures
    from bggan.data.synthetic_folder import write_synthetic_folder

    size = parse_size(args.size)
    lens = lens_from(args, args.aperture)
    apertures = check_apertures(args.apertures, args.no_blur, ("--apertures", "--no-blur"))
    rate = write_synthetic_folder(args.out, args.n, size, args.seed, args.workers, f".{args.format}",
                                  args.overwrite, progress=not args.no_progress, lens=lens, textures=args.textures,
                                  apertures=apertures, no_blur=args.no_blur)
    print(f"wrote {args.n} pairs at {size[0]}x{size[1]} to {args.out}/original, {args.out}/bokeh and "
          f"{args.out}/depth ({rate:.1f} pairs/s); train on them with data=ebb data.pairs.root={args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog=PROG, description=__doc__.splitlines()[0].split(": ", 1)[1],
               formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--out", required=True, help="a folder for pairs, or the output image with --image")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    pairs = p.add_argument_group("synthetic pairs (EBB! layout: DIR/original, DIR/bokeh)")
    pairs.add_argument("--n", type=int, default=500, help="pairs (default: %(default)s)")
    pairs.add_argument("--size", default="512x768", help="HxW (default: %(default)s)")
    pairs.add_argument("--seed", type=int, default=0, help="first seed; pair k uses seed+k (default: %(default)s)")
    pairs.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    pairs.add_argument("--format", choices=("jpg", "png"), default="jpg", help="jpg (quality 95) or png")
    pairs.add_argument("--no-progress", action="store_true", help="no progress bar")
    pairs.add_argument("--textures", help="a folder of photos to cut the scenes from (default: scikit-image's)")
    pairs.add_argument("--apertures", type=float, nargs=2, metavar=("LOWEST", "HIGHEST"),
                       help="each pair at its own f-number, log-uniform (e.g. 1.4 22), kept in its depth file")
    pairs.add_argument("--no-blur", type=float, default=0.0,
                       help="with --apertures: the share of pairs with no blur (target = input; default: 0)")
    photo = p.add_argument_group("one photo with a depth map (the lens options apply to synthetic pairs too)")
    photo.add_argument("--image", help="the photo")
    add_depth_options(photo, DEPTH_HELP)
    photo.add_argument("--aperture", type=float, default=1.8, help="f-number (default: %(default)s)")
    photo.add_argument("--highlights", type=float, default=1.0,
                       help="gain for clipped highlights in linear light, e.g. 6 (default: 1, as shot)")
    args = p.parse_args(argv)
    return photo_main(args) if args.image else folder_main(args)


def cli() -> None:
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    cli()
