import pytest
import pytorch_lightning as pl
import torch

from bggan.errors import BgganError
from bggan.lit import PretrainModule
from bggan.losses import GeneratorLoss
from bggan.models import GlassNet
from tests.lit.common import LIGHTNING_NOISE, StrengthPairs, flat, loader, make_trainer, tiny_generator

pytestmark = pytest.mark.filterwarnings(*LIGHTNING_NOISE)


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def test_training_reduces_the_loss_on_a_fixed_batch(tmp_path):
    module = PretrainModule(tiny_generator(), GeneratorLoss(), lr=1e-3)
    recorder = LossRecorder()
    trainer = make_trainer(tmp_path, max_steps=40, max_epochs=-1, callbacks=[recorder])
    trainer.fit(module, loader(n=2, batch_size=2))
    assert len(recorder.losses) == 40 and trainer.global_step == 40
    first, last = recorder.losses[0], sum(recorder.losses[-5:]) / 5
    assert last < 0.6 * first, recorder.losses


class ParameterWatch(pl.Callback):
    """Per optimizer step: which of stage 1 / stage 2 had gradients, and which changed."""

    def __init__(self):
        self.steps = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        g = pl_module.generator
        self.before = {"rough": flat(g.rough), "refine": flat(g.refine)}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        g = pl_module.generator
        self.grads = {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
                      for name, part in (("rough", g.rough), ("refine", g.refine))}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        g = pl_module.generator
        changed = {"rough": not torch.equal(self.before["rough"], flat(g.rough)),
                   "refine": not torch.equal(self.before["refine"], flat(g.refine))}
        self.steps.append((trainer.current_epoch, self.grads, changed))


def test_stage1_epochs_train_stage1_alone_first(tmp_path):
    module = PretrainModule(tiny_generator(), GeneratorLoss(), lr=1e-3, stage1_epochs=1)
    watch = ParameterWatch()
    make_trainer(tmp_path, max_epochs=2, callbacks=[watch]).fit(module, loader(n=4, batch_size=2))
    assert [epoch for epoch, _, _ in watch.steps] == [0, 0, 1, 1]
    for epoch, grads, changed in watch.steps:
        both = epoch == 1
        assert grads == {"rough": True, "refine": both}, (epoch, grads)
        assert changed == {"rough": True, "refine": both}, (epoch, changed)


@pytest.mark.parametrize("w_rough", [0.0, 0.5])
def test_stage1_epochs_compute_the_loss_on_the_rough_output(tmp_path, w_rough):
    module = PretrainModule(tiny_generator(dropout=0.0), GeneratorLoss(w_rough=w_rough), stage1_epochs=1)
    data = loader(n=2, batch_size=2)
    batch = next(iter(data))
    with torch.no_grad():
        final, rough = module.generator(batch["input"])
        # L1 + SSIM of the rough output; w_rough adds nothing while stage 1 trains alone (L1 would count twice)
        rough_loss, final_loss = (float(GeneratorLoss()(y, batch["target"]).total) for y in (rough, final))
    assert abs(rough_loss - final_loss) > 1e-2  # the test can tell them apart
    recorder = LossRecorder()
    make_trainer(tmp_path, max_epochs=1, callbacks=[recorder]).fit(module, data)
    assert recorder.losses == pytest.approx([rough_loss], rel=1e-5)


