"""What a TFLite file holds: its op census against the GPU delegate's op list, and TensorFlow's analyzer verdict.

The analyzer's verdict is recorded, never used: since TensorFlow 2.18 ``Analyzer.analyze(...,
gpu_compatibility=True)`` performs no per-op GPU check (removed upstream in tensorflow PR #74830; issue
#77042 asks for it back) and calls FlexCosh, UNIQUE, int64 ARG_MAX and TOPK_V2 compatible. What decides is
the op list below and the run on LiteRT's GPU accelerator (:mod:`bggan.export.gpu_hop`).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: Ops of the TFLite GPU delegate's supported list that an exported Glass-Net may contain
#: (DEQUANTIZE: fp16 / int8 weights; QUANTIZE: the float ends of a full-integer model). A depth-aware one adds its
#: blur stack's DEPTHWISE_CONV_2D and RESIZE_BILINEAR, its gate's MAX_POOL_2D and the sRGB curves' POW.
GPU_OPS = frozenset({"ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "MAX_POOL_2D", "MUL",
                     "POW", "QUANTIZE", "RELU", "RESIZE_BILINEAR", "RSQRT", "SUB", "TANH", "TRANSPOSE_CONV"})
#: Ops that must not appear: layout copies and the reductions the average-pool normalization replaces.
FORBIDDEN_OPS = frozenset({"TRANSPOSE", "MEAN", "SUM", "STRIDED_SLICE", "PAD", "CONCATENATION", "RESHAPE"})

_OP_LINE = re.compile(r"^\s+Op#\d+ ([A-Z0-9_]+)\(")


@dataclass
class TfliteCheck:
    """``ops``: ``{op: count}``; ``analyzer_ok``: TensorFlow's analyzer said "compatible" (recorded only: it checks
    nothing since TF 2.18); ``analyzer_notes``: its other lines about the GPU; ``outside_gpu_list``: ops not in
    :data:`GPU_OPS`; ``forbidden``: ops in :data:`FORBIDDEN_OPS`."""

    ops: dict[str, int]
    analyzer_ok: bool
    analyzer_notes: list[str] = field(default_factory=list)
    outside_gpu_list: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)

    @property
    def ops_allowed(self) -> bool:
        """Every op on the GPU delegate's list and none forbidden (the analyzer's verdict plays no part)."""
        return not self.outside_gpu_list and not self.forbidden


def analyze(path: Path) -> str:
    """TensorFlow's model analyzer text for ``path``, GPU compatibility included."""
    from bggan.quiet import import_tensorflow

    tf = import_tensorflow()

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    return text.getvalue()


def check_tflite(path: Path) -> TfliteCheck:
    text = analyze(path)
    ops = Counter(m.group(1) for line in text.splitlines() if (m := _OP_LINE.match(line)))
    ok = "looks compatible with GPU delegate" in text
    notes = [line.strip() for line in text.splitlines()
             if "GPU" in line and "looks compatible" not in line and "does not guarantee" not in line]
    return TfliteCheck(ops=dict(sorted(ops.items())), analyzer_ok=ok, analyzer_notes=notes,
                       outside_gpu_list=sorted(set(ops) - GPU_OPS), forbidden=sorted(set(ops) & FORBIDDEN_OPS))
