"""bf16 mixed precision: the adversarial stage runs, and the gradient penalty stays in float32."""

import torch

import bggan.wgan
from bggan.lit import AdversarialModule
from bggan.losses import GeneratorLoss
from tests.lit.common import loader, make_trainer, tiny_critic, tiny_generator


def test_bf16_mixed_adversarial_steps_keep_the_penalty_in_float32(tmp_path, monkeypatch):
    seen = []
    original = bggan.wgan.gradient_penalty

    def spy(critic, real, fake, reduction="mean", strength=None):
        penalty = original(critic, real, fake, reduction, strength)
        seen.append((torch.is_autocast_enabled("cpu"), penalty.dtype))
        return penalty

    monkeypatch.setattr(bggan.wgan, "gradient_penalty", spy)
    module = AdversarialModule(tiny_generator(), GeneratorLoss(0.5, 0.05, 0.0, 1.0), tiny_critic())
    trainer = make_trainer(tmp_path, precision="bf16-mixed", limit_train_batches=2)
    trainer.fit(module, loader(n=4), loader(n=2))
    assert int(module.generator_steps) == 2
    assert seen and all(autocast and dtype == torch.float32 for autocast, dtype in seen)
    assert all(torch.isfinite(p).all() for p in module.parameters())
