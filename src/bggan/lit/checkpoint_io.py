"""Checkpoint writes that a kill cannot truncate: a temporary file beside the target, then one rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from bggan.files import FILE_MODE


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` that writes ``path`` atomically on a local file system.

    Lightning's own save goes through ``fsspec``'s transaction, which stages the file in the
    system temp folder and moves it, a copy when that is another file system. Here the file is
    written next to its target, flushed to disk, and renamed over it, so ``last.ckpt`` is always
    either the previous complete checkpoint or the new complete one.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
