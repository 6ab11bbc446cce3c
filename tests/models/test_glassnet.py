import pytest
import torch
import torch.nn.functional as F

from bggan.models import GlassNet, InstanceNorm, pad_to_multiple
from tests.tf_reference import released_layers


@pytest.mark.parametrize(("c2", "expected"), [(24, 10_352_784), (32, 16_027_856)])
def test_parameter_count_matches_released_keras_model(c2, expected):
    assert sum(p.numel() for p in GlassNet(c2=c2).parameters()) == expected


@pytest.mark.parametrize("c2", [24, 32])
def test_layer_order_and_shapes_match_the_released_checkpoint_table(c2):
    """The spec's table (creation order, TF layout) written out independently in tf_reference."""
    model = GlassNet(c2=c2)
    ours = [(tuple(m.weight.permute(2, 3, 1, 0).shape), m.bias is not None) for m in model.released_layer_order()]
    assert ours == released_layers(16, c2, 9)
    assert len(ours) + sum(bias for _, bias in ours) == 59  # variables in the checkpoint


@pytest.mark.parametrize(("h", "w"), [(8, 8), (37, 53), (64, 96), (61, 8), (100, 13)])
def test_any_size_of_at_least_8_keeps_its_shape_and_range(tiny_glassnet, h, w):
    with torch.no_grad():
        final, rough = tiny_glassnet(torch.rand(2, 3, h, w) * 2 - 1)
    assert final.shape == rough.shape == (2, 3, h, w)
    assert final.abs().max() <= 1 and rough.abs().max() <= 1
    assert final.std() > 0.05  # not a constant image


def test_released_model_at_an_odd_size():
    with torch.no_grad():
        final, rough = GlassNet().eval()(torch.rand(1, 3, 45, 67) * 2 - 1)
    assert final.shape == rough.shape == (1, 3, 45, 67)


def test_odd_sizes_are_reflect_padded_then_cropped(tiny_glassnet):
    x = torch.rand(1, 3, 29, 42) * 2 - 1
    padded = F.pad(x, (0, 6, 0, 3), mode="reflect")
    assert torch.equal(pad_to_multiple(x), padded)
    with torch.no_grad():
        final, rough = tiny_glassnet(x)
        final_p, rough_p = tiny_glassnet(padded)
    torch.testing.assert_close(final, final_p[..., :29, :42])
    torch.testing.assert_close(rough, rough_p[..., :29, :42])


def test_multiples_of_8_are_not_padded():
    x = torch.rand(1, 3, 16, 24)
    assert pad_to_multiple(x) is x


@pytest.mark.parametrize(("shape", "match"), [((1, 3, 7, 64), "too small"), ((1, 4, 16, 16), r"\(B, 3, H, W\)"),
                                              ((3, 16, 16), r"\(B, 3, H, W\)")])
def test_bad_input_shapes_are_rejected(tiny_glassnet, shape, match):
    with pytest.raises(ValueError, match=match):
        tiny_glassnet(torch.zeros(shape))


def _outputs(model, x):
    with torch.no_grad():
        return torch.cat(model(x))


@pytest.mark.parametrize("norm", ["official", "instance"])
def test_to_pool_norm_keeps_outputs_in_float32(norm):
    torch.manual_seed(0)
    model = GlassNet(norm=norm).eval()  # released init
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    before = _outputs(model, x)
    assert model.to_pool_norm() is model
    assert all(m.form == "pool" for m in model.modules() if isinstance(m, InstanceNorm))
    assert (before - _outputs(model, x)).abs().max() <= 1e-5


def test_to_pool_norm_keeps_outputs_with_he_weights_official():
    torch.manual_seed(0)
    model = GlassNet(init="he").eval()
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    before = _outputs(model, x)
    assert before.std() > 0.3
    assert (before - _outputs(model.to_pool_norm(), x)).abs().max() <= 1e-5


@pytest.mark.parametrize("norm", ["official", "instance"])
def test_pool_and_reduce_forms_are_the_same_math(norm):
    """In float64 the two forms agree to rounding; in float32 with He weights and textbook IN
    both drift ~5e-5 from the float64 result (18 unnormalised residual adds), equally."""
    torch.manual_seed(0)
    model = GlassNet(norm=norm, init="he").eval().double()
    x = torch.rand(1, 3, 64, 96, dtype=torch.float64) * 2 - 1
    before = _outputs(model, x)
    assert (before - _outputs(model.to_pool_norm(), x)).abs().max() <= 1e-10


def test_channels_last_gives_the_same_output(tiny_glassnet):
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    expected = _outputs(tiny_glassnet, x)
    cl = tiny_glassnet.to(memory_format=torch.channels_last)
    torch.testing.assert_close(_outputs(cl, x.contiguous(memory_format=torch.channels_last)), expected,
                               atol=1e-5, rtol=1e-5)


def test_released_init_follows_the_keras_defaults():
    model = GlassNet()
    conv, tconv = model.rough.encoder[1][0], model.rough.decoder[0][0]
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    assert tconv.bias.abs().max() == 0
    fan_sum = (tconv.in_channels + tconv.out_channels) * 16
    assert abs(tconv.weight.abs().max().item() - (6 / fan_sum) ** 0.5) < 1e-3  # Glorot-uniform bound


def test_constructor_rejects_unknown_options():
    with pytest.raises(ValueError, match="norm must be"):
        GlassNet(norm="batch")
    with pytest.raises(ValueError, match="init must be"):
        GlassNet(init="xavier")
