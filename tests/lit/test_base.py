import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torchmetrics.functional.image import structural_similarity_index_measure

from bggan.errors import BgganError, TrainingFailed
from bggan.evaluate import band_metrics
from bggan.images import read_rgb
from bggan.lit import AdversarialModule, AtomicCheckpointIO, PretrainModule
from bggan.lit.base import grid_row, stack_rows
from bggan.losses import GeneratorLoss
from bggan.models.vgg import vgg19_features
from tests.lit.common import LIGHTNING_NOISE, Pairs, flat, loader, make_trainer, tiny_critic, tiny_generator

pytestmark = pytest.mark.filterwarnings(*LIGHTNING_NOISE)

SERIES_KEYS = ["val/psnr", "val/ssim", "val/psnr_rough", "val/ssim_rough", "val/psnr_identity", "val/ssim_identity"]


@pytest.mark.parametrize(("kwargs", "message"), [({"lr": 0.0}, "stage.lr must be > 0"),
                                                 ({"ema_decay": 1.0}, r"stage.ema_decay must be in \(0, 1\)"),
                                                 ({"ema_decay": 0.0}, r"stage.ema_decay must be in \(0, 1\)")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(BgganError, match=message):
        PretrainModule(tiny_generator(), GeneratorLoss(), **kwargs)


# ----------------------------------------------------------------- validation


def _unit(x):
    return ((x + 1) / 2).clamp(0, 1)


def _psnr_per_image(pred, target):
    """10 log10(1 / MSE) of each image on [0, 1]."""
    pred, target = _unit(pred), _unit(target)
    return 10 * torch.log10(1 / ((pred - target) ** 2).flatten(1).mean(1))


def test_validation_logs_psnr_and_ssim_per_series_averaged_over_images(tmp_path):
    module = PretrainModule(tiny_generator(), GeneratorLoss(), grid_images=0)
    pairs = Pairs(n=3, size=(32, 48), seed=5)
    trainer = make_trainer(tmp_path)
    trainer.validate(module, loader(n=3, size=(32, 48), batch_size=2, seed=5), verbose=False)  # batches of 2 and 1
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert sorted(metrics) == sorted(SERIES_KEYS)

    x, y = pairs.inputs, pairs.targets
    with torch.no_grad():
        final, rough = module.generator.eval()(x)
    for series, pred in (("", final), ("_rough", rough), ("_identity", x)):
        # per image, then averaged over the 3 images (not over the 2 batches)
        assert metrics[f"val/psnr{series}"] == pytest.approx(float(_psnr_per_image(pred, y).mean()), abs=1e-4)
        ssim = structural_similarity_index_measure(_unit(pred), _unit(y), data_range=1.0)
        assert metrics[f"val/ssim{series}"] == pytest.approx(float(ssim), abs=1e-5)
    batch_mean = (_psnr_per_image(x[:2], y[:2]).mean() + _psnr_per_image(x[2:], y[2:]).mean()) / 2
    assert abs(metrics["val/psnr_identity"] - float(batch_mean)) > 1e-3  # the two averages differ on this data
    assert not (tmp_path / "images").exists()  # grid_images=0


def test_validation_logs_the_depth_aware_yardstick_when_pairs_carry_the_coc(tmp_path):
    class WithCoc(Pairs):
        """Left half in focus, right half far out of focus."""

        def __getitem__(self, i):
            coc = torch.zeros(1, 32, 48)
            coc[..., 24:] = 20.0
            return {**super().__getitem__(i), "coc": coc}

    module = PretrainModule(tiny_generator(), GeneratorLoss(), grid_images=0)
    pairs = WithCoc(n=3, size=(32, 48), seed=5)
    trainer = make_trainer(tmp_path)
    trainer.validate(module, torch.utils.data.DataLoader(pairs, batch_size=2), verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    expected = {f"val/{k}_{b}" for b in ("in_focus", "out_of_focus") for k in ("psnr", "detail", "detail_identity")}
    assert expected <= set(metrics) and "val/psnr_transition" not in metrics  # no pixel is in the transition
    with torch.no_grad():
        final = module.generator.eval()(pairs.inputs)[0]
    coc = torch.stack([pairs[i]["coc"] for i in range(3)])
    per_image = band_metrics(final, pairs.targets, coc)
    assert metrics["val/detail_in_focus"] == pytest.approx(np.mean([r["in_focus"].detail for r in per_image]), rel=1e-5)
    identity = band_metrics(pairs.inputs, pairs.targets, coc)
    assert metrics["val/detail_identity_out_of_focus"] == pytest.approx(
        np.mean([r["out_of_focus"].detail for r in identity]), rel=1e-5)
    # without the map nothing of it is logged (tested above: SERIES_KEYS only)


def test_identity_psnr_of_a_known_pair(tmp_path):
    class Known(torch.utils.data.Dataset):
        """Input 0.5 grey everywhere, target off by 0.2 in [-1, 1] (0.1 in [0, 1]): PSNR 20 dB."""

        def __len__(self):
            return 2

        def __getitem__(self, i):
            x = torch.zeros(3, 32, 32)
            return {"name": str(i), "input": x, "target": x + (0.2 if i == 0 else -0.2)}

    trainer = make_trainer(tmp_path)
    trainer.validate(PretrainModule(tiny_generator(), GeneratorLoss(), grid_images=0),
                     torch.utils.data.DataLoader(Known(), batch_size=1), verbose=False)
    assert float(trainer.callback_metrics["val/psnr_identity"]) == pytest.approx(20.0, abs=1e-4)
    assert float(trainer.callback_metrics["val/ssim_identity"]) < 1


def test_validation_grid_rows_are_input_rough_final_target(tmp_path):
    module = PretrainModule(tiny_generator(), GeneratorLoss(), grid_images=2)
    trainer = make_trainer(tmp_path)
    trainer.validate(module, loader(n=3, size=(32, 48), batch_size=2, seed=6), verbose=False)
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert files == ["val_epoch000.png"]
    grid = read_rgb(tmp_path / "images" / "val_epoch000.png")
    tile_h, tile_w, gap = 192, 288, 4  # 32x48 scaled to 192 px high
    assert grid.shape == (2 * tile_h + gap, 4 * tile_w + 3 * gap, 3)  # 2 of the 3 images, 4 tiles a row
    assert (grid[tile_h:tile_h + gap] == 255).all()  # white between rows
    for k in range(1, 4):
        assert (grid[:, k * (tile_w + gap) - gap:k * (tile_w + gap)] == 255).all()  # white between tiles

    pairs = Pairs(n=3, size=(32, 48), seed=6)
    with torch.no_grad():
        final, rough = module.generator.eval()(pairs.inputs[:2])
    for row in range(2):
        images = [pairs.inputs[row], rough[row], final[row], pairs.targets[row]]
        top = row * (tile_h + gap)
        for k, image in enumerate(images):
            tile = grid[top:top + tile_h, k * (tile_w + gap):k * (tile_w + gap) + tile_w].astype(np.float64)
            # 6x upscaling with "area" repeats each pixel 6x6 times
            expected = ((image.permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1) * 255
            expected = expected.repeat(6, axis=0).repeat(6, axis=1)
            assert np.abs(tile - expected).max() <= 1.0, (row, k)


def test_grid_rows_of_different_widths_stack_on_white():
    wide = grid_row([torch.zeros(3, 16, 32)] * 2)  # 192 x 384 tiles
    narrow = grid_row([torch.ones(3, 32, 32)] * 2)  # 192 x 192 tiles
    assert wide.shape == (192, 2 * 384 + 4, 3) and narrow.shape == (192, 2 * 192 + 4, 3)
    grid = stack_rows([wide, narrow])
    assert grid.shape == (2 * 192 + 4, 2 * 384 + 4, 3) and grid.dtype == np.uint8
    assert (grid[196:, 2 * 192 + 4:] == 255).all()  # right of the narrow row
    assert (grid[:192, :384] == 128).all()  # 0 in [-1, 1] is mid grey


def test_sanity_check_writes_no_grid(tmp_path):
    seen = []

    class AfterSanity(pl.Callback):
        def on_sanity_check_end(self, trainer, pl_module):
            seen.append((tmp_path / "images").exists())

    module = PretrainModule(tiny_generator(), GeneratorLoss(), grid_images=2)
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, num_sanity_val_steps=1,
                           callbacks=[AfterSanity()])
    data = loader(n=2)
    trainer.fit(module, data, data)
    assert seen == [False]
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["val_epoch000.png"]  # the real validation


# ----------------------------------------------------------------- the NaN guard


class NaNFrom(GeneratorLoss):
    """The usual loss until call ``k`` (0-based), then a NaN total."""

    def __init__(self, k):
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, pred, target, critic=None, rough=None):
        out = super().forward(pred, target, critic, rough)
        self.calls += 1
        if self.calls > self.k:
            out = out._replace(total=out.total * float("nan"))
        return out


def _checkpointing_trainer(tmp_path, **kwargs):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True, every_n_epochs=1)
    return make_trainer(tmp_path, enable_checkpointing=True, callbacks=[checkpoint], plugins=[AtomicCheckpointIO()],
                        **kwargs)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    module = PretrainModule(tiny_generator(), NaNFrom(4), lr=1e-3)
    trainer = _checkpointing_trainer(tmp_path, max_epochs=5)
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(TrainingFailed) as info:
        trainer.fit(module, loader(n=4, batch_size=2))  # 2 steps an epoch: NaN at the first step of epoch 2
    message = str(info.value)
    assert "the generator loss is nan at epoch 2, step 4" in message
    assert f"the last good checkpoint is {last}" in message and "l1=" in message and "\n" not in message
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 4
    weights = {k: v for k, v in state["state_dict"].items() if k.startswith("generator.")}
    assert all(torch.isfinite(v).all() for v in weights.values())
    # the NaN was caught before its backward pass: the module still holds the checkpoint's weights
    for key, value in module.state_dict().items():
        if key.startswith("generator."):
            assert torch.equal(value, weights[key]), key
    fresh = PretrainModule(tiny_generator(seed=7), GeneratorLoss())
    fresh.on_load_checkpoint(state)
    fresh.load_state_dict(state["state_dict"], strict=True)


def test_a_nan_before_any_checkpoint_says_so(tmp_path):
    module = PretrainModule(tiny_generator(), NaNFrom(0))
    with pytest.raises(TrainingFailed, match="at epoch 0, step 0 .*no checkpoint had been written yet"):
        _checkpointing_trainer(tmp_path).fit(module, loader())
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_non_finite_generator_gradients_stop_the_run_before_the_step(tmp_path):
    module = PretrainModule(tiny_generator(), GeneratorLoss())
    module.generator.rough.out.weight.register_hook(lambda grad: torch.full_like(grad, math.inf))
    before = flat(module.generator)
    with pytest.raises(TrainingFailed, match="the generator's gradient norm is inf at epoch 0, step 0"):
        make_trainer(tmp_path).fit(module, loader())
    assert torch.equal(flat(module.generator), before)


def test_non_finite_critic_gradients_stop_the_run(tmp_path):
    module = AdversarialModule(tiny_generator(), GeneratorLoss(w_adv=1.0), tiny_critic())
    first = next(module.critic.parameters())
    first.register_hook(lambda grad: torch.full_like(grad, math.nan))
    before = flat(module.critic)
    with pytest.raises(TrainingFailed, match="the critic's gradient norm is nan at epoch 0, step 0"):
        make_trainer(tmp_path).fit(module, loader())
    assert torch.equal(flat(module.critic), before)


# ----------------------------------------------------------------- checkpoints


def test_checkpoints_leave_the_vgg_out_and_load_back(tmp_path):
    torch.manual_seed(3)
    loss = GeneratorLoss(w_l1=0.5, w_ssim=0.0, w_vgg=0.1, vgg_features=vgg19_features(8))
    module = PretrainModule(tiny_generator(), loss, ema_decay=0.9)
    assert any(k.startswith("loss.perceptual.features.") for k in module.state_dict())
    trainer = _checkpointing_trainer(tmp_path, max_epochs=1)
    trainer.fit(module, loader(n=2, batch_size=1))
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["bggan"] == {"generator": module.generator.config, "ema": True, "stage": "PretrainModule"}
    assert not [k for k in ckpt["state_dict"] if k.startswith("loss.")]
    assert any(k.startswith("ema.module.") for k in ckpt["state_dict"])

    # a fresh module (its own random VGG) takes the checkpoint and keeps its VGG
    torch.manual_seed(4)
    fresh = PretrainModule(tiny_generator(seed=9), GeneratorLoss(w_l1=0.5, w_ssim=0.0, w_vgg=0.1,
                                                                 vgg_features=vgg19_features(8)), ema_decay=0.9)
    own_vgg = {k: v.clone() for k, v in fresh.state_dict().items() if k.startswith("loss.")}
    fresh.on_load_checkpoint(ckpt)
    fresh.load_state_dict(ckpt["state_dict"], strict=True)
    assert torch.equal(flat(fresh.generator), flat(module.generator))
    assert torch.equal(flat(fresh.ema.module), flat(module.ema.module))
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in own_vgg.items())

    # and Lightning's resume (strict loading) goes through the same hook
    trainer = _checkpointing_trainer(tmp_path, max_epochs=2)
    trainer.fit(fresh, loader(n=2, batch_size=1), ckpt_path=str(last))
    assert trainer.global_step == 4 and int(fresh.ema.n_averaged) == 4
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in own_vgg.items())


