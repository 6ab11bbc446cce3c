import numpy as np
import pytest
import torch
from torch import nn

from bggan.errors import BgganError
from bggan.models import GlassNet
from bggan.models.critic import MultiCritic, PatchCritic
from bggan.wgan import (
    CriticObjective,
    generator_adversarial_loss,
    gradient_penalty,
    kernel_l2,
    released_max_norm_,
)


class Linear(nn.Module):
    """D(x) = sum(w * x): its gradient is w for every sample."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True)


class Recorder(nn.Module):
    def __init__(self, critic):
        super().__init__()
        self.critic, self.seen = critic, []

    def forward(self, x):
        self.seen.append(x.detach())
        return self.critic(x)


def pointwise(weight: torch.Tensor) -> nn.Conv2d:
    """A 1x1 conv critic without bias: ``(k, 3)`` weight -> a ``(B, k, H, W)`` score map, linear in the image."""
    conv = nn.Conv2d(3, weight.shape[0], 1, bias=False)
    conv.weight.data.copy_(weight[:, :, None, None])
    return conv


def test_penalty_uses_the_per_sample_norm_over_c_h_w():
    w = torch.full((3, 4, 4), 2.0 / (48**0.5))  # ||w||_2 = 2 over C*H*W; each pixel's norm over C is 0.58
    gp = gradient_penalty(Linear(w), torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4))
    torch.testing.assert_close(gp, torch.tensor(1.0))  # (2 - 1)^2, unweighted


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_penalty_reduction_against_a_hand_computation(reduction):
    # a 1x1 conv with k=2 outputs on a 3x5 image: the score map's sum has, at every pixel, the gradient
    # w_1 + w_2 = (0.6, 0.8, 0) (norm 1), so over the image sqrt(15) = 3.873; the mean map's gradient
    # is that over k*h*w = 30 values: 0.129
    weight = torch.tensor([[0.2, 0.6, -0.4], [0.4, 0.2, 0.4]])
    expected_norm = 15**0.5 / (1 if reduction == "sum" else 30)
    gp = gradient_penalty(pointwise(weight), torch.randn(4, 3, 3, 5), torch.randn(4, 3, 3, 5), reduction)
    torch.testing.assert_close(gp, torch.tensor((expected_norm - 1) ** 2))
    other = "mean" if reduction == "sum" else "sum"  # negative control: the two differ on this critic
    assert abs(float(gradient_penalty(pointwise(weight), torch.zeros(1, 3, 3, 5), torch.ones(1, 3, 3, 5), other).detach())
               - float(gp.detach())) > 1


def test_interpolation_draws_one_alpha_per_sample():
    critic = Recorder(Linear(torch.ones(3, 4, 4)))
    real, fake = torch.ones(16, 3, 4, 4), torch.zeros(16, 3, 4, 4)
    gradient_penalty(critic, real, fake)
    (mixed,) = critic.seen
    per_sample = mixed.flatten(1)
    assert torch.equal(per_sample.min(1).values, per_sample.max(1).values)  # one alpha within a sample
    assert per_sample[:, 0].unique().numel() == 16  # a different alpha for each sample
    assert ((per_sample >= 0) & (per_sample <= 1)).all()


def test_penalty_reaches_only_the_critic():
    torch.manual_seed(0)
    generator = GlassNet(c1=4, c2=4, n_res=1)
    critic = MultiCritic(ndf=4)
    x, real = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    fake, _ = generator(x)
    loss = CriticObjective().critic_loss(critic, real, fake)
    loss.total.backward()
    assert all(p.grad is None for p in generator.parameters())
    grads = [p.grad for p in critic.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0

    critic.zero_grad()
    gradient_penalty(critic.critics["full"], real, fake).backward()  # double backward works
    assert all(p.grad is None for p in generator.parameters())
    assert critic.critics["full"].net[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in critic.critics["patch"].parameters())


@pytest.mark.parametrize(("gp_weight", "reduction", "l2"), [(10.0, "mean", 0.0), (1.0, "sum", 0.0), (10.0, "mean", 0.01)])
def test_critic_loss_is_fake_minus_real_plus_terms_averaged_over_critics(gp_weight, reduction, l2):
    torch.manual_seed(0)
    critic = MultiCritic(ndf=4, norm="instance", out_channels=3)
    real, fake = torch.rand(2, 3, 64, 64), -torch.rand(2, 3, 64, 64)
    objective = CriticObjective(gp_weight, reduction, critic_l2=l2)
    torch.manual_seed(1)
    loss = objective.critic_loss(critic, real, fake)
    torch.manual_seed(1)
    expected = [c(fake).mean() - c(real).mean() + gp_weight * gradient_penalty(c, real, fake, reduction)
                + l2 * sum(m.weight.pow(2).sum() for m in c.modules() if isinstance(m, nn.Conv2d))
                for c in critic.critics.values()]
    torch.testing.assert_close(loss.total, sum(expected) / 2)
    torch.testing.assert_close(loss.total, gp_weight * loss.penalty - loss.wasserstein + l2 * loss.l2)
    scale = sum(0.5 * (c(real).abs().mean() + c(fake).abs().mean()) for c in critic.critics.values()) / 2
    torch.testing.assert_close(loss.scale, scale)


def test_critic_l2_adds_exactly_its_term_and_no_gradient_penalty_without_weight():
    torch.manual_seed(0)
    critic = MultiCritic(ndf=4, norm="instance")
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    plain = CriticObjective(gp_weight=0.0).critic_loss(critic, real, fake)
    with_l2 = CriticObjective(gp_weight=0.0, critic_l2=0.01).critic_loss(critic, real, fake)
    l2 = sum(kernel_l2(c) for c in critic.critics.values()) / 2
    torch.testing.assert_close(with_l2.total - plain.total, 0.01 * l2)
    assert float(l2.detach()) > 0 and float(plain.penalty) == 0 and float(plain.l2) == 0
    torch.testing.assert_close(plain.total, -plain.wasserstein)
    convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    kernels = sum(float(m.weight.detach().pow(2).sum()) for m in convs)
    biases = sum(float(m.bias.detach().pow(2).sum()) for m in convs)
    assert float(kernel_l2(critic).detach()) == pytest.approx(kernels, rel=1e-6)
    assert biases > 1e-6 * kernels  # the critic has biases, and kernel_l2 leaves them out


def test_wasserstein_estimate_has_the_right_sign():
    critic = Linear(torch.ones(3, 4, 4) / 48)  # D = mean pixel value
    loss = CriticObjective().critic_loss(critic, torch.ones(4, 3, 4, 4), -torch.ones(4, 3, 4, 4))
    torch.testing.assert_close(loss.wasserstein, torch.tensor(2.0))


def test_generator_loss_is_minus_mean_score_and_reaches_the_generator():
    torch.manual_seed(0)
    generator = GlassNet(c1=4, c2=4, n_res=1)
    critic = MultiCritic(ndf=4)
    fake, _ = generator(torch.rand(1, 3, 32, 32) * 2 - 1)
    loss = generator_adversarial_loss(critic, fake)
    expected = -(critic.critics["patch"](fake).mean() + critic.critics["full"](fake).mean()) / 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert generator.refine.out.weight.grad.abs().sum() > 0


def test_single_critic_is_accepted():
    critic = PatchCritic(3, ndf=4)
    x = torch.rand(1, 3, 32, 32)
    assert CriticObjective().critic_loss(critic, x, x).total.ndim == 0
    assert generator_adversarial_loss(critic, x).ndim == 0


def test_penalty_stays_float32_under_autocast():
    critic = PatchCritic(3, ndf=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gp = gradient_penalty(critic, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), "sum")
    assert gp.dtype == torch.float32


def _keras_layout(weight: torch.Tensor) -> np.ndarray:
    return weight.detach().permute(2, 3, 1, 0).numpy()  # (out, in, kh, kw) -> TensorFlow's (kh, kw, in, out)


def test_released_constraint_is_keras_min_max_norm_on_every_conv(tf):
    import tf_keras  # Keras 2, the TensorFlow 2 of the released code; keras 3 (tf.keras) computes the same

    torch.manual_seed(0)
    critic = MultiCritic(ndf=4, norm="instance", out_channels=None)
    for p in critic.parameters():
        p.data.mul_(5)  # most vectors far over 0.01, a few inside after this
    before = {name: p.detach().clone() for name, p in critic.named_parameters()}
    released_max_norm_(critic)
    constraints = [tf_keras.constraints.min_max_norm(-0.01, 0.01), tf.keras.constraints.min_max_norm(-0.01, 0.01)]
    for name, one in critic.critics.items():
        convs = [m for m in one.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == one.n_layers + 2 and convs[-1].out_channels == 32  # 8 * ndf, as released
        for i, conv in enumerate(convs):
            prefix = f"critics.{name}." + next(n for n, m in one.named_modules() if m is conv)
            kernel_before = _keras_layout(before[prefix + ".weight"])
            assert np.sqrt((kernel_before**2).sum(0)).max() > 0.01  # the constraint has work to do
            for constraint in constraints:
                want = np.asarray(constraint(tf.constant(kernel_before)))
                np.testing.assert_allclose(_keras_layout(conv.weight), want, rtol=1e-5, atol=1e-9)
            bias_before = before[prefix + ".bias"].numpy()
            if i == 0:  # the first conv of each critic has no bias constraint
                np.testing.assert_array_equal(conv.bias.detach().numpy(), bias_before)
            else:
                for constraint in constraints:
                    want = np.asarray(constraint(tf.constant(bias_before)))
                    np.testing.assert_allclose(conv.bias.detach().numpy(), want, rtol=1e-5, atol=1e-9)
                assert float(conv.bias.detach().norm()) <= 0.01 + 1e-7 < float(np.linalg.norm(bias_before))


def test_constraint_none_leaves_the_weights_and_released_holds_them():
    torch.manual_seed(0)
    critic = MultiCritic(ndf=4, norm="instance")
    before = [p.detach().clone() for p in critic.parameters()]
    CriticObjective(critic_constraint="none").constrain(critic)
    assert all(torch.equal(a, b) for a, b in zip(before, critic.parameters(), strict=True))
    CriticObjective(critic_constraint="released").constrain(critic)
    assert not all(torch.equal(a, b) for a, b in zip(before, critic.parameters(), strict=True))
    heights = [m.weight.detach().norm(dim=2).max() for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert max(float(h) for h in heights) <= 0.01 + 1e-7


def test_describe_and_bad_values():
    assert CriticObjective().describe() == "D(fake) - D(real) + 10*GP(mean)"
    assert (CriticObjective(1.0, "sum", "released", 0.01).describe()
            == "D(fake) - D(real) + 1*GP(sum) + 0.01*L2, max-norm 0.01 as released")
    for kwargs, message in (({"gp_weight": -1.0}, "gan.gp_weight must be >= 0"),
                            ({"critic_l2": -0.1}, "gan.critic_l2 must be >= 0"),
                            ({"gp_reduction": "max"}, "gan.gp_reduction must be sum or mean"),
                            ({"critic_constraint": "clip"}, "gan.critic_constraint must be none or released")):
        with pytest.raises(BgganError, match=message):
            CriticObjective(**kwargs)


# ----------------------------------------------------------------- critics that see the aperture


class LinearWithStrength(nn.Module):
    """D(x, s) = sum((w + s v) * x) + 100 s: its gradient in the image is ``w + s_b v`` for sample b."""

    def __init__(self, w, v):
        super().__init__()
        self.w, self.v, self.seen = nn.Parameter(w), nn.Parameter(v), []

    def forward(self, x, strength):
        self.seen.append(strength.detach().clone())
        s = strength.view(-1, 1, 1, 1)
        return ((self.w + s * self.v) * x).flatten(1).sum(1, keepdim=True) + 100 * strength[:, None]


def test_penalty_with_the_aperture_is_the_image_gradient_at_each_samples_strength():
    w, v = torch.zeros(3, 4, 4), torch.full((3, 4, 4), 1 / 48**0.5)  # ||v|| = 1 over C*H*W
    strength = torch.tensor([0.0, 1.0, 3.0])
    critic = LinearWithStrength(w, v)
    gp = gradient_penalty(critic, torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4), strength=strength)
    # per sample ||s v|| = s: (0 - 1)^2, (1 - 1)^2, (3 - 1)^2; the strength's own term (100 s) adds nothing
    torch.testing.assert_close(gp, torch.tensor((1.0 + 0.0 + 4.0) / 3))
    assert torch.equal(critic.seen[0], strength)
    same = gradient_penalty(critic, torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4), strength=torch.ones(3))
    torch.testing.assert_close(same, torch.tensor(0.0))  # negative control: the strength changes the penalty


def test_critic_loss_and_generator_term_judge_real_and_fake_at_the_same_strength():
    torch.manual_seed(0)
    critic = MultiCritic(ndf=4, norm="instance", condition=True)
    real, fake, strength = torch.rand(2, 3, 64, 64), -torch.rand(2, 3, 64, 64), torch.tensor([0.2, 1.0])
    seen = []
    for one in critic.critics.values():
        one.register_forward_pre_hook(lambda _, args: seen.append(args[1].clone()))
    torch.manual_seed(1)
    loss = CriticObjective(gp_weight=10.0).critic_loss(critic, real, fake, strength)
    assert len(seen) == 6 and all(torch.equal(s, strength) for s in seen)  # real, fake and the penalty's mix, x2
    torch.manual_seed(1)
    expected = sum(c(fake, strength).mean() - c(real, strength).mean()
                   + 10 * gradient_penalty(c, real, fake, strength=strength) for c in critic.critics.values()) / 2
    torch.testing.assert_close(loss.total, expected)
    other = CriticObjective(gp_weight=0.0).critic_loss(critic, real, fake, torch.tensor([1.5, 0.0]))
    assert abs(float(other.wasserstein - loss.wasserstein)) > 1e-4  # the strength reaches the scores
    adv = generator_adversarial_loss(critic, fake, strength)
    torch.testing.assert_close(adv, -(critic.critics["patch"](fake, strength).mean()
                                      + critic.critics["full"](fake, strength).mean()) / 2)
