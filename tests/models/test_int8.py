"""Glass-Net's convolutions in int8 (bggan.models.int8): each piece against its float original, and the model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bggan.models import GlassNet
from bggan.models.int8 import Int8Conv2d, Int8UpConv, _phase_kernel, int8_available, to_int8

pytestmark = pytest.mark.skipif(not int8_available(), reason="this PyTorch has no oneDNN int8 convolutions")


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    return float((out - reference).pow(2).mean() / reference.pow(2).mean())


def psnr(out: torch.Tensor, reference: torch.Tensor) -> float:
    """On [-1, 1] images."""
    return float(10 * torch.log10(4 / (out - reference).pow(2).mean()))


def cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def scene(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """``(1, 3, h, w)`` in [-1, 1]: smooth colour with some edges, like a photo more than noise is."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=g) * 2 - 1
    return cl(F.interpolate(coarse, size=(h, w), mode="nearest").clamp(-1, 1) * 0.8
              + 0.2 * torch.rand(1, 3, h, w, generator=g))


def test_the_phase_kernels_are_the_transposed_convolution_in_float():
    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(5, 7, 4, 2, padding=1)
    x = torch.randn(2, 5, 6, 10)
    with torch.no_grad():
        reference = deconv(x)
        for weight, close in ((deconv.weight, True), (deconv.weight.flip(2, 3), False)):  # the control: read flipped
            out = torch.empty_like(reference).view(2, 7, 6, 2, 10, 2)
            for a in (0, 1):
                phases = F.conv2d(x, _phase_kernel(weight, a), deconv.bias.repeat(2), padding=1)
                for b in (0, 1):
                    out[:, :, :, a, :, b] = phases[:, 7 * b:7 * (b + 1), a:a + 6, b:b + 10]
            assert torch.allclose(out.view_as(reference), reference, atol=1e-5) == close


@pytest.mark.parametrize(("stride", "size", "padding"), [(1, (16, 24), (1, 1, 1, 1)), (2, (16, 24), (0, 1, 0, 1)),
                                                         (2, (15, 23), (1, 1, 1, 1))])
def test_an_int8_convolution_is_the_float_one_within_its_rounding(stride, size, padding):
    torch.manual_seed(0)
    weight, bias = torch.randn(8, 12, 3, 3) * 0.1, torch.randn(8)
    x = cl(torch.randn(1, 12, *size).relu())
    top, bottom, left, right = padding
    reference = F.conv2d(F.pad(x, (left, right, top, bottom)), weight, bias, stride).relu()
    with torch.inference_mode():
        out = Int8Conv2d(weight, bias, stride, padding, relu=True)(x)
    assert out.shape == reference.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert relative_error(out, reference) < 1e-3
    if top != bottom:  # the control: TensorFlow's padding, not PyTorch's one-before-one-after, is what it matches
        shifted = F.conv2d(F.pad(x, (1, 1, 1, 1)), weight, bias, stride)[..., :out.shape[-2], :out.shape[-1]].relu()
        assert relative_error(out, shifted) > 1e-2


def test_an_input_must_not_be_negative():
    torch.manual_seed(0)
    weight = torch.randn(8, 6, 3, 3) * 0.1
    x = cl(torch.randn(1, 6, 16, 24))
    with torch.inference_mode():
        out = Int8Conv2d(weight, None, 1, (1, 1, 1, 1), relu=False)(x)
    assert relative_error(out, F.conv2d(x.relu(), weight, padding=1)) < 1e-3  # what it computes: a ReLU's output
    assert relative_error(out, F.conv2d(x, weight, padding=1)) > 0.1  # hence the first convolutions stay float


def test_an_int8_up_convolution_is_the_transposed_one():
    torch.manual_seed(0)
    deconv = torch.nn.ConvTranspose2d(16, 8, 4, 2, padding=1)
    x = cl(torch.randn(1, 16, 12, 20).relu())
    with torch.inference_mode():
        reference = deconv(x).relu()
        out = Int8UpConv(deconv, relu=True)(x)
    assert out.shape == reference.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert relative_error(out, reference) < 1e-3
    with pytest.raises(ValueError, match="4x4 stride-2"):
        Int8UpConv(torch.nn.ConvTranspose2d(16, 8, 3, 2, padding=1), relu=True)


@pytest.mark.parametrize("config", [{"norm": "official"}, {"norm": "instance", "condition": "channel", "gate": True},
                                    {"norm": "instance", "condition": "film"}])
def test_an_int8_glassnet_stays_close_to_float_at_any_size_and_leaves_the_original(config):
    torch.manual_seed(0)
    model = GlassNet(c1=8, c2=12, n_res=2, init="he", **config).eval().to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    int8 = to_int8(model)
    strength = 0.5 if "condition" in config else None
    # the released norm's outputs scale as 1 / sqrt(H W): each input's own range keeps both sizes as close
    for h, w in ((64, 96), (100, 140)):
        x = scene(h, w)
        with torch.inference_mode():
            reference, _ = model(x, strength)
            out, rough = int8(x, strength)
        assert out.shape == reference.shape == x.shape and rough.shape == x.shape
        # random weights amplify every layer's rounding (31-42 dB here); the demo's trained model is at 55-61 dB
        assert 30 < psnr(out, reference) < 80, (h, w)  # close, and int8 really ran
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.modules())  # the original keeps its float convolutions
    float_convs = [name for name, m in int8.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert float_convs == ["rough.encoder.0.0", "rough.out", "refine.encoder.0.0", "refine.out"]  # the image's own
