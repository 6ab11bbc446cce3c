"""Start-up noise of the libraries this project uses, kept from the user; real warnings still get through.

- TensorFlow's C++ core writes registration lines ("Unable to register cuDNN factory", "computation
  placer already registered") to file descriptor 2 while it loads, before ``TF_CPP_MIN_LOG_LEVEL`` is
  read: :func:`import_tensorflow` captures that descriptor during the import and passes on every
  other line. The TFLite converter and LiteRT's interpreter print more such lines; the export runs
  them inside :func:`filtered_stderr` too.
- Lightning 2.6 logs an advertisement for its cloud logger on every Trainer start:
  :func:`quiet_lightning` drops exactly that record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: TensorFlow's and LiteRT's C++ lines that say nothing about the user's work: at start-up (CUDA plugins on
#: a CPU build, duplicate registrations, CPU feature advice), in the TFLite converter (options it ignores,
#: an MLIR pass that is off) and when an interpreter starts (its CPU delegate).
TENSORFLOW_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|Unable to register cu(DNN|BLAS|FFT) factory|"
    r"computation placer already registered|This TensorFlow binary is optimized|"
    r"To enable the following instructions|oneDNN custom operations are on|Could not find cuda drivers|"
    r"Ignored output_format|Ignored drop_control_dependency|MLIR V1 optimization pass is not enabled|"
    r"Created TensorFlow Lite XNNPACK delegate for CPU")
#: Loggers Lightning's rank-zero messages go through (the ``pytorch_lightning`` and ``lightning`` packages).
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern) -> Iterator[None]:
    """Capture file descriptor 2 (where C++ libraries write) for the block, then write on the lines that do
    not match ``noise``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not noise.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow():
    """``tensorflow``, imported without its C++ start-up noise (``TF_CPP_MIN_LOG_LEVEL=3`` unless set).

    Raises:
        ImportError: TensorFlow is not installed.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with filtered_stderr(TENSORFLOW_NOISE):
        import tensorflow
    return tensorflow


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg) or "litlogger" not in str(record.msg)


def quiet_lightning() -> None:
    """Drop Lightning's cloud-logger tip from its rank-zero log (idempotent); every other record stays."""
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
