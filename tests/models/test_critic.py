import pytest
import torch

from bggan.models.critic import MultiCritic, PatchCritic


@pytest.mark.parametrize(("n_layers", "h", "w"), [(3, 64, 96), (5, 64, 96), (3, 70, 90), (5, 70, 90)])
def test_critic_map_is_input_over_2_to_the_n(n_layers, h, w):
    critic = PatchCritic(n_layers, ndf=8)
    out = critic(torch.randn(2, 3, h, w))
    assert out.shape == (2, 1, -(-h // 2**n_layers), -(-w // 2**n_layers))


@pytest.mark.parametrize(("n_layers", "widths"), [(3, [64, 128, 256, 512, 1]), (5, [64, 128, 256, 512, 512, 512, 1])])
def test_critic_widths_double_up_to_8_ndf(n_layers, widths):
    convs = [m for m in PatchCritic(n_layers).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == widths
    assert all(c.bias is not None for c in convs)
    assert [c.kernel_size for c in convs] == [(4, 4)] * (len(widths) - 1) + [(1, 1)]


def test_released_score_map_width_is_available():
    assert PatchCritic(3, ndf=8, out_channels=64)(torch.randn(1, 3, 32, 32)).shape == (1, 64, 4, 4)


def test_multi_critic_runs_both_depths():
    scores = MultiCritic(ndf=8)(torch.randn(1, 3, 128, 96))
    assert set(scores) == {"patch", "full"}
    assert scores["patch"].shape == (1, 1, 16, 12)
    assert scores["full"].shape == (1, 1, 4, 3)


def test_rejects_zero_layers():
    with pytest.raises(ValueError, match="n_layers"):
        PatchCritic(0)


# ----------------------------------------------------------------- critics that see the aperture


def test_a_critic_that_sees_the_aperture_takes_it_as_a_fourth_channel():
    torch.manual_seed(0)
    critic = PatchCritic(3, ndf=8, norm="instance", condition=True)
    assert critic.net[0].in_channels == 4 and PatchCritic(3, ndf=8).net[0].in_channels == 3
    x = torch.randn(2, 3, 32, 48)
    weak, strong = critic(x, torch.tensor([0.1, 0.1])), critic(x, torch.tensor([0.1, 1.0]))
    assert torch.equal(weak[0], strong[0])  # per image: the first image's strength did not change
    assert not torch.allclose(weak[1], strong[1])  # the score depends on the strength asked for
    torch.testing.assert_close(critic(x, 0.1), weak)  # one float is every image's


def test_multi_critic_passes_the_strength_to_both_critics():
    torch.manual_seed(0)
    critic = MultiCritic(ndf=8, norm="instance", condition=True)
    x = torch.randn(1, 3, 64, 64)
    a, b = critic(x, torch.tensor([0.0])), critic(x, torch.tensor([1.5]))
    assert critic.condition and all(c.condition for c in critic.critics.values())
    assert all(not torch.allclose(a[name], b[name]) for name in ("patch", "full"))


def test_a_missing_or_unexpected_strength_is_refused():
    with pytest.raises(ValueError, match="pass the strength"):
        PatchCritic(3, ndf=8, condition=True)(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="pass no strength"):
        MultiCritic(ndf=8)(torch.randn(1, 3, 32, 32), torch.tensor([1.0]))
