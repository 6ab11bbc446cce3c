"""ExportGraph, the conversion-friendly rewrite of Glass-Net: same numbers, no Concat, no Add of feature maps."""

import pytest
import torch

from bggan.errors import BgganError
from bggan.export.graph import ExportGraph
from bggan.models import GlassNet


@pytest.mark.parametrize("norm", ["official", "instance"])
@pytest.mark.parametrize("size", [(256, 384), (200, 296)])  # channel == H/8 and W/8 for the tiny model; not 2^k
def test_export_graph_computes_what_glassnet_computes(norm, size):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=2, norm=norm, init="he").eval()
    x = torch.rand(1, 3, *size) * 2 - 1
    with torch.no_grad():
        expected = model(x)[0]
        got = ExportGraph(model, *size)(x)
    assert expected.std() > 0.2  # a spread-out output, or the comparison would prove little
    assert (got - expected).abs().max() < 5e-5  # float32 rounding of two summation orders


def test_export_graph_exports_to_static_ops_only(tiny_glassnet):
    """What the ONNX exporter sees (``torch.export``, as ``torch.onnx.export(dynamo=True)`` runs it)."""
    program = torch.export.export(ExportGraph(tiny_glassnet, 64, 96), (torch.zeros(1, 3, 64, 96),))
    ops = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not any("cat" in op for op in ops)  # a concat axis is what onnx2tf mislays out when C == H/8
    assert any("avg_pool2d" in op for op in ops)
    plain = torch.export.export(GlassNet(c1=4, c2=6, n_res=1), (torch.zeros(1, 3, 64, 96),))
    assert any("cat" in str(n.target) for n in plain.graph.nodes)  # the negative control: GlassNet concatenates


def test_export_size_must_be_a_multiple_of_8(tiny_glassnet):
    with pytest.raises(BgganError, match="multiples of 8"):
        ExportGraph(tiny_glassnet, 100, 96)


def _conditional(condition, gate=False):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=2, init="he", condition=condition, gate=gate).eval()
    for film in (m for m in model.modules() if hasattr(m, "linear")):  # FiLM starts at zero: make it matter
        torch.nn.init.normal_(film.linear.weight, std=0.5)
        torch.nn.init.normal_(film.linear.bias, std=0.3)
    return model


@pytest.mark.parametrize(("condition", "gate"), [("channel", False), ("film", False), ("channel", True)])
def test_export_graph_takes_the_strength_and_computes_what_glassnet_computes(condition, gate):
    model = _conditional(condition, gate)
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    graph = ExportGraph(model, 64, 96)
    with torch.no_grad():
        outputs = {}
        for s in (0.0, 0.225, 1.286):
            expected = model(x, s)[0]
            outputs[s] = graph(x, torch.full((1, 1, 1, 1), s))
            assert (outputs[s] - expected).abs().max() < 5e-5
    assert (outputs[0.0] - outputs[1.286]).abs().mean() > 0.05  # the strength changes the output
    if gate:
        assert torch.equal(outputs[0.0], x)  # no blur is the photo, exactly
    program = torch.export.export(graph, (torch.zeros(1, 3, 64, 96), torch.ones(1, 1, 1, 1)))
    ops = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not any(name in op for op in ops for name in ("cat", "expand", "repeat"))  # no map built by broadcast


def test_export_graph_needs_the_strength_exactly_when_the_generator_takes_one(tiny_glassnet):
    with pytest.raises(ValueError, match="takes the strength"):
        ExportGraph(_conditional("channel"), 64, 96)(torch.zeros(1, 3, 64, 96))
    with pytest.raises(ValueError, match="takes no strength"):
        ExportGraph(tiny_glassnet, 64, 96)(torch.zeros(1, 3, 64, 96), torch.ones(1, 1, 1, 1))