def test_pretraining_refuses_an_adversarial_term():
    with pytest.raises(BgganError, match="loss.w_adv=0.5"):
        PretrainModule(tiny_generator(), GeneratorLoss(w_adv=0.5))
    with pytest.raises(BgganError, match="stage.stage1_epochs must be >= 0"):
        PretrainModule(tiny_generator(), GeneratorLoss(), stage1_epochs=-1)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_the_cosine_schedule_takes_the_rate_to_5_percent_over_the_run(tmp_path, schedule):
    module = PretrainModule(tiny_generator(), GeneratorLoss(), lr=1e-3, lr_schedule=schedule)
    trainer = make_trainer(tmp_path, max_epochs=4, limit_val_batches=0)
    rates = []

    class Rates(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer.callbacks.append(Rates())
    trainer.fit(module, loader(n=2, batch_size=2))
    if schedule == "constant":
        assert rates == [1e-3] * 4
    else:  # cosine from 1e-3 towards 5e-5 at epoch 4, stepped per epoch
        expected = [5e-5 + (1e-3 - 5e-5) * (1 + torch.cos(torch.tensor(e * torch.pi / 4)).item()) / 2 for e in range(4)]
        assert rates == pytest.approx(expected, rel=1e-6)


def test_the_rough_term_trains_stage_1_from_the_start(tmp_path):
    """With w_rough, stage 1 gets gradients from its own term as well as through stage 2."""
    module = PretrainModule(tiny_generator(), GeneratorLoss(w_l1=0, w_ssim=0, w_rough=1.0), lr=1e-3)
    before = flat(module.generator.rough), flat(module.generator.refine)
    make_trainer(tmp_path, max_steps=2, max_epochs=-1, limit_val_batches=0).fit(module, loader(n=2, batch_size=2))
    assert not torch.equal(flat(module.generator.rough), before[0])  # the only term: stage 1's
    assert torch.equal(flat(module.generator.refine), before[1])  # stage 2 is not in it


# ----------------------------------------------------------------- the aperture as an input


# The target's spread between strength 0 and 1 is 0.8 * mean |x| = 0.4. FiLM starts at the identity (spread 0)
# and learns it more slowly than the input channel on this toy task (0.03 against 0.38 after 60 steps).
@pytest.mark.parametrize(("condition", "at_least"), [("channel", 0.3), ("film", 0.02)])
def test_a_generator_with_the_aperture_as_input_learns_to_use_it(tmp_path, condition, at_least):
    torch.manual_seed(0)
    generator = GlassNet(c1=4, c2=6, n_res=1, init="he", condition=condition, dropout=0.0)
    module = PretrainModule(generator, GeneratorLoss(), lr=1e-2)
    data = torch.utils.data.DataLoader(StrengthPairs(), batch_size=4, shuffle=False)
    x = StrengthPairs().inputs[:1]

    def spread():  # how far the output moves between no blur and full strength, for the same photo
        with torch.no_grad():
            return float((generator.eval()(x, 0.0)[0] - generator(x, 1.0)[0]).abs().mean())

    before = spread()
    trainer = make_trainer(tmp_path, max_steps=60, max_epochs=-1, limit_val_batches=1, num_sanity_val_steps=1)
    trainer.fit(module, data, data)  # validation runs with the strength too
    after = spread()
    assert after >= at_least and after > before + 0.015, (before, after)
    assert "val/psnr" in trainer.callback_metrics


def test_a_generator_with_the_aperture_as_input_refuses_pairs_without_one(tmp_path):
    module = PretrainModule(GlassNet(c1=4, c2=6, n_res=1, condition="film"), GeneratorLoss())
    trainer = make_trainer(tmp_path, max_steps=1, max_epochs=-1)
    with pytest.raises(BgganError, match="data.pairs.apertures"):
        trainer.fit(module, loader(n=2, batch_size=2))


# ----------------------------------------------------------------- the defocus map as an input


def _depth_generator():
    torch.manual_seed(0)
    return GlassNet(c1=4, c2=12, n_res=1, norm="instance", condition="defocus", gate=True, stack=[2.0, 4.0, 8.0])


def test_a_depth_aware_generator_trains_on_pairs_with_their_defocus_maps(tmp_path):
    from bggan.data import BokehDataModule, SyntheticPairs
    from bggan.data.depth_corruption import PhoneDepth

    pairs = SyntheticPairs(n=5, size=(32, 48), holdout=1, focal_mm=85.0, apertures=[1.4, 4.0], refocus=0.5,
                           depth_input=True, phone_depth=PhoneDepth())
    data = BokehDataModule(pairs, crop=(32, 48), batch_size=2, num_workers=0)
    module = PretrainModule(_depth_generator(), GeneratorLoss(), lr=1e-3)
    watch = ParameterWatch()
    trainer = make_trainer(tmp_path, max_steps=4, max_epochs=-1, callbacks=[watch], limit_val_batches=1)
    trainer.fit(module, data)
    # both stages learn once their shares have left zero, after the first step (LayeredRenderer)
    assert all(grads["rough"] and grads["refine"] for _, grads, _ in watch.steps[1:])
    assert all(changed["rough"] and changed["refine"] for _, _, changed in watch.steps[1:])
    generator = module.generator
    assert generator.renderer.correction != 0 and generator.refine_scale != 0
    assert generator.renderer.log_highlight_gain != 0  # the highlight gain is learned too
    assert torch.isfinite(trainer.callback_metrics["val/psnr"])


def test_a_depth_aware_generator_refuses_pairs_without_a_defocus_map(tmp_path):
    module = PretrainModule(_depth_generator(), GeneratorLoss())
    trainer = make_trainer(tmp_path, max_steps=1, max_epochs=-1)
    with pytest.raises(BgganError, match="depth_input=true"):
        trainer.fit(module, loader(n=2, batch_size=2))
