import numpy as np
import pytest

from bggan.export.onnx_file import reciprocal_as_div

pytestmark = pytest.mark.export


def _rsqrt_model(op: str):
    """``y = op(sqrt(x))`` for a ``(2, 3)`` float32 input: Reciprocal, as the dynamo exporter writes rsqrt."""
    onnx = pytest.importorskip("onnx")
    h = onnx.helper
    nodes = [h.make_node("Sqrt", ["x"], ["s"]), h.make_node(op, ["s"], ["y"])]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 18)], ir_version=10)


def _run(model, x):
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_reciprocal_becomes_a_division_of_one_with_the_same_numbers():
    import onnx

    x = np.random.default_rng(0).uniform(0.01, 4, (2, 3)).astype(np.float32)
    model = _rsqrt_model("Reciprocal")
    before = _run(model, x)
    assert reciprocal_as_div(model) == 1
    onnx.checker.check_model(model)
    div = model.graph.node[1]
    assert div.op_type == "Div" and div.input[0] == "bggan_one" and div.input[1] == "s"
    np.testing.assert_array_equal(_run(model, x), before)


def test_a_graph_without_reciprocal_is_left_alone():
    model = _rsqrt_model("Neg")
    assert reciprocal_as_div(model) == 0 and len(model.graph.initializer) == 0
