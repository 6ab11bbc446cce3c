"""bf16 mixed precision: the adversarial stage runs, the gradient penalty stays in float32, and a CPU that would
emulate bfloat16 is refused."""

import pytest
import torch
from omegaconf import OmegaConf

import bggan.train
import bggan.wgan
from bggan.errors import BgganError
from bggan.lit import AdversarialModule
from bggan.losses import GeneratorLoss
from bggan.train import check_precision
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


@pytest.mark.parametrize(("accelerator", "precision", "has_bf16", "refused"), [
    ("cpu", "bf16-mixed", False, True),
    ("cpu", "bf16-mixed", True, False),   # control: the same run on a CPU with AMX or AVX512-BF16
    ("cpu", "32-true", False, False),     # control: float32 runs anywhere
    ("gpu", "bf16-mixed", False, False),  # control: the GPU's bfloat16 is not the CPU's business
])
def test_bf16_training_is_refused_on_a_cpu_that_would_emulate_it(monkeypatch, accelerator, precision, has_bf16,
                                                                  refused):
    monkeypatch.setattr(bggan.train, "cpu_has_bf16", lambda: has_bf16)
    trainer = OmegaConf.create({"accelerator": accelerator, "precision": precision})
    if refused:
        with pytest.raises(BgganError, match=r"^trainer.precision=bf16-mixed needs a CPU with bfloat16 .*32-true$"):
            check_precision(trainer)
    else:
        check_precision(trainer)
