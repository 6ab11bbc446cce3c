"""The bridge to phones: a trained generator -> ONNX -> TensorFlow (NHWC) -> TFLite, with parity at every hop.

Everything here but :mod:`bggan.export.graph` needs the ``export`` extra (onnx, onnx2tf, tensorflow...);
those imports happen inside functions, so ``import bggan.export`` works without it.
"""

from bggan.export.graph import ExportGraph
from bggan.export.pipeline import ExportConfig, ExportResult, export

__all__ = ["ExportConfig", "ExportGraph", "ExportResult", "export"]
