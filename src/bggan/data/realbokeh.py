"""RealBokeh (Seizinger et al., "Bokehlicious", ICCV 2025): real captures of each scene at f/22 and at wider apertures.

Canon R6 II, RF 28-70 mm f/2: every scene shot at f/22 (nearly all in focus, the input) and at several apertures
from f/20 to f/2.0 (the targets), focus fixed. The 3 MP release (CC BY-NC-SA 4.0: download it yourself; nothing
here ships or fetches it) is laid out as its authors' loader reads it::

    ROOT/{train,validation,test}/
        in/<id>_f22.JPG               the input of scene <id>
        gt/<id>/<id>_f<N>.JPG         its targets; N as the camera writes it (2.0, 5.6, 8.0, then 10, 14, 20)
        metadata/<id>.json            {"id": 1000, "source_image": "in/1000_f22.JPG",
                                       "target_images": ["gt/1000/1000_f2.0.JPG", ...], "target_avs": [2.0, ...], ...}

The paths in a metadata file are relative to its split's folder, and ``target_avs[k]`` is the f-number of
``target_images[k]``. :class:`RealBokeh` makes one pair per (scene, target), named by the target's file stem
(``1000_f2.0``), labelled with that f-number (the strength ``1.8 / N``, :mod:`bggan.models.condition`; the
authors' own ``2 / N`` is the same scale up to a factor). Scene ids restart in every split.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from torch.utils.data import Dataset

from bggan.data.paired import PairFiles
from bggan.data.scan import Pair, ScanReport, Skipped, natural_key, probe_image
from bggan.errors import BgganError

#: The split folders of the release.
SPLITS = ("train", "validation", "test")
METADATA_FOLDER = "metadata"


def read_scene(path: Path) -> tuple[str, Path, list[tuple[Path, float]]]:
    """One metadata file: ``(id, source image, [(target image, f-number), ...])``, paths under the split folder.

    Raises:
        BgganError: unreadable, not JSON, or without ``source_image``, ``target_images`` and ``target_avs`` of
            one length, f-numbers positive.
    """
    try:
        meta = json.loads(path.read_text())
    except OSError as e:
        raise BgganError(f"unreadable ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BgganError(f"not JSON ({e})") from None
    if not isinstance(meta, dict) or not all(k in meta for k in ("source_image", "target_images", "target_avs")):
        raise BgganError("needs source_image, target_images and target_avs")
    images, avs = meta["target_images"], meta["target_avs"]
    if not isinstance(images, list) or not isinstance(avs, list) or len(images) != len(avs):
        raise BgganError("target_images and target_avs must be lists of one length")
    if not all(isinstance(a, int | float) and not isinstance(a, bool) and a > 0 for a in avs):
        raise BgganError(f"target_avs must be positive f-numbers, got {avs}")
    split = path.parent.parent
    scene = str(meta.get("id", path.stem))
    return scene, split / str(meta["source_image"]), [(split / str(t), float(a)) for t, a in zip(images, avs,
                                                                                                   strict=True)]


def scan_split(folder: str | os.PathLike, apertures: tuple[float, float] | None = None, check: str = "header",
               threads: int = 8) -> ScanReport:
    """The pairs of one split folder (``ROOT/train``, ...), every file checked once (see :func:`probe_image`).

    Args:
        apertures: ``(lowest, highest)`` f-numbers of the targets to keep; ``None`` keeps all.
        check: ``"header"`` or ``"full"`` (decode every file).

    Raises:
        BgganError: the folder is missing or has no ``metadata/*.json``.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise BgganError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    files = sorted((folder / METADATA_FOLDER).glob("*.json"), key=lambda p: natural_key(p.stem))
    if not files:
        raise BgganError(f"{folder}: no {METADATA_FOLDER}/*.json (expected a RealBokeh split: in/, gt/, metadata/)")
    report = ScanReport(folder, "realbokeh", left_out="outside the apertures kept")
    listed: list[Pair] = []
    for path in files:
        try:
            _, source, targets = read_scene(path)
        except BgganError as e:
            report.skipped.append(Skipped(path, str(e)))
            continue
        for target, f_number in targets:
            if apertures is None or apertures[0] <= f_number <= apertures[1]:
                listed.append(Pair(target.stem, source, target, f_number))
            else:
                report.not_listed += 1
    report.found = len(listed) + report.not_listed

    def probe(path: Path) -> tuple[int, int] | str:
        if not path.is_file():
            return "missing (named in its metadata file)"
        try:
            return probe_image(path, full=check == "full")
        except BgganError as e:
            return str(e)

    paths = sorted({p for pair in listed for p in (pair.source, pair.target)})
    with ThreadPoolExecutor(max(1, threads)) as pool:
        sizes = dict(zip(paths, pool.map(probe, paths), strict=True))
    for pair in listed:
        src, tgt = sizes[pair.source], sizes[pair.target]
        if isinstance(src, str) or isinstance(tgt, str):
            report.skipped += [Skipped(p, r) for p, r in ((pair.source, src), (pair.target, tgt)) if isinstance(r, str)]
        elif src != tgt:
            report.skipped.append(Skipped(pair.target, f"size {tgt[0]}x{tgt[1]} differs from its input's "
                                                       f"{src[0]}x{src[1]} (HxW)"))
        else:
            report.pairs.append(pair)
    return report


class RealBokeh:
    """RealBokeh pairs from the release's folder (see the module docstring), one per (scene, target aperture).

    Args:
        root: the folder holding ``train/``, ``validation/`` and ``test/``.
        train, val: the splits to train and validate on (``val="test"`` scores the test split).
        apertures: ``[lowest, highest]`` f-numbers of the targets to keep (e.g. ``[2, 2]``: the widest only, the
            authors' "binary" setting); ``None`` keeps all (f/2.0 to f/20).
        check: ``"header"`` or ``"full"`` (see :func:`scan_split`).
    """

    def __init__(self, root: str | os.PathLike | None, train: str = "train", val: str = "validation",
                 apertures: tuple[float, float] | None = None, check: Literal["header", "full"] = "header"):
        if root is None or str(root) == "":
            raise BgganError("no RealBokeh folder given: set data.pairs.root=/path/to/RealBokeh_3MP "
                             "(or the environment variable BGGAN_REALBOKEH_ROOT)")
        for key, split in (("train", train), ("val", val)):
            if split not in SPLITS:
                raise BgganError(f"data.pairs.{key}={split}: RealBokeh's splits are {', '.join(SPLITS)}")
        if apertures is not None and not (len(apertures) == 2 and 0 < apertures[0] <= apertures[1]):
            raise BgganError(f"data.pairs.apertures must be [lowest, highest] f-numbers, 0 < lowest <= highest, "
                             f"got {list(apertures)}")
        self.root, self.train, self.val, self.check = Path(root).expanduser(), train, val, check
        if not self.root.is_dir():  # when named: before a run folder is made
            raise BgganError(f"data.pairs.root={root}: no such folder")
        self.apertures = None if apertures is None else (float(apertures[0]), float(apertures[1]))
        self.reports: list[ScanReport] = []

    def scan(self) -> list[ScanReport]:
        """Scan both splits once; later calls return the same reports."""
        if not self.reports:
            if not self.root.is_dir():
                raise BgganError(f"{self.root}: no such folder")
            self.reports = [scan_split(self.root / split, self.apertures, self.check)
                            for split in (self.train, self.val)]
            for report in self.reports:
                if not report.pairs:
                    raise BgganError(f"{report.root}: none of the {report.found} pairs listed is usable "
                                     f"({len(report.skipped)} files skipped, {report.not_listed} outside "
                                     f"the apertures kept)")
        return self.reports

    def summary(self) -> str:
        """The scans' reports, and the f-numbers of the pairs kept."""
        lines = [r.summary() for r in self.scan()]
        f_numbers = sorted({p.f_number for r in self.reports for p in r.pairs})
        lines.append(f"split: {len(self.reports[0].pairs)} training pairs ({self.train}), "
                     f"{len(self.reports[1].pairs)} validation pairs ({self.val}); targets at "
                     + ", ".join(f"f/{f:g}" for f in f_numbers))
        return "\n".join(lines)

    def split(self) -> tuple[Dataset, Dataset]:
        """``(train, validation)`` datasets of uint8 pairs with their f-numbers (:class:`PairFiles`)."""
        train, val = self.scan()
        return PairFiles(train.pairs), PairFiles(val.pairs)
