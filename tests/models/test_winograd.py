"""Winograd F(4x4, 3x3) convolutions (bggan.models.winograd): against the direct convolution, and in a GlassNet."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bggan.models import GlassNet
from bggan.models import winograd as wg
from bggan.models.blocks import Conv2dSame, InstanceNorm, ResidualBlock, norm_affine


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    return float((out.double() - reference).norm() / reference.norm())


def cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(("shape", "chunk_bytes"), [((1, 16, 8, 12), wg.CHUNK_BYTES),  # whole tiles
                                                    ((2, 8, 9, 7), wg.CHUNK_BYTES),  # partial tiles, a batch
                                                    ((1, 8, 23, 10), 36 * 3 * 8 * 4 * 4)])  # 4 tile rows a step of 6
def test_winograd_is_the_direct_convolution_within_float32_rounding(shape, chunk_bytes, monkeypatch):
    monkeypatch.setattr(wg, "CHUNK_BYTES", chunk_bytes)
    torch.manual_seed(0)
    weight, bias = torch.randn(12, shape[1], 3, 3) / 10, torch.randn(12)
    x = torch.randn(shape)
    reference = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    out = wg.conv3x3(cl(x), wg.winograd_kernel(weight), bias)
    assert out.shape == reference.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert relative_error(out, reference) < 1e-5
    assert relative_error(wg.conv3x3(x, wg.winograd_kernel(weight), bias), reference) < 1e-5  # NCHW input too
    # the control: the same kernels read as a convolution instead of a correlation are seen to differ
    assert relative_error(wg.conv3x3(cl(x), wg.winograd_kernel(weight.flip(2, 3)), bias), reference) > 0.1


def test_the_module_runs_winograd_only_in_float32_cpu_inference():
    torch.manual_seed(0)
    conv = Conv2dSame(8, 8, 3, bias=False)
    module = wg.WinogradConv2d(conv)
    x = cl(torch.randn(1, 8, 12, 16))
    out = module(x)  # autograd on: the convolution itself, with its gradient
    assert torch.equal(out, conv(x))
    out.sum().backward()
    assert conv.weight.grad is not None
    with torch.inference_mode():
        fast, direct = module(x), conv(x)
        with torch.autocast("cpu", torch.bfloat16):
            assert module(x).dtype == torch.bfloat16  # autocast: the convolution under it
    assert not torch.equal(fast, direct) and relative_error(fast, direct.double()) < 1e-5
    with pytest.raises(ValueError, match="3x3 stride-1"):
        wg.WinogradConv2d(Conv2dSame(8, 8, 3, stride=2))


def test_the_input_normalization_and_relu_are_those_of_the_map():
    torch.manual_seed(0)
    weight, x = torch.randn(6, 8, 3, 3) / 10, cl(torch.randn(2, 8, 9, 14) * 2 + 1)
    scale, shift = norm_affine(x, "official", 1e-5)
    normalized = InstanceNorm("official")(x.double())
    reference = F.conv2d(normalized.relu(), weight.double(), padding=1)
    out = wg.conv3x3(x, wg.winograd_kernel(weight), affine=(scale, shift), relu=True)
    assert relative_error(out, reference) < 1e-5
    # the control: without the ReLU the same input is seen to differ
    assert relative_error(wg.conv3x3(x, wg.winograd_kernel(weight), affine=(scale, shift)), reference) > 0.1


@pytest.mark.parametrize("film", [False, True])
def test_a_winograd_residual_block_is_the_block_in_inference_and_the_block_itself_in_training(film, monkeypatch):
    torch.manual_seed(0)
    block = ResidualBlock(16, film=film).eval()
    if film:
        torch.nn.init.normal_(block.film.linear.weight)  # a FiLM that does something
    fast = wg.WinogradResidualBlock(block).eval()
    x, strength = cl(torch.randn(1, 16, 12, 20).relu()), torch.tensor([0.7])
    assert torch.equal(fast(x, strength), block(x, strength))  # autograd on: the block itself
    with torch.inference_mode():
        reference = block(x, strength)
        out = fast(x, strength)
        assert relative_error(out, reference.double()) < 1e-5
        assert out.is_contiguous(memory_format=torch.channels_last)
        # the control: kernels read flipped are seen
        kernel = wg.winograd_kernel
        monkeypatch.setattr(wg, "winograd_kernel", lambda weight: kernel(weight.flip(2, 3)))
        assert relative_error(fast(x, strength), reference.double()) > 1e-2  # the input x is most of the output


def test_a_winograd_glassnet_renders_what_the_original_does(monkeypatch):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=4, n_res=2, init="he").eval()
    fast = wg.to_winograd(model)
    blocks = [m for m in fast.modules() if isinstance(m, wg.WinogradResidualBlock)]
    assert len(blocks) == 2 * 2  # every residual block of both stages
    assert len([m for m in fast.modules() if isinstance(m, wg.WinogradConv2d)]) == 1  # and stage 2's bridge
    assert not any(isinstance(m, wg.WinogradResidualBlock) for m in model.modules())  # the original is unchanged
    x = cl(torch.rand(1, 3, 64, 96) * 2 - 1)
    with torch.inference_mode():
        reference = model(x)[0]

        def psnr() -> float:
            return float(10 * torch.log10(4 / (fast(x)[0] - reference).pow(2).mean()))

        assert psnr() >= 100
        # the control: one residual convolution's kernels read flipped is seen
        kernel, first = wg.winograd_kernel, blocks[0].block.conv1.weight
        monkeypatch.setattr(wg, "winograd_kernel", lambda w: kernel(w.flip(2, 3) if w is first else w))
        assert psnr() < 60
