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


def test_a_generator_with_the_aperture_as_input_is_not_exported_yet():
    with pytest.raises(BgganError, match="aperture as an input"):
        ExportGraph(GlassNet(c1=4, c2=6, n_res=1, condition="channel"), 64, 96)
