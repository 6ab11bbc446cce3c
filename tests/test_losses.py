import kornia
import pytest
import torch
from torch import nn

from bggan.errors import BgganError
from bggan.losses import GeneratorLoss, PerceptualLoss, SSIMLoss, ssim_loss
from bggan.models.critic import MultiCritic
from bggan.models.vgg import VGG19_URL, vgg19_features
from bggan.wgan import generator_adversarial_loss


def test_ssim_loss_is_one_minus_ssim_on_unit_range_images():
    # uniform images: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) everywhere, C1 = 0.01^2 (data range 1)
    pred, target = torch.full((1, 3, 24, 24), -0.4), torch.full((1, 3, 24, 24), 0.2)  # 0.3 and 0.6 in [0, 1]
    c1 = 0.01**2
    expected = 1 - (2 * 0.3 * 0.6 + c1) / (0.3**2 + 0.6**2 + c1)
    assert abs(ssim_loss(pred, target).item() - expected) < 1e-4
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert SSIMLoss()(x, x).abs().item() < 1e-5
    noisy = [ssim_loss(x + s * torch.randn_like(x), x).item() for s in (0.05, 0.2, 0.5)]
    assert 0 < noisy[0] < noisy[1] < noisy[2] <= 2


def test_ssim_loss_is_float32_under_bf16_autocast():
    # a bf16-mixed run hands the loss bfloat16 outputs: the loss must be SSIM of those values taken in float32
    torch.manual_seed(0)
    target = torch.rand(2, 3, 48, 48) * 2 - 1
    pred = (target + 0.05 * torch.randn_like(target)).clamp(-1, 1).bfloat16()
    exact = ssim_loss(pred.float(), target)
    with torch.autocast("cpu", torch.bfloat16):
        guarded = ssim_loss(pred, target)
        # the control: kornia's SSIM left to autocast rounds some of its statistics to bfloat16
        unguarded = 1 - kornia.metrics.ssim((pred + 1) / 2, (target + 1) / 2, 11, max_val=1.0).mean()
    assert guarded.dtype == torch.float32
    assert abs(guarded.item() - exact.item()) < 1e-7
    assert abs(unguarded.item() - exact.item()) > 1e-6


def test_perceptual_loss_normalises_like_imagenet_and_trains_pred_only():
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    loss = PerceptualLoss(features)
    pred = (torch.rand(1, 3, 16, 16) * 2 - 1).requires_grad_()
    target = torch.rand(1, 3, 16, 16) * 2 - 1
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    manual = (features(((pred + 1) / 2 - mean) / std) - features(((target + 1) / 2 - mean) / std)).abs().mean()
    value = loss(pred, target)
    assert torch.allclose(value, manual) and value > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in features.parameters())
    assert loss(target, target).item() == 0
    loss.train()
    assert not features.training  # stays in eval mode


# ----------------------------------------------------------------- GeneratorLoss


def _pair(seed=0, size=(32, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, *size, generator=g) * 2 - 1, torch.rand(2, 3, *size, generator=g) * 2 - 1


def test_generator_loss_is_the_weighted_sum_of_its_unweighted_terms():
    torch.manual_seed(0)
    critic = MultiCritic(ndf=4, norm="instance")
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())  # a cheap stand-in for VGG19
    pred, target = _pair()
    pred.requires_grad_(True)
    out = GeneratorLoss(w_l1=0.5, w_ssim=0.05, w_vgg=0.1, w_adv=2.0, vgg_features=features)(pred, target, critic)
    expected = {"l1": (pred - target).abs().mean(), "ssim": ssim_loss(pred, target),
                "vgg": PerceptualLoss(features)(pred, target), "adv": generator_adversarial_loss(critic, pred)}
    assert list(out.terms) == ["l1", "ssim", "vgg", "adv"]
    for name, value in expected.items():
        torch.testing.assert_close(out.terms[name], value.detach())
        assert not out.terms[name].requires_grad  # for logging only
    hand = 0.5 * expected["l1"] + 0.05 * expected["ssim"] + 0.1 * expected["vgg"] + 2.0 * expected["adv"]
    torch.testing.assert_close(out.total, hand)
    assert out.terms["vgg"] > 0 and out.terms["adv"] != 0
    out.total.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_generator_loss_defaults_are_bggan_pretraining():
    pred, target = _pair(1)
    loss = GeneratorLoss()
    out = loss(pred, target)
    assert list(out.terms) == ["l1", "ssim"] and loss.perceptual is None
    torch.testing.assert_close(out.total, 0.5 * (pred - target).abs().mean() + ssim_loss(pred, target))
    assert loss.describe() == "0.5*L1 + 1*(1-SSIM)"


