"""The depth options that ``bggan-synth --image`` and ``bggan-render --depth`` share: the depth map, where to focus,
and the lens that turns them into blur.

    --depth FILE --focus X,Y|METRES --aperture N [--disparity] [--near M --far M] [--focal-length MM --sensor-width MM]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from bggan.data.defocus import Lens
from bggan.errors import BgganError

#: The metres a relative map's ends stand for when neither the user nor the file says.
DEFAULT_NEAR_M, DEFAULT_FAR_M = 1.0, 30.0


def add_depth_options(group: argparse._ArgumentGroup, depth_help: str) -> None:
    """``--depth``, ``--disparity``, ``--near``, ``--far``, ``--focus``, ``--focal-length``, ``--sensor-width``."""
    group.add_argument("--depth", help=depth_help)
    group.add_argument("--disparity", action="store_true", help="a relative map is disparity (bright = near)")
    group.add_argument("--near", type=float, help="metres of a relative map's nearest value (default: the file's own, "
                                                  f"else {DEFAULT_NEAR_M:g})")
    group.add_argument("--far", type=float, help="metres of its farthest value (default: the file's own, else "
                                                 f"{DEFAULT_FAR_M:g})")
    group.add_argument("--focus", help="metres, or a pixel X,Y to focus on (default: the centre)")
    group.add_argument("--focal-length", type=float, default=50.0, help="mm (default: %(default)s)")
    group.add_argument("--sensor-width", type=float, default=22.5, help="mm, APS-C (default: %(default)s)")


@dataclass(frozen=True)
class PhotoDepth:
    """A photo's depth in metres ``(H, W)``, where the lens focuses (m), and two lines for the log."""

    depth_m: np.ndarray
    focus_m: float
    source: str
    summary: str


def read_photo_depth(args: argparse.Namespace, path: str, shape: tuple[int, int], photo: str | None = None
                     ) -> PhotoDepth:
    """The depth of a photo of ``shape`` (H, W) from ``path`` (a depth file, or the photo with its depth inside), with
    the options of :func:`add_depth_options`; a relative map is stretched over ``--near``..``--far``, else the range
    its file states, else 1-30 m.

    Raises:
        BgganError: one line for bad depth or options.
    """
    from bggan.data.depth_files import depth_metres, read_depth_map

    depth_map = read_depth_map(path, shape, photo=photo)
    disparity = args.disparity or depth_map.kind == "disparity"
    near = args.near if args.near is not None else depth_map.near_m or DEFAULT_NEAR_M
    far = args.far if args.far is not None else depth_map.far_m or DEFAULT_FAR_M
    depth = depth_metres(depth_map, near, far, disparity)
    focus = parse_focus(args.focus, depth)
    kind = ("metres" if depth_map.kind == "metres" else
            f"{'disparity' if disparity else 'depth'} mapped to {near:g}-{far:g} m")
    return PhotoDepth(depth, focus, depth_map.source,
                      f"depth {depth.min():.2f}-{depth.max():.2f} m ({kind}); focus {focus:.2f} m")


def lens_from(args: argparse.Namespace, f_number: float) -> Lens:
    """The lens of ``--focal-length`` and ``--sensor-width`` at ``f_number`` (``inf``: no blur).

    Raises:
        BgganError: a focal length, sensor width or f-number that is not positive.
    """
    for flag, value in (("--aperture", f_number), ("--focal-length", args.focal_length),
                        ("--sensor-width", args.sensor_width)):
        if not value > 0:  # nan too
            raise BgganError(f"{flag} must be > 0, got {value:g}")
    return Lens(focal_mm=args.focal_length, f_number=f_number, sensor_width_mm=args.sensor_width)


def parse_focus(text: str | None, depth: np.ndarray) -> float:
    """``--focus``: metres (``2.5``), a pixel ``X,Y`` whose depth is used, or the centre's median depth."""
    h, w = depth.shape
    if text is None:
        return float(np.median(depth[int(h * 0.45):int(h * 0.55) + 1, int(w * 0.45):int(w * 0.55) + 1]))
    try:
        if "," in text:
            x, y = (int(v) for v in text.split(","))
            if not (0 <= x < w and 0 <= y < h):
                raise BgganError(f"--focus pixel {x},{y} is outside the {w}x{h} (WxH) photo")
            return float(np.median(depth[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3]))
        focus = float(text)
    except ValueError:
        raise BgganError(f"--focus must be metres (2.5) or a pixel X,Y, got {text!r}") from None
    if not focus > 0:
        raise BgganError(f"--focus must be a distance > 0 m, got {text!r}")
    return focus
