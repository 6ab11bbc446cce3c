"""Hydra's usage errors as one line with exit code 2, for ``bggan-train``, ``bggan-export`` and ``bggan-eval --data``.

The commands run in this process (``cli()`` with ``sys.argv`` set), which takes milliseconds; one case per
command runs the installed console script too, to show the same line reaches a real terminal.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from bggan.cli import eval as eval_cli
from bggan.cli import export as export_cli
from bggan.cli import train as train_cli
from bggan.cli.common import run_command
from bggan.cli.hydra_app import config_dir, group_choices
from bggan.models import GlassNet, save_generator
from tests.conftest import console_script

COMMANDS = {"bggan-train": train_cli, "bggan-export": export_cli}

CASES = {
    "unknown group choice": ("bggan-train", ["stage=nonsense"],
                             "stage=nonsense: no such choice; stage is one of: adversarial, pretrain"),
    "unknown key": ("bggan-train", ["data.pairs.nope=3"],
                    "data.pairs.nope: no such key (the keys of data.pairs: n, size, seed, holdout, cache, workers,"),
    "unknown top-level key": ("bggan-train", ["nonsense=1"], "nonsense: no such key (the keys of the config: stage,"),
    "bad value type": ("bggan-train", ["trainer.max_epochs=abc"],
                       "trainer.max_epochs='abc': pytorch_lightning.Trainer's max_epochs takes int or null"),
    "bad list length": ("bggan-train", ["stage.betas=[0.5,0.9,0.1]"],
                        "stage.betas=[0.5, 0.9, 0.1]: bggan.lit.PretrainModule's betas takes [float, float]"),
    "a key the class does not take": ("bggan-train", ["+model.generator.width=3"],
                                      "model.generator.width: bggan.models.GlassNet has no parameter 'width'"),
    "a value outside a class's choices": ("bggan-train", ["model.generator.norm=weird"],
                                          ("model.generator.norm='weird': bggan.models.GlassNet's norm takes "
                                          "'official' or 'instance'")),
    "unparsable override": ("bggan-train", ["foo"], "cannot parse override 'foo': missing EQUAL"),
    "composition error": ("bggan-train", ["~stage"], "Error resolving interpolation '${stage}'"),
    "export: unknown key": ("bggan-export", ["height=512"], "height: no such key (the keys of the config: weights,"),
    "export: bad value type": ("bggan-export", ["threads=two"],
                               "threads='two': bggan-export's threads takes int"),
    "export: bad size": ("bggan-export", ["size=[512]"],
                         "size=[512]: bggan-export's size takes [int, int]"),
}


@pytest.fixture(autouse=True)
def own_logging():
    """Hydra configures logging (handlers on the root logger, bound to this test's captured stderr):
    undo that after each in-process run, or later tests would log into a closed stream."""
    loggers = [logging.root, *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    saved = {lg: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers}
    yield
    for lg, (handlers, level, propagate, disabled) in saved.items():
        lg.handlers[:], lg.level, lg.propagate, lg.disabled = handlers, level, propagate, disabled


def run_in_process(prog: str, args: list[str], monkeypatch, capfd) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", [prog, *args])
    with pytest.raises(SystemExit) as exit_info:
        COMMANDS[prog].cli()
    return exit_info.value.code, capfd.readouterr().err


@pytest.mark.parametrize("case", CASES)
def test_hydra_usage_errors_are_one_line_exit_2_and_write_nothing(case, tmp_path, monkeypatch, capfd):
    prog, args, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    code, err = run_in_process(prog, args, monkeypatch, capfd)
    assert code == 2, err
    assert err.startswith(f"{prog}: error: ") and err.count("\n") == 1, err
    assert expected in err, err
    assert list(tmp_path.iterdir()) == []  # no run folder, no .hydra, no log


def test_hydra_full_error_still_gives_hydra_s_traceback(tmp_path, monkeypatch, capfd):
    """The negative control of the one-line form: the user's own HYDRA_FULL_ERROR=1 is honoured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["bggan-train", "nonsense=1"])
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        train_cli.cli()
    assert os.environ["HYDRA_FULL_ERROR"] == "1" and "_BGGAN_HYDRA_TRACEBACK" not in os.environ  # restored


@pytest.mark.parametrize("prog, args, expected", [
    ("bggan-train", ["stage=nonsense"], "bggan-train: error: stage=nonsense: no such choice"),
    ("bggan-export", ["height=512"], "bggan-export: error: height: no such key"),
])
def test_the_console_scripts_print_the_same_one_line(prog, args, expected, tmp_path):
    proc = subprocess.run([console_script(prog), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(expected) and proc.stderr.count("\n") == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides, expected", [
    (["nonsense=1"], "--data synthetic: nonsense: no such key (the keys of the config: pairs, crop,"),
    (["pairs.n=abc"], "pairs.n='abc': bggan.data.SyntheticPairs's n takes int"),
    (["pairs=["], "cannot parse override 'pairs=['"),
])
def test_eval_data_overrides_are_checked_like_training_s(overrides, expected, tmp_path, capsys):
    weights = save_generator(GlassNet(c1=4, c2=4, n_res=1), tmp_path / "g.safetensors")
    argv = ["--weights", str(weights), "--data", "synthetic", *overrides, "--out", str(tmp_path / "eval")]
    code = run_command(eval_cli.PROG, eval_cli.main, argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "eval").exists()


def test_experiment_demo_works_with_ebb_data(tmp_path):
    """The demo's recipe on a user's EBB! folder: its synthetic-only keys live in data=synthetic_small."""
    from hydra import compose, initialize_config_dir

    from bggan.config_check import check_targets

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=demo", "data=ebb", f"data.pairs.root={tmp_path}"])
    check_targets(cfg)
    assert cfg.data.pairs._target_ == "bggan.data.PairedImages" and cfg.data.crop == [128, 192]
    assert cfg.model.generator.c1 == 8  # the rest of the recipe still applies


def test_config_dir_follows_bggan_conf_and_lists_group_choices(tmp_path, monkeypatch):
    assert (config_dir() / "train.yaml").is_file() and group_choices("stage") == ["adversarial", "pretrain"]
    monkeypatch.setenv("BGGAN_CONF", str(tmp_path))
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "mine.yaml").write_text("{}\n")
    assert config_dir() == tmp_path.resolve() and group_choices("stage") == ["mine"]
