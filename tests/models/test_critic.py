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
