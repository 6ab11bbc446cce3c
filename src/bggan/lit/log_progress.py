"""Lightning's progress bar as lines in a log when stdout is not a terminal (:mod:`bggan.progress`)."""

from __future__ import annotations

import sys

from pytorch_lightning.callbacks import TQDMProgressBar

from bggan.progress import LogProgress


class LogProgressBar(TQDMProgressBar):
    """:class:`TQDMProgressBar` whose training bar is a :class:`~bggan.progress.LogProgress`: each epoch one line per
    tenth of its batches (with the loss and, after validation, the validation metrics), instead of a carriage
    return per batch. The sanity-check and validation bars, which vanish in a terminal, print nothing."""

    def init_sanity_tqdm(self) -> LogProgress:
        return LogProgress(desc=self.sanity_check_description, disable=True, leave=False, file=sys.stdout)

    def init_train_tqdm(self) -> LogProgress:
        return LogProgress(desc=self.train_description, disable=self.is_disabled, leave=True, file=sys.stdout,
                           smoothing=0)

    def init_validation_tqdm(self) -> LogProgress:
        return LogProgress(desc=self.validation_description, disable=True, leave=False, file=sys.stdout)
