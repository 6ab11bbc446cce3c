"""Scanning a folder of photo pairs: the EBB! layouts, each file checked, and a report of what was skipped.

Two layouts are recognised:

- ``ROOT/original/NAME.jpg`` + ``ROOT/bokeh/NAME.jpg``, matched by file stem (EBB! training);
- ``ROOT/NAME_src.jpg`` + ``ROOT/NAME_tgt.jpg`` in one folder (the Val294 split; ``NAME.src.jpg``
  is accepted too). Other files there, such as ``NAME.alpha.png``, are ignored.

:func:`scan_folder` reads headers, sizes and the end of each file, so a truncated JPEG is caught before
training starts; :class:`ScanReport` says what it found and what it skipped, and why.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bggan.errors import BgganError
from bggan.images import UNREADABLE

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_SRC_TGT = re.compile(r"^(?P<name>.+)[._](?P<role>src|tgt)$")
#: Skipped files listed one per line in a summary; the rest are counted.
SUMMARY_LINES = 20


def natural_key(name: str) -> list:
    """Sort key that puts ``"2"`` before ``"10"`` (EBB! names are numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Pair:
    """One aligned pair: ``source`` is the sharp photo (EBB!: f/16), ``target`` the bokeh one (EBB!: f/1.8), and the
    target's f-number when it is known (``inf``: no blur, the target is the photo)."""

    name: str
    source: Path
    target: Path
    f_number: float | None = None


@dataclass(frozen=True)
class Skipped:
    """A file (or name) left out by the scan, and why."""

    path: Path
    reason: str


@dataclass
class ScanReport:
    """What a scan of one folder found.

    Attributes:
        root: the folder scanned.
        layout: ``"original/bokeh"`` or ``"src/tgt"``.
        found: names with both images present.
        pairs: the usable pairs, in natural name order (after the keep-list).
        skipped: files that cannot be used, each with its reason.
        not_listed: pairs found but not on the keep-list.
        listed_missing: names on the keep-list with no usable pair.
        ignored: other files in the folder (not images, or not named as part of a pair).
        left_out: how the summary calls ``not_listed`` pairs.
    """

    root: Path
    layout: str
    found: int = 0
    pairs: list[Pair] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    not_listed: int = 0
    listed_missing: list[str] = field(default_factory=list)
    ignored: int = 0
    left_out: str = "not on the keep-list"

    def summary(self) -> str:
        """A few lines for a log: counts first, then up to ``SUMMARY_LINES`` skipped files."""
        lines = [f"{self.root} ({self.layout}): {self.found} pairs found, {len(self.pairs)} kept, "
                 f"{len(self.skipped)} files skipped"
                 + (f", {self.not_listed} {self.left_out}" if self.not_listed else "")
                 + (f", {self.ignored} other files ignored" if self.ignored else "")]
        for s in self.skipped[:SUMMARY_LINES]:
            lines.append(f"  skipped {s.path}: {s.reason}")
        if len(self.skipped) > SUMMARY_LINES:
            lines.append(f"  ... and {len(self.skipped) - SUMMARY_LINES} more skipped")
        if self.listed_missing:
            shown = ", ".join(self.listed_missing[:10]) + (" ..." if len(self.listed_missing) > 10 else "")
            lines.append(f"  {len(self.listed_missing)} names on the keep-list have no usable pair: {shown}")
        return "\n".join(lines)


def probe_image(path: Path, full: bool = False) -> tuple[int, int]:
    """``(height, width)`` of an image as :func:`bggan.images.read_rgb` will see it (EXIF-rotated).

    Reads the header, and checks that a JPEG or PNG ends with its end marker; only a file without
    one (truncated, or with trailing data) or ``full=True`` is decoded completely.

    Raises:
        BgganError: the file is not a readable image, or is truncated.
    """
    try:
        with Image.open(path) as im:
            width, height = im.size
            rotated = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
            if full or not _ends_cleanly(path, im.format):
                im.load()
    except UNREADABLE as e:
        reason = "not an image" if isinstance(e, UnidentifiedImageError) else f"unreadable ({e})"
        raise BgganError(reason) from None
    return (width, height) if rotated else (height, width)


def _ends_cleanly(path: Path, fmt: str | None) -> bool:
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(fmt or "")
    if marker is None:
        return True  # other formats: header only unless a full check is asked for
    with open(path, "rb") as f:
        f.seek(max(os.fstat(f.fileno()).st_size - 64, 0))
        return marker in f.read()


def read_keep_list(path: str | os.PathLike) -> set[str]:
    """Names to keep, one per line (``12`` or ``12.jpg``); blank lines and ``#`` comments ignored."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise BgganError(f"keep-list {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise BgganError(f"keep-list {path}: not a text file") from None
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = Path(line).name
            names.add(Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name)
    if not names:
        raise BgganError(f"keep-list {path} names no pairs")
    return names


def scan_folder(root: str | os.PathLike, keep: set[str] | None = None, check: str = "header",
                threads: int = 8) -> ScanReport:
    """Find the pairs in ``root`` and check every file once.

    Args:
        root: a folder in either layout (see the module docstring).
        keep: names to keep (from :func:`read_keep_list`); ``None`` keeps all.
        check: ``"header"`` (sizes and end markers: fast) or ``"full"`` (decode every file).
        threads: files probed at once (decoding releases the GIL).

    Raises:
        BgganError: ``root`` is missing, is not a folder, or holds no pairs in either layout.
    """
    if check not in ("header", "full"):
        raise BgganError(f"check must be 'header' or 'full', got {check!r}")
    root = Path(root).expanduser()
    if not root.exists():
        raise BgganError(f"{root}: no such folder")
    if not root.is_dir():
        raise BgganError(f"{root}: not a folder")
    if (root / "original").is_dir() and (root / "bokeh").is_dir():
        report = ScanReport(root, "original/bokeh")
        sources, s_ignored = _images_by_stem(root / "original", report)
        targets, t_ignored = _images_by_stem(root / "bokeh", report)
        report.ignored = s_ignored + t_ignored
    else:
        report = ScanReport(root, "src/tgt")
        sources, targets = {}, {}
        images, report.ignored = _images_by_stem(root, report)
        for stem, path in images.items():
            m = _SRC_TGT.match(stem)
            if m is None:
                report.ignored += 1
                continue
            role = sources if m["role"] == "src" else targets
            if m["name"] in role:
                report.skipped.append(Skipped(path, f"a second {m['role']} image named {m['name']!r}"))
                continue
            role[m["name"]] = path
    if not sources and not targets:
        raise BgganError(f"{root}: no image pairs found (expected original/ and bokeh/ folders, "
                         "or NAME_src / NAME_tgt images)")

    for name in sorted(sources.keys() ^ targets.keys(), key=natural_key):
        path = sources.get(name) or targets[name]
        report.skipped.append(Skipped(path, "no partner image"))
    names = sorted(sources.keys() & targets.keys(), key=natural_key)
    report.found = len(names)
    if keep is not None:
        report.not_listed = sum(name not in keep for name in names)
        names = [name for name in names if name in keep]

    def probe(path: Path) -> tuple[int, int] | str:
        try:
            return probe_image(path, full=check == "full")
        except BgganError as e:
            return str(e)

    paths = [p for name in names for p in (sources[name], targets[name])]
    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = dict(zip(paths, pool.map(probe, paths), strict=True))
    for name in names:
        src, tgt = results[sources[name]], results[targets[name]]
        bad = [(p, r) for p, r in ((sources[name], src), (targets[name], tgt)) if isinstance(r, str)]
        if bad:
            report.skipped += [Skipped(p, r) for p, r in bad]
        elif src != tgt:
            report.skipped.append(Skipped(targets[name], f"size {tgt[0]}x{tgt[1]} differs from its partner's "
                                                         f"{src[0]}x{src[1]} (HxW)"))
        else:
            report.pairs.append(Pair(name, sources[name], targets[name]))
    if keep is not None:
        usable = {pair.name for pair in report.pairs}
        report.listed_missing = sorted(keep - usable, key=natural_key)
    return report


def _images_by_stem(folder: Path, report: ScanReport) -> tuple[dict[str, Path], int]:
    """Image files of ``folder`` by stem, and how many other files it holds. Duplicate stems are skipped."""
    images: dict[str, Path] = {}
    duplicates: set[str] = set()
    ignored = 0
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise BgganError(f"{folder}: cannot list ({e.strerror or e})") from None
    for path in entries:
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            ignored += not path.name.startswith(".")
            continue
        if path.stem in images or path.stem in duplicates:
            duplicates.add(path.stem)
            report.skipped.append(Skipped(path, f"another image in {folder.name}/ is also named {path.stem!r}"))
            if path.stem in images:
                report.skipped.append(Skipped(images.pop(path.stem), f"another image in {folder.name}/ is also "
                                                                     f"named {path.stem!r}"))
            continue
        images[path.stem] = path
    return images, ignored