def test_a_run_resumes_from_its_checkpoint(tmp_path):
    def build():
        return AdversarialModule(tiny_generator(), GeneratorLoss(w_adv=1.0), tiny_critic(), n_critic=2)

    data = loader(n=4, batch_size=2)
    first = build()
    _checkpointing_trainer(tmp_path, max_epochs=1).fit(first, data)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert (int(first.batches_seen), int(first.generator_steps)) == (2, 1)

    resumed = build()
    trainer = _checkpointing_trainer(tmp_path, max_epochs=2)
    trainer.fit(resumed, data, ckpt_path=str(last))
    assert (int(resumed.batches_seen), int(resumed.generator_steps)) == (4, 2)
    assert trainer.global_step == 6 and trainer.current_epoch == 2


def test_an_exact_match_caps_the_validation_psnr_instead_of_making_the_mean_infinite():
    from bggan.lit.base import PSNR_CAP, CappedPSNR

    metric = CappedPSNR()
    x = torch.rand(2, 3, 8, 8)
    noisy = (x + 0.1).clamp(0, 1)
    metric.update(torch.stack([x[0], noisy[1]]), x)
    expected = (PSNR_CAP + float(_psnr_per_image(noisy[1:] * 2 - 1, x[1:] * 2 - 1)[0])) / 2
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-4) and math.isfinite(expected)
    from bggan.evaluate import image_metrics

    psnr, _ = image_metrics()  # negative control: the uncapped metric is infinite on the same images
    psnr.update(torch.stack([x[0], noisy[1]]), x)
    assert math.isinf(float(psnr.compute()))
