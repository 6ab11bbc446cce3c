"""Image files matched by name across folders: what ``bggan-eval --pred/--target/--input`` scores."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from bggan.data.depth_maps import DEPTH_SUFFIXES, depth_f_number, read_coc
from bggan.data.scan import natural_key
from bggan.errors import BgganError
from bggan.images import read_rgb

#: Image files that :func:`pair_folders` matches by stem.
EVAL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Unmatched file names shown in the summary line (the rest are counted).
UNMATCHED_SHOWN = 5


@dataclass(frozen=True)
class SkippedPair:
    """A pair that was not scored, and why."""

    name: str
    reason: str


class FilePairs(Dataset):
    """Images matched by name across folders; item ``i`` is ``{"name", ROLE: (H, W, 3) uint8, ..., "coc"?}``.

    Args:
        entries: ``(name, {role: path})`` in scoring order; roles are ``"pred"``, ``"input"``, ``"target"``,
            and ``"coc"`` for the target's depth file (:mod:`bggan.data.depth_maps`), read as ``(H, W)`` px.
        f_numbers: the targets' f-numbers by name, where known: items then carry ``"f_number"``.

    Reading an item raises :class:`BgganError` (naming the file) for an unreadable image or depth file, or
    when the images (and map) of one pair differ in size.
    """

    def __init__(self, entries: list[tuple[str, dict[str, Path]]], f_numbers: dict[str, float] | None = None):
        self.entries = list(entries)
        self.f_numbers = dict(f_numbers or {})

    @classmethod
    def from_pairs(cls, pairs, coc: str | os.PathLike | None = None) -> FilePairs:
        """From :class:`bggan.data.scan.Pair` records (``name``, ``source``, ``target``, ``f_number``): roles input
        and target, the depth file of each name in folder ``coc`` when it has one, and the f-numbers known."""
        maps = files_by_stem(coc, DEPTH_SUFFIXES) if coc is not None else {}
        return cls([(p.name, {"input": Path(p.source), "target": Path(p.target),
                              **({"coc": maps[p.name]} if p.name in maps else {})}) for p in pairs],
                   {p.name: p.f_number for p in pairs if getattr(p, "f_number", None) is not None})

    def name(self, index: int) -> str:
        return self.entries[index][0]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        name, paths = self.entries[index]
        images = {role: read_coc(path) if role == "coc" else read_rgb(path) for role, path in paths.items()}
        sizes = {role: image.shape[:2] for role, image in images.items()}
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{role} {h}x{w}" for role, (h, w) in sizes.items())
            raise BgganError(f"sizes differ: {detail} (HxW)")
        return {"name": name, **images, **({"f_number": self.f_numbers[name]} if name in self.f_numbers else {})}


@dataclass
class Pairing:
    """What :func:`pair_folders` found: the pairs to score, files without a partner, names used twice."""

    pairs: FilePairs
    unmatched: list[str]
    ambiguous: list[SkippedPair]

    def unmatched_line(self) -> str | None:
        """``"N files without a partner, not scored: a, b, ..."`` (first few names), or ``None``."""
        if not self.unmatched:
            return None
        shown = ", ".join(self.unmatched[:UNMATCHED_SHOWN])
        more = f" and {len(self.unmatched) - UNMATCHED_SHOWN} more" if len(self.unmatched) > UNMATCHED_SHOWN else ""
        return f"{len(self.unmatched)} files without a partner, not scored: {shown}{more}"


def images_by_stem(folder: str | os.PathLike,
                   suffixes: tuple[str, ...] = EVAL_SUFFIXES) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Files with ``suffixes`` (default: images, :data:`EVAL_SUFFIXES`) of ``folder`` by stem, and stems used by
    more than one file.

    Raises:
        BgganError: ``folder`` is missing, not a folder, or cannot be listed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BgganError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    try:
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes)
    except OSError as e:
        raise BgganError(f"{folder}: cannot list ({e.strerror or e})") from None
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    unique = {stem: paths[0] for stem, paths in by_stem.items() if len(paths) == 1}
    return unique, {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}


def files_by_stem(folder: str | os.PathLike, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """The files with ``suffixes`` of ``folder`` by stem (a stem used twice is left out)."""
    return images_by_stem(folder, suffixes)[0]


def pair_folders(pred: str | os.PathLike, target: str | os.PathLike, input: str | os.PathLike | None = None,
                 coc: str | os.PathLike | None = None) -> Pairing:
    """Match files of the folders by stem (any of :data:`EVAL_SUFFIXES` on each side), in natural name order.

    A name is scored only when every folder has it; other files are listed in ``unmatched`` (as
    ``folder/file``), and a name given to two files in one folder (``a.jpg``, ``a.png``) is ``ambiguous``.
    ``coc``: a folder of the targets' depth files (``NAME.npz`` or ``NAME.npy``, :mod:`bggan.data.depth_maps`);
    a pair with one is also scored per band of its circle of confusion, and grouped by the f-number its ``.npz``
    names, if any.
    """
    folders = {"pred": Path(pred), "target": Path(target)}
    if input is not None:
        folders["input"] = Path(input)
    found = {role: images_by_stem(folder) for role, folder in folders.items()}
    maps = files_by_stem(coc, DEPTH_SUFFIXES) if coc is not None else {}
    names = set().union(*(set(files) | set(dups) for files, dups in found.values()))
    entries, unmatched, ambiguous = [], [], []
    for name in sorted(names, key=natural_key):
        doubled = [p for _, dups in found.values() for p in dups.get(name, [])]
        if doubled:
            ambiguous.append(SkippedPair(name, "more than one file with this name: "
                                         + ", ".join(f"{p.parent.name}/{p.name}" for p in doubled)))
        elif all(name in files for files, _ in found.values()):
            entries.append((name, {role: files[name] for role, (files, _) in found.items()}))
            if name in maps:
                entries[-1][1]["coc"] = maps[name]
        else:
            unmatched += [f"{folders[role].name}/{files[name].name}" for role, (files, _) in found.items()
                          if name in files]
    f_numbers = {}
    for name, paths in entries:
        if paths.get("coc") is not None and paths["coc"].suffix == ".npz":
            try:
                f_number = depth_f_number(paths["coc"])
            except BgganError:
                continue  # reading the pair reports the broken file
            if f_number is not None:
                f_numbers[name] = f_number
    return Pairing(FilePairs(entries, f_numbers), unmatched, ambiguous)
