"""Writing outputs safely: never clobber a user's file unless asked, never leave half a file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bggan.errors import BgganError


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Permissions of a new output file: what ``open()`` would give it under this process's umask.
FILE_MODE = 0o666 & ~_read_umask()


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Fail early, with one clear line, if ``path`` cannot be written as a new output file.

    Raises:
        BgganError: the file exists and ``overwrite`` is false, it is a folder, or its folder
            is missing or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise BgganError(f"{path} is a folder, expected a file name")
    if path.exists() and not overwrite:
        raise BgganError(f"{path} exists; pass --overwrite to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise BgganError(f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BgganError(f"folder {parent} is not writable")
    return path


def check_output_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Fail early, with one clear line, if ``path`` cannot be (or become) a folder to write in: it exists and is
    not a folder, a folder above it is a file, or the nearest existing folder above it is not writable. Nothing is
    made. What a folder that exists holds is the caller's to judge (``--overwrite``, a marker file).

    Raises:
        BgganError: one line naming ``what`` and the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BgganError(f"{what} {path} is a file, not a folder")
    above = path
    while not above.exists():
        if above.parent == above:
            break
        above = above.parent
    if above != path and not above.is_dir():
        raise BgganError(f"{what} {path} cannot be made: {above} is a file")
    if above.is_dir() and not os.access(above, os.W_OK | os.X_OK):
        raise BgganError(f"{what} {path}: {above} is not writable")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path`` in one step.

    If the body raises, the temporary file is removed and ``path`` is untouched. Without
    ``overwrite`` a file that appeared at ``path`` in the meantime is not replaced either.
    """
    path = check_output(path, overwrite)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise BgganError(f"cannot write to {path.parent}: {e.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; outputs get the usual permissions
        _publish(tmp, path, overwrite)
    except OSError as e:
        raise BgganError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path exists: no clobbering, even in a race
    except FileExistsError:
        raise BgganError(f"{path} exists; pass --overwrite to replace it") from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise BgganError(f"{path} exists; pass --overwrite to replace it") from None
        os.replace(tmp, path)


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
