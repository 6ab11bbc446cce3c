"""The released normalization on a GPU's fp16 path: its sum of squared deviations would overflow; the export's form
does not (the same numbers in fp32), proved on LiteRT's fp16 path with the old form as the negative control."""

import pytest
import torch
import torch.nn.functional as F

from bggan.errors import ExportFailed
from bggan.export import ExportConfig, export
from bggan.models import GlassNet, save_generator
from bggan.models.blocks import InstanceNorm, released_norm_part

pytestmark = pytest.mark.export
SIZE = (256, 384)


def hot_weights(path):
    """The tiny model with its residual convolutions scaled up: at 256x384 (32x48 maps, N = 1536) the released
    normalization's N * var reaches about 1.4e5, past fp16's 65504, while 256 var (the export's form) and each
    squared deviation stay under."""
    torch.manual_seed(0)
    generator = GlassNet(c1=4, c2=6, n_res=1, init="he")
    with torch.no_grad():
        for block in (generator.rough.res[0], generator.refine.res[0]):
            block.conv1.weight.mul_(10)
    save_generator(generator, path)
    return str(path)


def summed(self, x, negate=False):
    """The form the export used before: ``centred * rsqrt(N * var + eps)``, forming the sum N * var."""
    window = (int(x.shape[-2]), int(x.shape[-1]))
    mean = F.avg_pool2d(x, window)
    centred = mean - x if negate else x - mean
    var = F.avg_pool2d(centred * centred, window) * float(window[0] * window[1])
    return centred * torch.rsqrt(var + self.eps)


@pytest.mark.parametrize("area", [96, 1536, 24576, 98304, 393216])
def test_the_eps_term_stays_above_what_the_onnx_optimizer_drops(area):
    part = released_norm_part(area)
    assert 1 <= part <= area and part <= max(256, area / 100 + 1)  # M v stays far from fp16's overflow
    assert part * 1e-5 / area >= 1e-7  # an Add of a constant under about 1e-8 is dropped as an Add of 0


def test_the_exported_norm_keeps_its_eps_add_at_a_large_map(tmp_path):
    """A 200x200 map (N = 40000): with M = N / 100 the eps term is 1e-7, and the ONNX graph keeps its Add
    (at 6.5e-9 the dynamo exporter's optimizer removed it, leaving rsqrt(0) for a constant map)."""
    import onnx

    norm = InstanceNorm("official", "pool").eval()
    torch.onnx.export(norm, (torch.randn(1, 2, 200, 200),), str(tmp_path / "norm.onnx"), dynamo=True, opset_version=18,
                      verbose=False)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "norm.onnx")).graph.node]
    assert ops.count("Add") == 1
    constant = torch.zeros(1, 2, 200, 200)
    assert torch.equal(norm(constant), constant)  # v == 0: the eps keeps it finite


def test_the_pool_form_is_the_released_formula_in_fp32():
    x = torch.randn(2, 5, 32, 48) * 30  # N = 1536: the pool form uses M = 256
    norm = InstanceNorm("official", "pool")
    centred = x - x.mean(dim=(-2, -1), keepdim=True)
    expected = centred / torch.sqrt((centred**2).sum(dim=(-2, -1), keepdim=True) + norm.eps)
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(summed(norm, x), expected, rtol=1e-5, atol=1e-7)


def test_the_sum_overflows_on_the_gpus_fp16_path_and_the_export_form_does_not(tmp_path, gpu_runtime, monkeypatch):
    weights = hot_weights(tmp_path / "hot.safetensors")
    lines = []
    # 58 dB: what fp16 arithmetic alone reaches here (63.5 dB); channels lost to an overflow cost about 12 dB
    result = export(ExportConfig(weights=weights, out=str(tmp_path / "ok"), size=SIZE, gpu="required",
                                 min_psnr_gpu_fp16=58), log=lines.append)
    assert 65504 > result.squared_deviation_max > 500  # the values themselves fit fp16
    fp16 = next(r for r in result.gpu.runs if r.file == "model_float32.tflite" and r.precision == "fp16")
    assert fp16.passed and fp16.parity.psnr > 58
    assert not [line for line in lines if "warning" in line]

    assert largest_sum(weights) > 65504  # what the old form computes

    # the negative control: the same model through the old form, whose N * var passes 65504
    monkeypatch.setattr(InstanceNorm, "pooled", summed)
    with pytest.raises(ExportFailed, match=r"GPU hop failed: model_float32.tflite on the GPU \(fp16\)"):
        export(ExportConfig(weights=weights, out=str(tmp_path / "old"), size=SIZE, gpu="required",
                            min_psnr_gpu_fp16=58), log=lambda line: None)


def largest_sum(weights) -> float:
    """The largest N * var over the normalizations on the export's parity image."""
    from bggan.export.inputs import export_images, to_model_nhwc
    from bggan.models import load_generator

    generator, found = load_generator(weights), []
    hooks = [m.register_forward_hook(lambda m, i, o: found.append(float(
        (i[0].var(dim=(-2, -1), unbiased=False) * i[0][0, 0].numel()).max())))
        for m in generator.modules() if isinstance(m, InstanceNorm)]
    with torch.no_grad():
        generator(torch.from_numpy(to_model_nhwc(export_images(1, *SIZE, seed=0))[0]).permute(2, 0, 1)[None])
    for hook in hooks:
        hook.remove()
    return max(found)


def test_the_peak_is_recorded_on_the_forward_that_runs_and_can_pass_fp16():
    from torch import nn

    from bggan.export.graph import FP16_MAX, SquaredDeviationPeak

    model = nn.Sequential(InstanceNorm("official"))
    x = torch.zeros(1, 1, 4, 8)
    x[0, 0, 0, 0] = 300.0
    with SquaredDeviationPeak(model) as peak:
        assert peak.value == 0.0
        model(x)
    assert peak.value == pytest.approx((300 - 300 / 32) ** 2) and peak.value > FP16_MAX
    model(x * 1000)  # after the block: no longer recorded
    assert peak.value == pytest.approx((300 - 300 / 32) ** 2)
