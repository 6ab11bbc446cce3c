"""Every model config builds the classes it names, with the numbers it promises."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from bggan.errors import BgganError
from bggan.models import GlassNet, MultiCritic

CONF = Path(__file__).resolve().parents[1] / "conf"


def _model(name):
    with initialize_config_dir(config_dir=str(CONF / "model"), version_base="1.3"):
        cfg = compose(config_name=name)
    return instantiate(cfg.generator), instantiate(cfg.critic)


@pytest.mark.parametrize(("name", "params", "norm"), [("released", 10_352_784, "official"),
                                                      ("paper", 16_027_856, "instance")])
def test_full_size_models(name, params, norm):
    generator, critic = _model(name)
    assert isinstance(generator, GlassNet) and isinstance(critic, MultiCritic)
    assert sum(p.numel() for p in generator.parameters()) == params
    assert generator.config["norm"] == norm


def test_every_model_config_runs():
    names = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
    assert names == ["depth", "paper", "released", "small", "tiny"]
    for name, widths in (("tiny", (4, 12)), ("small", (8, 16))):
        generator, critic = _model(name)
        assert (generator.config["c1"], generator.config["c2"]) == widths
        with torch.no_grad():
            final, _ = generator(torch.rand(1, 3, 64, 64) * 2 - 1)
            assert critic(final)["full"].shape == (1, 1, 2, 2)
    generator, _ = _model("depth")
    assert generator.takes_defocus and generator.config["stack"][-1] == 128 and generator.gate is not None
    with torch.no_grad():
        final, _ = generator(torch.rand(1, 3, 64, 64) * 2 - 1, torch.full((1, 1, 64, 64), 12.0))
    assert final.shape == (1, 3, 64, 64)


@pytest.mark.parametrize("preset", ["wgan_gp", "released"])
def test_gan_presets_compose_with_every_experiment(preset):
    from bggan.cli.demo import compose
    from bggan.config_check import check_targets
    from bggan.train import build_module

    experiments = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
    assert sorted(p.stem for p in (CONF / "gan").glob("*.yaml")) == ["released", "wgan_gp"]
    want = {"wgan_gp": (10.0, "mean", "none", 0.0), "released": (1.0, "sum", "released", 0.0)}[preset]
    for experiment in experiments:
        for stage in ("pretrain", "adversarial"):
            cfg = compose([f"experiment={experiment}", f"stage={stage}", f"gan={preset}", "loss.w_vgg=0"])
            check_targets(cfg)  # every key fits the class it configures, whatever the stage
            if stage == "pretrain":
                continue
            if cfg.model.generator.condition == "defocus":  # pretrain only: one line, not a wrong run
                with pytest.raises(BgganError, match="stage=pretrain only"):
                    build_module(cfg)
                continue
            module = build_module(cfg)
            gan = module.gan
            assert (gan.gp_weight, gan.gp_reduction, gan.critic_constraint, gan.critic_l2) == want, experiment
            ndf = cfg.model.critic.ndf
            heads = {c.net[-1].out_channels for c in module.critic.critics.values()}
            assert heads == ({1} if preset == "wgan_gp" else {8 * ndf}), experiment

