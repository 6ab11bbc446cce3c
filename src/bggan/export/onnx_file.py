"""Hop 1: PyTorch -> ONNX, shaped so that onnx2tf reads its layout without guessing.

The traced graph is folded to constants (onnxsim: the zero Pads of the stride-2 convolutions become
the Conv's own asymmetric ``pads``, which onnx2tf turns into a plain SAME convolution), its nodes get
plain names, and each ConvTranspose gets an onnx2tf *op replacement*: a TensorFlow
``conv2d_transpose`` with ``padding="SAME"`` and its exact NHWC output shape. Without it onnx2tf
computes a VALID transposed convolution and crops it with STRIDED_SLICE (one extra full-tensor copy
per upsampling on a phone), which also breaks when its output shape guess goes wrong.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import torch

from bggan.export.graph import ExportGraph

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "bokeh"


def write_onnx(graph: ExportGraph, path: Path) -> list[dict]:
    """Trace ``graph`` at its fixed size into ``path`` (ONNX, opset 17, NCHW ``1x3xHxW`` float32).

    Returns:
        onnx2tf op replacements (``param_replacement_file`` entries), one per ConvTranspose.
    """
    import onnx
    import onnxsim

    example = torch.zeros(1, 3, graph.height, graph.width)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: every shape is meant to be a constant here
        torch.onnx.export(graph, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True)
    model, ok = onnxsim.simplify(onnx.load(str(path)))
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified graph")
    model = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.output]}
    replacements = []
    for i, node in enumerate(model.graph.node):
        node.name = f"{node.op_type.lower()}_{i}"  # no leading "/": onnx2tf rewrites those names
        if node.op_type == "ConvTranspose":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("kernel_shape") != [4, 4] or attrs.get("strides") != [2, 2] or attrs.get("pads") != [1] * 4:
                raise RuntimeError(f"{node.name}: only 4x4 stride-2 'same' transposed convolutions are expected")
            n, c, h, w = shapes[node.output[0]]
            replacements.append({"op_name": node.name, "param_target": "op", "output_shape": [n, h, w, c],
                                 "strides": [2, 2], "padding": "SAME"})
    onnx.save(model, str(path))
    return replacements


def onnx_op_census(path: Path) -> dict[str, int]:
    """``{op_type: count}`` of an ONNX file's graph."""
    import onnx

    return dict(sorted(Counter(n.op_type for n in onnx.load(str(path)).graph.node).items()))
