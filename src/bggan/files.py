"""Writing outputs safely: never clobber a user's file unless asked, never leave half a file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from bggan.errors import BgganError, RunFailed


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Permissions of a new output file: what ``open()`` would give it under this process's umask.
FILE_MODE = 0o666 & ~_read_umask()


class OutputLost(RunFailed):
    """A write failed because of where it goes, not what it writes: the disk is full, the output folder was removed
    or became read-only (exit code 1). Every later output there would fail the same way, so long work stops at the
    first."""


#: errno values of :class:`OutputLost`.
LOST_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.EROFS}


def check_output(path: str | os.PathLike, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Fail early, with one clear line, if ``path`` cannot be written as a new output file.

    Args:
        path: the output file.
        overwrite: an existing file may be replaced.
        inputs: files the command reads; the output may not be one of them, even with ``overwrite``.

    Raises:
        BgganError: the file exists and ``overwrite`` is false, it is a folder or one of ``inputs``, or its folder
            is missing, under a file or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise BgganError(f"{path} is a folder, expected a file name")
    for source in inputs:
        if source is not None and path.exists() and Path(source).exists() and path.samefile(source):
            raise BgganError(f"{path} is also an input; write the output to another file")
    if path.exists() and not overwrite:
        raise BgganError(f"{path} exists; pass --overwrite to replace it")
    parent = path.parent
    if not parent.is_dir():
        above = next((p for p in parent.parents if p.exists()), None) if not parent.exists() else parent
        if above is not None and not above.is_dir():
            raise BgganError(f"{path} cannot be written: {above} is a file")
        raise BgganError(f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BgganError(f"folder {parent} is not writable")
    return path


def check_output_folder(path: str | os.PathLike, what: str = "output folder",
                        inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Fail early, with one clear line, if ``path`` cannot be (or become) a folder to write in: it exists and is
    not a folder, it is one of the ``inputs`` folders, a folder above it is a file, or the nearest existing folder
    above it is not writable. Nothing is made. What a folder that exists holds is the caller's to judge
    (``--overwrite``, a marker file).

    Raises:
        BgganError: one line naming ``what`` and the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BgganError(f"{what} {path} is a file, not a folder")
    for source in inputs:
        if source is not None and path.exists() and Path(source).is_dir() and path.samefile(source):
            raise BgganError(f"{what} {path} is also an input folder; write the outputs to another folder")
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

    Raises:
        OutputLost: the folder is gone or the disk is full (see :data:`LOST_ERRNOS`).
        BgganError: any other reason the file cannot be written (:func:`check_output`).
    """
    if not Path(path).parent.exists():  # it was checked before the work began: removed since
        raise OutputLost(f"cannot write {path}: folder {Path(path).parent} does not exist")
    path = check_output(path, overwrite)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(f"cannot write to {path.parent}", e) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; outputs get the usual permissions
        _publish(tmp, path, overwrite)
    except OSError as e:
        raise write_error(f"cannot write {path}", e) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_error(what: str, error: OSError) -> BgganError:
    """``what: reason`` as an :class:`OutputLost` where the destination is the cause (a full disk, a removed or
    read-only folder), else a :class:`BgganError`."""
    cls = OutputLost if error.errno in LOST_ERRNOS else BgganError
    return cls(f"{what}: {error.strerror or error}")


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


#: What :func:`identify` calls the two kinds of file a generator comes in.
SAFETENSORS, TORCH_CHECKPOINT = "a safetensors file", "a PyTorch checkpoint"

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"\x93NUMPY", "a NumPy array (.npy)"),
          (b"PK\x03\x04", TORCH_CHECKPOINT), (b"\x80", TORCH_CHECKPOINT), (b"%PDF", "a PDF document"),
          (b"\x1f\x8b", "a gzip archive"))


def identify(path: str | os.PathLike) -> str:
    """A few words saying what ``path`` is, from its first bytes (its name only where the bytes say nothing):
    :data:`SAFETENSORS`, :data:`TORCH_CHECKPOINT` (a zip or pickle file, as ``torch.save`` writes), an image, a
    TFLite or ONNX model, a TensorFlow checkpoint, a text file, a folder, ... For error messages and for picking a
    reader; nothing is parsed beyond the first 64 bytes.
    """
    path = Path(path)
    if path.is_dir():
        return "a folder"
    if not path.exists():
        return "missing"
    try:
        with open(path, "rb") as f:
            head = f.read(64)
        size = path.stat().st_size
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if not head:
        return "an empty file"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < struct.unpack("<Q", head[:8])[0] <= size - 8:
        return SAFETENSORS
    if head[4:8] == b"TFL3":
        return "a TFLite model"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1"):
        return "a HEIC image"
    for magic, words in _MAGIC:
        if head.startswith(magic):
            return words
    if path.suffix == ".onnx":
        return "an ONNX model"
    if path.suffix == ".index" or ".data-" in path.name:
        return "a TensorFlow checkpoint (bggan-import-tf converts one)"
    text = head.decode("utf-8", errors="ignore")  # a character cut at byte 64 is dropped
    if text and all(c.isprintable() or c.isspace() for c in text):
        return "a text file"
    return "binary data of an unknown kind"
