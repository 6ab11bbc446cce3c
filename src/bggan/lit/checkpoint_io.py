"""Checkpoints you can trust: atomic writes (a kill cannot truncate one) and a last.ckpt that is always the last epoch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint

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


class BestAndLastCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` whose ``save_last`` writes ``last.ckpt`` at every save point, as before Lightning 2.6.

    Lightning 2.6 writes ``last.ckpt`` only when a top-k checkpoint is written at the same step:
    with ``monitor`` and ``save_top_k=1``, an epoch that does not improve the metric leaves
    ``last.ckpt`` at the best epoch, and ``ckpt_path=last`` would resume from there.
    """

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_behind(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_behind(trainer)

    def _save_last_if_behind(self, trainer) -> None:
        # skipped when Lightning saved at this step already (then it wrote last.ckpt too), in a
        # sanity check, outside fit
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