def test_vgg_term_with_a_random_vgg19():
    torch.manual_seed(0)
    features = vgg19_features()
    loss = GeneratorLoss(w_l1=0.0, w_ssim=0.0, w_vgg=0.1, vgg_features=features)
    assert loss.perceptual.features is features and not any(p.requires_grad for p in features.parameters())
    pred, target = _pair(4, size=(16, 16))
    out = loss(pred, target)
    assert list(out.terms) == ["vgg"] and out.terms["vgg"] > 0
    torch.testing.assert_close(out.total, 0.1 * PerceptualLoss(features)(pred, target))


def test_a_zero_weight_skips_its_term(tmp_path):
    pred, target = _pair(2)
    out = GeneratorLoss(w_l1=0.0, w_ssim=1.0)(pred, target)
    assert list(out.terms) == ["ssim"]
    torch.testing.assert_close(out.total, ssim_loss(pred, target))
    # w_vgg=0: the VGG19 file is never read, so a missing one is no error
    loss = GeneratorLoss(w_l1=1.0, w_ssim=0.0, w_vgg=0.0, vgg_weights=str(tmp_path / "missing.pth"))
    assert loss.perceptual is None and list(loss(pred, target).terms) == ["l1"]
    nothing = GeneratorLoss(w_l1=0, w_ssim=0)
    assert nothing(pred, target).terms == {} and nothing(pred, target).total == 0 and nothing.describe() == "0"


def test_w_rough_adds_exactly_the_l1_of_the_rough_output():
    pred, target = _pair(5)
    rough = _pair(6)[0].requires_grad_(True)
    plain = GeneratorLoss()(pred, target)
    loss = GeneratorLoss(w_rough=0.3)
    out = loss(pred, target, rough=rough)
    assert list(out.terms) == ["l1", "ssim", "rough"]
    torch.testing.assert_close(out.total, plain.total + 0.3 * (rough - target).abs().mean())
    out.total.backward()
    assert rough.grad is not None and rough.grad.abs().sum() > 0  # stage 1 gets its own gradient
    assert loss.describe() == "0.5*L1 + 1*(1-SSIM) + 0.3*L1(rough)"
    with pytest.raises(ValueError, match="rough output"):
        loss(pred, target)
    assert list(GeneratorLoss()(pred, target, rough=rough).terms) == ["l1", "ssim"]  # w_rough=0: ignored


@pytest.mark.parametrize("name", ["w_l1", "w_ssim", "w_vgg", "w_adv", "w_rough"])
def test_negative_weights_are_refused_naming_the_key(name):
    with pytest.raises(BgganError, match=f"loss.{name} must be >= 0, got -0.1"):
        GeneratorLoss(**{name: -0.1})


def test_adversarial_term_needs_a_critic():
    pred, target = _pair(3)
    with pytest.raises(ValueError, match="needs the critic"):
        GeneratorLoss(w_adv=1.0)(pred, target)


def test_missing_vgg_file_names_the_config_key(tmp_path):
    with pytest.raises(BgganError, match="loss.vgg_weights=.*no such file"):
        GeneratorLoss(w_vgg=0.1, vgg_weights=str(tmp_path / "vgg19.pth"))


def test_uncached_vgg_without_network_says_how_to_go_on(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    urls = []

    def offline(url, dst, *args, **kwargs):
        urls.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(BgganError) as info:
        GeneratorLoss(w_vgg=0.1, vgg_weights=None)
    message = str(info.value)
    assert "loss.vgg_weights=" in message and "loss.w_vgg=0" in message and "network is unreachable" in message
    assert "\n" not in message
    assert urls == [VGG19_URL]
    assert not (hub / "checkpoints" / VGG19_URL.rsplit("/", 1)[-1]).exists()


def test_describe_lists_the_weighted_terms():
    loss = GeneratorLoss(w_l1=0.5, w_ssim=0.05, w_vgg=0.1, w_adv=1.0, vgg_features=nn.Identity())
    assert loss.describe() == "0.5*L1 + 0.05*(1-SSIM) + 0.1*VGG + 1*adv"
