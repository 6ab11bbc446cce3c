import pytest
import torch
import torch.nn.functional as F

from bggan.models import blocks
from bggan.models.blocks import Conv2dSame, InstanceNorm, ResidualBlock, same_padding


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (64, 3, 2, (0, 1)),  # the trap: TF pads only after on even sizes
    (63, 3, 2, (1, 1)),
    (64, 3, 1, (1, 1)),
    (64, 4, 2, (1, 1)),
    (63, 4, 2, (1, 2)),
    (64, 4, 1, (1, 2)),
    (7, 1, 1, (0, 0)),
])
def test_same_padding_matches_tensorflow_rule(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize(("h", "w", "kernel", "stride"),
                         [(16, 24, 3, 2), (15, 21, 3, 2), (16, 17, 4, 1), (9, 10, 4, 2)])
def test_conv2d_same_equals_explicit_padding(h, w, kernel, stride):
    torch.manual_seed(0)
    conv = Conv2dSame(3, 5, kernel, stride)
    x = torch.randn(2, 3, h, w)
    top, bottom = same_padding(h, kernel, stride)
    left, right = same_padding(w, kernel, stride)
    expected = F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, conv.bias, stride)
    out = conv(x)
    assert out.shape[-2:] == (-(-h // stride), -(-w // stride))
    torch.testing.assert_close(out, expected)
    with torch.inference_mode():  # asymmetric padding by zero_padded
        torch.testing.assert_close(conv(x.contiguous(memory_format=torch.channels_last)), expected)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_zero_padded_is_f_pad_in_the_input_layout(layout):
    x = torch.randn(2, 5, 7, 9).contiguous(memory_format=layout)
    for pads in ((0, 1, 0, 1), (1, 2, 0, 3)):
        out = blocks.zero_padded(x, *pads)
        assert torch.equal(out, F.pad(x, pads)) and out.is_contiguous(memory_format=layout)
    assert not torch.equal(blocks.zero_padded(x, 1, 0, 1, 0), F.pad(x, (0, 1, 0, 1)))  # the control: sides swapped


@pytest.mark.parametrize("kind", ["official", "instance"])
def test_norm_affine_is_the_normalization_as_a_scale_and_shift(kind):
    torch.manual_seed(0)
    x = (torch.randn(2, 8, 12, 10) * 3 + 1).contiguous(memory_format=torch.channels_last)
    reference = InstanceNorm(kind)(x.double()).permute(0, 2, 3, 1).reshape(2, -1, 8)
    scale, shift = blocks.norm_affine(x, kind, 1e-5)
    rows = x.permute(0, 2, 3, 1).reshape(2, -1, 8)
    assert scale.shape == shift.shape == (2, 1, 8)
    assert (rows * scale + shift - reference).abs().max() < 1e-5 * reference.abs().max()
    other, _ = blocks.norm_affine(x, "instance" if kind == "official" else "official", 1e-5)
    assert (rows * other + shift - reference).abs().max() > 0.1 * reference.abs().max()  # the control


def test_official_norm_divides_by_root_of_sum_of_squares():
    x = torch.randn(2, 4, 6, 10, dtype=torch.float64) * 3 + 1
    mean = x.mean((2, 3), keepdim=True)
    expected = (x - mean) / torch.sqrt(((x - mean) ** 2).sum((2, 3), keepdim=True) + 1e-5)
    torch.testing.assert_close(InstanceNorm("official")(x), expected)
    # so each channel has unit norm over H x W: its std is 1 / sqrt(H * W)
    assert InstanceNorm("official")(x).std((2, 3), unbiased=False).sub(1 / 60**0.5).abs().max() < 1e-6


def test_instance_norm_is_textbook():
    x = torch.randn(2, 4, 6, 10) * 3 + 1
    torch.testing.assert_close(InstanceNorm("instance")(x), torch.nn.InstanceNorm2d(4)(x))


@pytest.mark.parametrize("kind", ["official", "instance"])
@pytest.mark.parametrize("shape", [(2, 8, 16, 24), (1, 3, 7, 5), (1, 192, 12, 16)])
def test_pool_form_equals_reduce_form(kind, shape):
    x = torch.randn(shape) * 2 + 0.5
    reduce = InstanceNorm(kind, "reduce")(x)
    pool = InstanceNorm(kind, "pool")(x)
    scale = reduce.abs().max()
    assert (reduce - pool).abs().max() <= 1e-5 * scale


def test_norm_rejects_unknown_options():
    with pytest.raises(ValueError, match="norm must be"):
        InstanceNorm("batch")
    with pytest.raises(ValueError, match="form must be"):
        InstanceNorm("official", "mean")


def test_residual_block_is_deterministic_in_eval_and_drops_out_in_train():
    torch.manual_seed(0)
    block = ResidualBlock(8, "instance", dropout=0.5)
    x = torch.randn(1, 8, 8, 8)
    block.eval()
    torch.testing.assert_close(block(x), block(x))
    block.train()
    assert not torch.equal(block(x), block(x))
    assert (block(x) >= 0).all()  # ends in ReLU


@pytest.mark.parametrize("form", ["reduce", "pool"])
def test_norm_of_a_1x1_map_is_zero_and_differentiable(form):
    x = torch.randn(2, 4, 1, 1, requires_grad=True)
    out = InstanceNorm("official", form)(x)
    assert out.abs().max() == 0
    out.sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize("kind", ["official", "instance"])
def test_reduce_form_returns_bfloat16_with_float32_statistics(kind):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 24) * 3 + 1
    norm = InstanceNorm(kind, "reduce")
    out = norm(x.bfloat16())
    assert out.dtype == torch.bfloat16
    reference = norm(x)
    scale = reference.abs().max()
    assert (out.float() - reference).abs().max() <= 1e-2 * scale  # bf16 rounding of input and output only
    # computed in float32 and rounded once: exactly the float32 result on the same (rounded) input
    assert torch.equal(out, norm(x.bfloat16().float()).bfloat16())


@pytest.mark.parametrize("kind", ["official", "instance"])
def test_reduce_form_keeps_float64(kind):
    x = torch.randn(2, 4, 6, 10, dtype=torch.float64) * 3 + 1
    out = InstanceNorm(kind, "reduce")(x)
    assert out.dtype == torch.float64
    mean, n = x.mean((2, 3), keepdim=True), 60 if kind == "official" else 1
    expected = (x - mean) / torch.sqrt(n * x.var((2, 3), unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["official", "instance"])
@pytest.mark.parametrize("shape", [(1, 192, 12, 16), (2, 8, 7, 5)])
def test_inference_on_channels_last_maps_works_on_their_memory_with_the_same_numbers(kind, shape):
    torch.manual_seed(0)
    x = (torch.randn(shape) * 3 + 1).contiguous(memory_format=torch.channels_last)
    kept = x.clone()
    norm = InstanceNorm(kind)
    reference = norm(x.contiguous())  # NCHW: F.instance_norm
    with torch.inference_mode():
        assert blocks._rows_form_applies(x)
        assert not blocks._rows_form_applies(x.contiguous())  # NCHW keeps F.instance_norm
        out = norm(x)
        other = blocks._normalize_rows(x, 1 if kind == "official" else shape[2] * shape[3], 1e-5)
    assert not blocks._rows_form_applies(x)  # autograd (training) keeps F.instance_norm and its backward
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, kept)  # written over its own centred copy, never over the input
    scale = reference.abs().max()
    assert (out - reference).abs().max() <= 1e-6 * scale
    assert (other - reference).abs().max() > 0.1 * scale  # the control: the other kind's scale is far off


@pytest.mark.parametrize("kind", ["official", "instance"])
def test_channels_last_inference_in_bfloat16_takes_float32_statistics(kind):
    torch.manual_seed(0)
    x = (torch.randn(1, 16, 12, 20) * 3 + 1).bfloat16().contiguous(memory_format=torch.channels_last)
    norm = InstanceNorm(kind)
    with torch.inference_mode():
        assert blocks._rows_form_applies(x)
        out = norm(x)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    expected = norm(x.float().contiguous())  # float32 statistics of the same rounded input
    torch.testing.assert_close(out.float(), expected, rtol=1e-2, atol=1e-2 * expected.abs().max().item())


def test_an_exported_stride_2_convolution_keeps_its_pad(monkeypatch):
    conv = Conv2dSame(3, 4, 3, 2)

    def exported() -> str:
        with torch.no_grad():  # as bggan-export runs torch.onnx.export (torch.export underneath)
            return torch.export.export(conv, (torch.randn(1, 3, 8, 8),)).graph_module.code

    code = exported()
    assert "aten.pad" in code and "copy" not in code
    monkeypatch.setattr(blocks, "eager_inference", lambda: True)  # the control: the eager path traced is seen
    assert "aten.pad" not in exported()
