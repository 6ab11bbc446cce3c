"""Hop 1: PyTorch -> ONNX, shaped so that onnx2tf reads its layout without guessing.

torch.onnx's dynamo exporter (``torch.export`` + onnxscript) writes the graph at opset 18, the lowest it
implements; the TorchScript exporter it replaces is deprecated, and gave the same graph after the steps
below (the same TFLite op census and outputs, 0.0 apart at 1024x1536; measured when the project switched).
It writes ``torch.rsqrt`` as ``Reciprocal(Sqrt(x))``, which onnx2tf and the TFLite converter leave as
SQRT + DIV (DIV is not on the GPU delegate's list); :func:`reciprocal_as_div` makes it ``Div(1, Sqrt(x))``,
which becomes one RSQRT. The graph is then folded to constants (onnxsim: the zero Pads of the stride-2 convolutions become
the Conv's own asymmetric ``pads``, which onnx2tf turns into a plain SAME convolution), its nodes get
plain names, and each ConvTranspose gets an onnx2tf *op replacement*: a TensorFlow
``conv2d_transpose`` with ``padding="SAME"`` and its exact NHWC output shape. Without it onnx2tf
computes a VALID transposed convolution and crops it with STRIDED_SLICE (one extra full-tensor copy
per upsampling on a phone), which also breaks when its output shape guess goes wrong.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from bggan.export.depth_graph import DepthExportGraph
from bggan.export.graph import ExportGraph

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "bokeh"
#: The second input of a generator with the aperture as an input: ``1x1x1x1`` float32, ``1.8 / f-number``.
STRENGTH_NAME = "strength"
STRENGTH_SHAPE = (1, 1, 1, 1)
#: The second input of a depth-aware generator: its defocus map, signed px, ``1x1xHxW`` (NCHW) or ``1xHxWx1`` (NHWC).
DEFOCUS_NAME = "defocus"


def strength_input(strength: float) -> np.ndarray:
    """One strength as every exported file's ``strength`` input: :data:`STRENGTH_SHAPE` float32."""
    return np.full(STRENGTH_SHAPE, strength, np.float32)


def condition_input(condition: float | np.ndarray, nhwc: bool) -> np.ndarray:
    """One image's second input: a strength (a number) as :func:`strength_input`, or a defocus map ``(H, W)`` as
    ``(1, H, W, 1)`` (``nhwc``: TensorFlow, TFLite) or ``(1, 1, H, W)`` (PyTorch, ONNX), float32."""
    c = np.asarray(condition, np.float32)
    if c.ndim == 0:
        return strength_input(float(c))
    if c.ndim != 2:
        raise ValueError(f"a defocus map is (H, W), got {c.shape}")
    return c[None, :, :, None] if nhwc else c[None, None]


def split_inputs(shapes: dict[str, list[int]]) -> tuple[str, str | None]:
    """``(image input, second input or None)`` of an exported model by input name -> shape: the image is the largest
    input; the second, a ``1x1x1x1`` strength or a one-channel defocus map of the image's size (converters rename
    inputs and change their layout; the sizes stay).

    Raises:
        ValueError: not one image input and at most one strength or defocus input.
    """
    sizes = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    names = sorted(sizes, key=sizes.get, reverse=True)
    second = names[1] if len(names) == 2 else None
    if not 1 <= len(names) <= 2 or (second is not None and tuple(shapes[second]) != STRENGTH_SHAPE
                                    and 3 * sizes[second] != sizes[names[0]]):
        raise ValueError(f"expected an image input and at most one 1x1x1x1 strength or one-channel defocus input, got "
                         f"{[list(shape) for shape in shapes.values()]}")
    return names[0], second


def takes_map(shapes: dict[str, list[int]], second: str | None) -> bool:
    """Whether the second input (as :func:`split_inputs` names it) is a defocus map, not a ``1x1x1x1`` strength."""
    return second is not None and tuple(shapes[second]) != STRENGTH_SHAPE


def example_inputs(graph: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{input name: example}`` of an export graph at its fixed size: the image ``1x3xHxW``, and the strength
    ``1x1x1x1`` or the defocus map ``1x1xHxW`` of a generator that takes one."""
    h, w = graph.height, graph.width
    inputs = {INPUT_NAME: torch.zeros(1, 3, h, w)}
    if graph.condition == "defocus":
        inputs[DEFOCUS_NAME] = torch.ones(1, 1, h, w)
    elif graph.condition is not None:
        inputs[STRENGTH_NAME] = torch.ones(STRENGTH_SHAPE)
    return inputs


def write_onnx(graph: ExportGraph | DepthExportGraph, path: Path) -> list[dict]:
    """Export ``graph`` at its fixed size into ``path`` (ONNX, opset 18, NCHW ``1x3xHxW`` float32, and ``strength``
    ``1x1x1x1`` float32 for a generator with the aperture as an input, or ``defocus`` ``1x1xHxW`` float32 for a
    depth-aware one).

    Returns:
        onnx2tf op replacements (``param_replacement_file`` entries), one per ConvTranspose.
    """
    import onnx
    import onnxsim

    inputs = example_inputs(graph)
    with torch.no_grad(), _exporter_quiet():
        torch.onnx.export(graph, tuple(inputs.values()), str(path), dynamo=True, opset_version=OPSET, verbose=False,
                          input_names=list(inputs), output_names=[OUTPUT_NAME], external_data=False)
    model, ok = onnxsim.simplify(onnx.load(str(path)))
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified graph")
    reciprocal_as_div(model)
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


def reciprocal_as_div(model) -> int:
    """Rewrite each ``Reciprocal(x)`` of an ONNX model as ``Div(1, x)``, in place; returns how many.

    The same numbers (IEEE division), but onnx2tf turns Reciprocal into ``tf.math.reciprocal``, which the
    TFLite converter leaves as a DIV after the SQRT, while ``1 / sqrt(x)`` becomes one RSQRT.
    """
    import onnx

    nodes = [n for n in model.graph.node if n.op_type == "Reciprocal"]
    if nodes:
        one = "bggan_one"
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.ones((), np.float32), one))
        for node in nodes:
            node.op_type = "Div"
            node.input.insert(0, one)
    return len(nodes)


@contextlib.contextmanager
def _exporter_quiet():
    """The dynamo exporter's progress and its notes on torchvision (absent here) and on constant folding
    (onnxsim folds next) go to a buffer; its errors still raise."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "torch._dynamo", "torch.export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def onnx_op_census(path: Path) -> dict[str, int]:
    """``{op_type: count}`` of an ONNX file's graph."""
    import onnx

    return dict(sorted(Counter(n.op_type for n in onnx.load(str(path)).graph.node).items()))
