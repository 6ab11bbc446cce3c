"""Every model config builds the classes it names, with the numbers it promises."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

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
    assert names == ["paper", "released", "small", "tiny"]
    for name, widths in (("tiny", (4, 12)), ("small", (8, 16))):
        generator, critic = _model(name)
        assert (generator.config["c1"], generator.config["c2"]) == widths
        with torch.no_grad():
            final, _ = generator(torch.rand(1, 3, 64, 64) * 2 - 1)
            assert critic(final)["full"].shape == (1, 1, 2, 2)
