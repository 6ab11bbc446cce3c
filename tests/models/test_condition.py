"""The aperture as an input: the strength mapping, both ways of feeding it, and the released model untouched."""

from __future__ import annotations

import math

import pytest
import torch

from bggan.models import GlassNet, load_generator, save_generator
from bggan.models.condition import FiLM, strength_for, strength_tensor, with_strength_channel
from bggan.models.weights import read_generator_config


def test_strength_is_the_blur_relative_to_f1_8():
    assert strength_for(1.8) == 1
    assert strength_for(3.6) == pytest.approx(0.5)
    assert strength_for(1.4) == pytest.approx(1.2857, abs=1e-4)
    assert strength_for(math.inf) == 0  # no blur
    for bad in (0, -2.8, math.nan, "2.8"):
        with pytest.raises(ValueError, match="positive number"):
            strength_for(bad)


def test_strength_broadcasts_to_the_batch_or_is_refused():
    like = torch.zeros(3, 1)
    assert torch.equal(strength_tensor(0.5, 3, like), torch.full((3,), 0.5))
    assert torch.equal(strength_tensor(torch.tensor([[0.1], [0.2], [0.3]]), 3, like), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="one per image"):
        strength_tensor([0.1, 0.2], 3, like)


def test_the_strength_channel_is_a_constant_map_per_image():
    x = torch.randn(2, 3, 4, 6)
    y = with_strength_channel(x, torch.tensor([0.25, 1.0]))
    assert y.shape == (2, 4, 4, 6) and torch.equal(y[:, :3], x)
    assert (y[0, 3] == 0.25).all() and (y[1, 3] == 1.0).all()


def test_film_starts_as_the_identity_and_then_depends_on_the_strength():
    film = FiLM(4)
    branch = torch.randn(2, 4, 3, 3)
    strength = torch.tensor([0.0, 1.0])
    assert torch.equal(film(branch, strength), branch)  # zero at initialisation
    torch.nn.init.normal_(film.linear.weight)
    out = film(branch, strength)
    assert torch.allclose(out[0], branch[0] * (1 + film.linear.bias[:4, None, None]) + film.linear.bias[4:, None, None])
    assert not torch.allclose(out[1], branch[1])  # the control: a strength now changes the branch


def test_the_unconditional_model_is_the_released_one():
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he").eval()
    assert "condition" not in model.config and model.condition is None
    assert not any("film" in k for k in model.state_dict())
    assert model.rough.encoder[0][0].in_channels == 3 and model.refine.encoder[0][0].in_channels == 6
    with pytest.raises(ValueError, match="no aperture input"):
        model(torch.zeros(1, 3, 16, 16), strength=1.0)


@pytest.mark.parametrize("condition", ["channel", "film"])
def test_a_conditional_model_needs_a_strength_and_the_strength_changes_the_output(condition):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he", condition=condition).eval()
    if condition == "film":  # zero-initialised FiLM ignores the strength until trained
        for block in [*model.rough.res, *model.refine.res]:
            torch.nn.init.normal_(block.film.linear.weight, std=0.5)
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    with pytest.raises(ValueError, match="pass a strength"):
        model(x)
    with torch.no_grad():
        weak, _ = model(x, 0.1)
        strong, _ = model(x, torch.tensor([1.0, 1.0]))
        mixed, _ = model(x, torch.tensor([0.1, 1.0]))
    assert weak.shape == x.shape
    assert (weak - strong).abs().max() > 1e-3
    torch.testing.assert_close(mixed[0], weak[0])  # per image
    torch.testing.assert_close(mixed[1], strong[1])
    assert f"condition={condition}" in model.summary()


def test_film_at_initialisation_gives_the_unconditional_output():
    torch.manual_seed(0)
    plain = GlassNet(c1=4, c2=6, n_res=1, init="he").eval()
    film = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="film").eval()
    film.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(film(x, 0.7)[0], plain(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("condition", ["channel", "film"])
def test_weight_files_carry_the_condition(tmp_path, condition):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he", condition=condition).eval()
    save_generator(model, tmp_path / "g.safetensors")
    assert read_generator_config(tmp_path / "g.safetensors")["condition"] == condition
    loaded = load_generator(tmp_path / "g.safetensors")
    assert loaded.condition == condition
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, 0.5)[0], model(x, 0.5)[0])


def test_an_unconditional_file_has_no_condition_key(tmp_path):
    save_generator(GlassNet(c1=4, c2=6, n_res=1), tmp_path / "g.safetensors")
    assert "condition" not in read_generator_config(tmp_path / "g.safetensors")
    assert load_generator(tmp_path / "g.safetensors").condition is None


def test_unknown_condition_is_refused():
    with pytest.raises(ValueError, match="condition must be"):
        GlassNet(condition="aperture")


def test_a_gated_model_returns_the_photo_at_no_blur_and_its_own_output_at_wide_apertures(tmp_path):
    torch.manual_seed(0)
    gated = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="channel", gate=True).eval()
    plain = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="channel").eval()
    plain.load_state_dict(gated.state_dict(), strict=False)
    x = torch.rand(2, 3, 16, 20) * 2 - 1  # 20: padded to 24 and cropped back
    with torch.no_grad():
        torch.testing.assert_close(gated(x, 0.0)[0], x, rtol=0, atol=0)
        assert (plain(x, 0.0)[0] - x).abs().max() > 0.1  # the control: without the gate no blur is not the photo
        share = math.tanh(10 * 1.0)
        torch.testing.assert_close(gated(x, 1.0)[0], x - share * (x - plain(x, 1.0)[0]))
        torch.testing.assert_close(gated(x, 1.0)[1], plain(x, 1.0)[1])  # stage 1 is not gated
    assert gated.gate.log_scale.requires_grad and "gate" in gated.summary()
    save_generator(gated, tmp_path / "g.safetensors")
    assert read_generator_config(tmp_path / "g.safetensors")["gate"] is True
    assert "gate" not in read_generator_config(save_generator(plain, tmp_path / "p.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(load_generator(tmp_path / "g.safetensors")(x, 0.3)[0], gated(x, 0.3)[0])
    with pytest.raises(ValueError, match="gate needs a condition"):
        GlassNet(gate=True)
