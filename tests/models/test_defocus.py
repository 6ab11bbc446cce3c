import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bggan.data.defocus import disk_kernel
from bggan.models import GlassNet, load_generator, save_generator
from bggan.models.defocus import (
    DEFAULT_STACK,
    BlurStack,
    DefocusGate,
    disk,
    layered,
    normalized_blur,
    pool_factor,
    signed_level,
    stack_level,
)


def _depth_model(stack=DEFAULT_STACK, gate=True, seed=0):
    torch.manual_seed(seed)
    return GlassNet(4, 12, 1, "instance", condition="defocus", gate=gate, stack=stack).eval()


@pytest.mark.parametrize("diameter", [0.5, 2.0, 5.0, 8.0])
def test_the_disk_is_the_synthetic_renderers(diameter):
    np.testing.assert_allclose(disk(diameter).numpy(), disk_kernel(diameter), atol=1e-7)


def test_wide_disks_are_applied_at_a_reduced_resolution():
    assert [pool_factor(d) for d in (2.0, 8.0, 12.0, 16.0, 32.0, 64.0, 128.0)] == [1, 1, 2, 2, 4, 8, 16]
    assert BlurStack().multiple == 16
    with pytest.raises(ValueError, match="increasing"):
        BlurStack([4.0, 2.0])


def test_the_stack_keeps_a_flat_photo_flat_up_to_its_borders():
    flat = torch.full((1, 3, 64, 96), 0.3)
    for level in BlurStack()(flat):
        torch.testing.assert_close(level, flat)
    # the control: without dividing out the zero padding's share the borders darken
    kernel = disk(8.0)[None, None]
    plain = F.conv2d(flat, kernel.expand(3, 1, -1, -1), padding=kernel.shape[-1] // 2, groups=3)
    assert plain[0, 0, 0, 0] < 0.2 and normalized_blur(flat, kernel)[0, 0, 0, 0] == pytest.approx(0.3)


def test_each_level_spreads_a_point_over_its_diameter():
    point = torch.zeros(1, 1, 256, 256)
    point[..., 128, 128] = 1
    for diameter, level in zip(DEFAULT_STACK, BlurStack()(point)[1:], strict=True):
        profile = level[0, 0, 128]
        width = int((profile > 0.05 * profile.max()).sum())  # the spread across the centre row
        assert 0.7 * diameter <= width <= 1.6 * diameter + 3, (diameter, width)
        assert float(level.sum()) == pytest.approx(1, abs=0.02)  # light is kept


def test_the_stack_needs_sides_that_are_multiples_of_its_pooling():
    with pytest.raises(ValueError, match="multiples of 16"):
        BlurStack()(torch.zeros(1, 3, 40, 48))


def test_stack_levels_are_linear_between_the_diameters():
    sizes = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 12.0, 128.0, 500.0])
    doubling = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
    np.testing.assert_allclose(stack_level(sizes, doubling).numpy(), [0, 0.5, 1, 1.5, 2, 3.5, 7, 7])
    assert stack_level(torch.tensor([7.0]), DEFAULT_STACK).item() == pytest.approx(6.5)


def test_the_gate_returns_the_photo_where_nothing_near_is_out_of_focus():
    photo, output = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    defocus = torch.zeros(1, 1, 32, 32)
    gate = DefocusGate()
    assert (gate(photo, output, defocus) == photo).all()
    defocus[..., 16, 16] = -5.0  # in front of the focus: the sign does not matter
    out = gate(photo, output, defocus)
    assert out[0, 0, 16, 20] > 0.99 and out[0, 0, 16, 21] == 0 and out[0, 0, 0, 0] == 0  # reach: 4 px


