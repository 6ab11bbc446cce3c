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


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_export_graph_traces_to_static_ops_only(tiny_glassnet):
    traced = torch.jit.trace(ExportGraph(tiny_glassnet, 64, 96), torch.zeros(1, 3, 64, 96), check_trace=False)
    kinds = {node.kind() for node in traced.inlined_graph.nodes()}
    assert "aten::cat" not in kinds  # a concat axis is what onnx2tf mislays out when C == H/8
    assert "aten::avg_pool2d" in kinds


def test_export_size_must_be_a_multiple_of_8(tiny_glassnet):
    with pytest.raises(BgganError, match="multiples of 8"):
        ExportGraph(tiny_glassnet, 100, 96)
