"""Pretrained weights from torch.hub's cache: downloaded once, their SHA-256 checked on every load."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bggan.errors import BgganError
from bggan.files import sha256


def fetch_checked(url: str, what: str, hint: str, download: bool = True) -> Path:
    """``torch.hub.get_dir()/checkpoints/<file name of url>``, downloaded once if ``download``.

    The file name carries the first hex digits of the file's SHA-256 after its last ``-`` (torchvision's
    convention, e.g. ``vgg19-dcbb9e9d.pth``); they are checked every time.

    Raises:
        BgganError: not cached and ``download`` is off or fails, or the hash is wrong. The message names
            ``what`` and ends with ``hint`` (how to give a local file instead).
    """
    name = url.rsplit("/", 1)[-1]
    expected = name.rsplit("-", 1)[-1].split(".")[0]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    if not cached.is_file():
        if not download:
            raise BgganError(f"the {what} are not in torch.hub's cache ({cached}); {hint}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.parent / f".{name}.partial"
        try:
            torch.hub.download_url_to_file(url, str(partial), progress=True)
        except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
            raise BgganError(f"the {what} are not cached ({cached}) and could not be downloaded ({e}); "
                             f"{hint}") from None
        os.replace(partial, cached)
    if not sha256(cached).startswith(expected):
        raise BgganError(f"{cached}: SHA-256 does not start with {expected}; delete it to download again, or {hint}")
    return cached