def _perturbed(model):
    """Trained-looking weights, not the zero-initialised output convolutions."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def test_a_depth_aware_glassnet_returns_the_photo_for_a_map_of_zeros():
    model = _perturbed(_depth_model())
    x = torch.rand(2, 3, 40, 60) * 2 - 1  # not a multiple of 16: padded and cropped back
    zeros = torch.zeros(2, 1, 40, 60)
    with torch.no_grad():
        final, rough = model(x, zeros)
        assert final.shape == x.shape and rough.shape == x.shape
        assert torch.equal(final, x)
        assert not torch.equal(model(x, torch.full((2, 1, 40, 60), 6.0))[0], x)  # control
        assert not torch.equal(_perturbed(_depth_model(gate=False))(x, zeros)[0], x)  # no gate: not exact


def test_layers_blur_far_things_behind_sharp_near_ones_and_near_things_over_far_ones():
    stack = BlurStack([2.0, 4.0, 8.0, 16.0])
    x = torch.full((1, 3, 64, 64), -1.0)
    x[..., :, 32:] = 1.0  # a white right half against a black left half
    flat = torch.zeros(1, 1, 64, 64)
    torch.testing.assert_close(layered(x, flat, stack), x, atol=1e-3, rtol=0)  # level 0: the photo
    far_right = flat.clone()
    far_right[..., 32:] = 4.0  # the white half 16 px out of focus behind the sharp black half
    out = layered(x, far_right, stack)
    assert (out[..., :, :32] < -0.99).all()  # nothing far bleeds over the sharp near half
    assert (out[..., :, 32:] > 0.99).all()  # and the far half, normalised by its coverage, takes no black either
    near_right = -far_right  # the white half in front of the focus
    out = layered(x, near_right, stack)
    assert out[0, 0, 32, 28] > -0.9  # a blurred near thing spreads over the sharp far half
    assert (out[..., :, :16] < -0.99).all()


def test_an_untrained_depth_aware_glassnet_is_a_classical_layered_renderer():
    model = _depth_model()  # whatever its convolutions' weights: the shares of both corrections start at zero
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    defocus = torch.linspace(-40, 40, 96).view(1, 1, 1, 96).expand(1, 1, 64, 96).contiguous()
    with torch.no_grad():
        final, rough = model(x, defocus)
        classical = layered(x, signed_level(defocus, model.renderer.stack.diameters), model.renderer.stack)
    torch.testing.assert_close(rough, classical)
    gate = model.gate.weight(defocus)
    torch.testing.assert_close(final, x - gate * (x - classical))


def test_a_depth_aware_glassnet_learns_through_both_stages_and_round_trips_its_file(tmp_path):
    model = _depth_model().train()
    x, defocus = torch.rand(2, 3, 32, 48) * 2 - 1, torch.randn(2, 1, 32, 48) * 10
    with torch.no_grad():  # as after a few steps: both stages' shares away from zero
        model.renderer.correction.fill_(0.1)
        model.refine_scale.fill_(0.1)
    final, _ = model(x, defocus)
    final.square().mean().backward()
    assert model.rough.out.weight.grad.abs().sum() > 0 and model.refine.out.weight.grad.abs().sum() > 0
    path = save_generator(model.eval(), tmp_path / "g.safetensors")
    loaded = load_generator(path)
    assert loaded.config["stack"] == list(DEFAULT_STACK) and loaded.takes_defocus and not loaded.takes_aperture
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, defocus)[0], model(x, defocus)[0])


@pytest.mark.parametrize("learn", [True, False])
def test_the_highlight_gain_is_learned_or_kept_as_set(learn, tmp_path):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, condition="defocus", gate=True, stack=[2.0, 4.0], highlight_gain=8.0,
                     learn_highlight_gain=learn).train()
    assert model.renderer.highlight_gain().item() == pytest.approx(8.0)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    x[..., :8, :8] = 1.0  # clipped highlights, out of focus
    defocus = torch.full((2, 1, 32, 48), 3.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = model.renderer.log_highlight_gain.detach().clone()
    model(x, defocus)[0].square().mean().backward()
    optimizer.step()
    moved = not torch.equal(model.renderer.log_highlight_gain.detach(), before)
    assert moved == learn and model.rough.encoder[0][0].weight.grad is not None
    loaded = load_generator(save_generator(model.eval(), tmp_path / "g.safetensors"))
    assert loaded.renderer.highlight_gain().item() == pytest.approx(model.renderer.highlight_gain().item())


def test_a_depth_aware_glassnet_without_a_stack_takes_the_map_as_a_channel():
    model = _depth_model(stack=None)
    assert model.rough.encoder[0][0].in_channels == 4 and model.refine.encoder[0][0].in_channels == 7
    with torch.no_grad():
        final, _ = model(torch.rand(1, 3, 24, 32) * 2 - 1, torch.ones(1, 1, 24, 32))
    assert final.shape == (1, 3, 24, 32)


def test_a_depth_aware_glassnet_refuses_what_it_cannot_take():
    model = _depth_model()
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="defocus map"):
        model(x)
    with pytest.raises(ValueError, match="defocus map"):
        model(x, 1.0)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(x, torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="condition=defocus"):
        GlassNet(condition="channel", stack=[2.0])
