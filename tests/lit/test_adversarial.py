import itertools

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from bggan.errors import BgganError
from bggan.lit import AdversarialModule
from bggan.losses import GeneratorLoss
from bggan.models import GlassNet
from bggan.models.critic import MultiCritic
from bggan.wgan import CriticObjective
from tests.lit.common import LIGHTNING_NOISE, StrengthPairs, flat, loader, make_trainer, tiny_critic, tiny_generator

pytestmark = pytest.mark.filterwarnings(*LIGHTNING_NOISE)


def adversarial(n_critic=1, ema_decay=None, **kwargs):
    loss = GeneratorLoss(w_l1=0.5, w_ssim=0.05, w_adv=1.0)
    return AdversarialModule(tiny_generator(), loss, tiny_critic(), lr=1e-3, n_critic=n_critic,
                             ema_decay=ema_decay, **kwargs)


class Snapshots(pl.Callback):
    """The generator's, the critics' and the EMA's parameters before the first batch and after each one."""

    def __init__(self):
        self.generator, self.critic, self.ema = [], [], []

    def _take(self, module):
        self.generator.append(flat(module.generator))
        self.critic.append(flat(module.critic))
        self.ema.append(flat(module.ema.module) if module.ema is not None else None)

    def on_train_start(self, trainer, pl_module):
        self._take(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._take(pl_module)


def changed(series):
    return [not torch.equal(a, b) for a, b in itertools.pairwise(series)]


def test_critics_step_every_batch_and_the_generator_every_n_critic(tmp_path):
    module = adversarial(n_critic=2, ema_decay=0.9)
    snaps = Snapshots()
    trainer = make_trainer(tmp_path, max_epochs=1, callbacks=[snaps])
    trainer.fit(module, loader(n=8, batch_size=2))
    assert int(module.batches_seen) == 4 and int(module.generator_steps) == 2
    assert trainer.global_step == 6  # Lightning counts critic and generator steps alike
    assert changed(snaps.generator) == [False, True, False, True]
    assert changed(snaps.critic) == [True, True, True, True]
    assert changed(snaps.ema) == [False, True, False, True]  # updated after generator steps only

    # EMA: the first update copies the generator, later ones average with decay 0.9
    g1, g2 = snaps.generator[2], snaps.generator[4]
    assert torch.equal(snaps.ema[2], g1)
    torch.testing.assert_close(snaps.ema[4], 0.9 * g1 + 0.1 * g2)
    assert not torch.equal(snaps.ema[4], g2)
    assert int(module.ema.n_averaged) == 2
    assert module.inference_generator is module.ema.module


def test_ema_is_used_for_validation_only_once_updated():
    module = adversarial(ema_decay=0.99)
    assert module.inference_generator is module.generator  # nothing averaged yet
    module.update_ema()
    assert module.inference_generator is module.ema.module
    assert not any(p.requires_grad for p in module.ema.parameters())


def _psnr(pred, target):
    """Mean over images of 10 log10(1 / MSE) on [0, 1]."""
    pred, target = ((pred + 1) / 2).clamp(0, 1), ((target + 1) / 2).clamp(0, 1)
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    return float((10 * torch.log10(1 / mse)).mean())


def test_validation_scores_the_ema_generator(tmp_path):
    module = adversarial(n_critic=1, ema_decay=0.5)
    data = loader(n=2, batch_size=2)
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(module, data)  # no validation during fit
    trainer.validate(module, data, verbose=False)
    batch = next(iter(data))
    with torch.no_grad():
        ema_psnr = _psnr(module.ema.module.eval()(batch["input"])[0], batch["target"])
        own_psnr = _psnr(module.generator.eval()(batch["input"])[0], batch["target"])
    assert abs(ema_psnr - own_psnr) > 1e-3  # the two generators can be told apart
    assert float(trainer.callback_metrics["val/psnr"]) == pytest.approx(ema_psnr, abs=1e-4)


def test_bad_settings_are_refused():
    with pytest.raises(BgganError, match="stage.n_critic must be >= 1"):
        adversarial(n_critic=0)


def _height_norms(critic):
    return torch.cat([m.weight.detach().norm(dim=2).flatten() for m in critic.modules() if isinstance(m, nn.Conv2d)])


@pytest.mark.parametrize("constraint", ["none", "released"])
def test_the_critics_constraint_holds_after_every_critic_step(tmp_path, constraint):
    gan = CriticObjective(gp_weight=1.0, gp_reduction="sum", critic_constraint=constraint)
    module = adversarial(gan=gan)
    assert float(_height_norms(module.critic).max()) > 0.01  # initialised far over the bound
    seen = []

    class Norms(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(float(_height_norms(pl_module.critic).max()))

    make_trainer(tmp_path, max_epochs=1, callbacks=[Norms()]).fit(module, loader(n=4, batch_size=2))
    assert len(seen) == 2
    if constraint == "released":
        assert max(seen) <= 0.01 + 1e-7
    else:  # negative control: nothing holds them
        assert min(seen) > 0.01


def test_cosine_schedules_of_both_optimizers_are_stepped_each_epoch(tmp_path):
    module = adversarial(lr_schedule="cosine", critic_lr=2e-3)
    make_trainer(tmp_path, max_epochs=2, limit_val_batches=0).fit(module, loader(n=2, batch_size=2))
    rates = [o.param_groups[0]["lr"] for o in module.trainer.optimizers]
    assert rates == pytest.approx([5e-5, 1e-4], rel=1e-6)  # both at 5% after max_epochs (cosine's end)
    plain = adversarial()
    make_trainer(tmp_path / "plain", max_epochs=2, limit_val_batches=0).fit(plain, loader(n=2, batch_size=2))
    assert [o.param_groups[0]["lr"] for o in plain.trainer.optimizers] == [1e-3, 1e-3]


# ----------------------------------------------------------------- the aperture as an input


@pytest.mark.parametrize(("generator_condition", "critic_condition", "fix"),
                         [("channel", False, "model.critic.condition=true"),
                          (None, True, "model.critic.condition=false")])
def test_generator_and_critics_must_agree_on_the_aperture(generator_condition, critic_condition, fix):
    generator = GlassNet(c1=4, c2=6, n_res=1, condition=generator_condition)
    with pytest.raises(BgganError, match=fix):
        AdversarialModule(generator, GeneratorLoss(w_adv=1.0), MultiCritic(ndf=8, condition=critic_condition))


def test_the_adversarial_stage_feeds_each_pairs_strength_to_generator_and_critics(tmp_path):
    torch.manual_seed(0)
    generator = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="channel")
    critic = MultiCritic(ndf=8, norm="instance", condition=True)
    module = AdversarialModule(generator, GeneratorLoss(w_l1=0.5, w_adv=1.0), critic, lr=1e-3)
    to_generator, to_critics = [], []
    generator.register_forward_pre_hook(lambda _, args: to_generator.append(args[1].clone()))
    for one in critic.critics.values():
        one.register_forward_pre_hook(lambda _, args: to_critics.append(args[1].clone()))
    before = flat(critic)
    data = torch.utils.data.DataLoader(StrengthPairs(n=4), batch_size=2, shuffle=False)
    make_trainer(tmp_path, max_epochs=1, limit_val_batches=0).fit(module, data)
    batches = [torch.tensor([0.0, 1 / 3]), torch.tensor([2 / 3, 1.0])]
    assert len(to_generator) == 2 and all(torch.allclose(a, b) for a, b in zip(to_generator, batches, strict=True))
    # per batch: real, fake and the penalty's mix for each of the 2 critics, then the generator's term for each
    assert len(to_critics) == 2 * (6 + 2)
    assert all(torch.allclose(s, batches[i // 8]) for i, s in enumerate(to_critics))
    assert not torch.equal(flat(critic), before) and int(module.generator_steps) == 2
