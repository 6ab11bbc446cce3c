"""``bggan-train`` end to end, as a user runs it: a subprocess per run, tiny model, tiny synthetic pairs.

What only a real process shows: the Hydra app, the run folder's files, one-line errors without a
traceback, DDP on the CPU (2 processes, gloo), a resume after SIGKILL, and Hydra multiruns.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from bggan.models import GlassNet, load_generator, save_generator
from bggan.models.vgg import vgg19_features
from tests.conftest import console_script

#: Seconds any one bggan-train run may take (a loaded 2-core machine runs these 3-5x slower).
TIMEOUT = 300

#: A run of a few seconds: tiny Glass-Net, 10 pairs of 64x96 (8 train in 4 batches, 2 validate).
FAST = {
    "experiment": "demo",
    "data.pairs.n": "10",
    "data.pairs.size": "[64,96]",
    "data.pairs.holdout": "2",
    "data.pairs.workers": "1",
    "data.crop": "[64,96]",
    "data.batch_size": "2",
    "data.num_workers": "0",
    "trainer.max_epochs": "2",
    "trainer.limit_val_batches": "1",
    "trainer.num_sanity_val_steps": "0",
    "trainer.enable_progress_bar": "false",
}


def train_args(*overrides: str, base: dict[str, str] = FAST) -> list[str]:
    """``key=value`` arguments: ``base`` with ``overrides`` replacing (or adding to) its keys."""
    args = dict(base)
    for item in overrides:
        key, value = item.split("=", 1)
        args[key] = value
    return [f"{k}={v}" for k, v in args.items()]


def train_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BGGAN_EBB_ROOT", None)  # data=ebb must find no root
    return env


def run_train(cwd: Path, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``bggan-train ARGS`` in ``cwd``; a failure or timeout shows its output."""
    proc = subprocess.run([console_script("bggan-train"), *args], cwd=cwd, env=train_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    return proc


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The message of a ``bggan-train: error: ...`` exit: one line on stderr, ``code``, no traceback."""
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"
    assert proc.stderr.startswith("bggan-train: error: ") and proc.stderr.count("\n") == 1, proc.stderr[-4000:]
    return proc.stderr.removeprefix("bggan-train: error: ").strip()


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def metrics_rows(run_dir: Path, version: int = 0) -> list[dict[str, str]]:
    with open(run_dir / "logs" / f"version_{version}" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def fake_vgg19(path: Path) -> Path:
    """A torchvision-layout VGG19 ``features`` state dict for ``loss.w_vgg > 0`` offline (80 MB of weights to leave out).

    Each 3x3 conv averages its inputs (weights ``1 / (9 * in_channels)``, no bias), so activations
    stay in range; the tensors are expanded scalars, a few bytes each on disk.
    """
    state = {}
    for key, value in vgg19_features().state_dict().items():
        scale = 1 / value[0].numel() if key.endswith("weight") else 0.0
        state[f"features.{key}"] = torch.full((1,), scale).expand(value.shape)
    torch.save(state, path)
    return path


# --------------------------------------------------------------------------- pretrain, end to end
@pytest.fixture(scope="module")
def pretrain(tmp_path_factory):
    """One 2-epoch pretrain run with a (fake) VGG term: ``(args, run_dir, proc)``; tests must not change it."""
    tmp = tmp_path_factory.mktemp("pretrain")
    run_dir = tmp / "run"
    args = train_args("loss.w_vgg=0.1", f"loss.vgg_weights={fake_vgg19(tmp / 'vgg19.pth')}",
                      f"hydra.run.dir={run_dir}")
    return args, run_dir, run_train(tmp, *args)


def test_pretrain_run_leaves_a_complete_run_folder(pretrain):
    _, run_dir, proc = pretrain
    assert_ok(proc)
    assert f"run folder: {run_dir}" in proc.stdout

    text = (run_dir / "config.yaml").read_text()
    assert "${" not in text  # resolved
    config = yaml.safe_load(text)
    assert config["stage"]["_target_"] == "bggan.lit.PretrainModule"
    assert config["model"]["generator"]["c1"] == 8 and config["loss"]["w_vgg"] == 0.1
    assert config["name"].startswith("pretrain/")  # ${hydra:runtime.choices.stage} resolved too

    checkpoints = run_dir / "checkpoints"
    (best,) = checkpoints.glob("best-*.ckpt")  # save_top_k=1
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted([best.name, "last.ckpt"])  # no temporary files
    last = load_ckpt(checkpoints / "last.ckpt")
    # last.ckpt is the last epoch even when it did not improve val/psnr (Lightning 2.6 alone keeps it at the best)
    assert last["epoch"] == 1 and last["global_step"] == 2 * 4
    assert last["bggan"] == {"generator": GlassNet(c1=8, c2=16, n_res=1, norm="instance").config, "ema": False,
                             "stage": "PretrainModule"}
    for ckpt in (last, load_ckpt(best)):
        keys = ckpt["state_dict"].keys()
        assert any(k.startswith("generator.") for k in keys)
        assert not [k for k in keys if k.startswith("loss.")]  # the frozen VGG19 stays out
    assert len(last["optimizer_states"]) == 1 and last["optimizer_states"][0]["state"]

    rows = metrics_rows(run_dir)
    assert {"val/psnr", "val/psnr_identity", "val/ssim", "train/total"} <= set(rows[0])
    val = [r for r in rows if r["val/psnr"]]
    assert [int(r["epoch"]) for r in val] == [0, 1]
    assert all(float(r["val/psnr_identity"]) > 10 for r in val)
    assert any(r.get("train/vgg") for r in rows)  # the VGG term ran
    assert sorted(p.name for p in (run_dir / "images").iterdir()) == ["val_epoch000.png", "val_epoch001.png"]

    exported = load_generator(run_dir / "generator.safetensors")
    assert exported.config == last["bggan"]["generator"]
    from_best = load_generator(best).state_dict()
    assert all(torch.equal(v, from_best[k]) for k, v in exported.state_dict().items())  # the best epoch's weights


def test_a_second_run_in_the_same_folder_is_refused_and_changes_no_checkpoint(pretrain):
    args, run_dir, proc = pretrain
    assert_ok(proc)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (run_dir / "checkpoints").iterdir()}
    message = assert_one_line_error(run_train(run_dir.parent, *args))
    assert "ckpt_path=last" in message and "already holds checkpoints" in message
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (run_dir / "checkpoints").iterdir()}
    assert after == before


def test_resume_from_a_checkpoint_path_into_a_new_folder(pretrain, tmp_path):
    """ckpt_path=PATH goes on from that checkpoint; its missing VGG weights come from the config again."""
    args, run_dir, proc = pretrain
    assert_ok(proc)
    new = tmp_path / "resumed"
    args = [a for a in args if not a.startswith(("hydra.run.dir=", "trainer.max_epochs="))]
    assert_ok(run_train(tmp_path, *args, "trainer.max_epochs=3", f"hydra.run.dir={new}",
                        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"))
    last = load_ckpt(new / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 2 and last["global_step"] == 3 * 4
    assert [int(r["epoch"]) for r in metrics_rows(new) if r["val/psnr"]] == [2]  # only the new epoch ran
    assert list(new.glob("config.resumed-*.yaml")) and not (new / "config.yaml").exists()


def test_last_ckpt_follows_the_last_epoch_when_the_monitored_value_does_not_improve(tmp_path):
    """``val/psnr_identity`` (input vs target) is the same every epoch: epoch 0 stays the best.

    Lightning 2.6's own ``save_last`` then keeps ``last.ckpt`` at epoch 0, and ``ckpt_path=last``
    would resume from there; ``bggan.lit.BestAndLastCheckpoint`` writes it every epoch.
    """
    run_dir = tmp_path / "run"
    assert_ok(run_train(tmp_path, *train_args("checkpoint.monitor=val/psnr_identity", f"hydra.run.dir={run_dir}")))
    (best,) = (run_dir / "checkpoints").glob("best-*.ckpt")
    assert best.name.startswith("best-epoch000-")
    assert load_ckpt(best)["epoch"] == 0
    last = load_ckpt(run_dir / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 1 and last["global_step"] == 2 * 4
    exported = load_generator(run_dir / "generator.safetensors").state_dict()
    from_best = load_generator(best).state_dict()
    assert all(torch.equal(v, from_best[k]) for k, v in exported.items())  # the export takes the best epoch


# --------------------------------------------------------------------------- bad inputs
def _other_generator(tmp_path: Path) -> str:
    return str(save_generator(GlassNet(c1=4, c2=6, n_res=1), tmp_path / "other.safetensors"))


BAD_INPUTS = {
    "ebb without a root": (lambda tmp: ["data=ebb"], ["data.pairs.root", "BGGAN_EBB_ROOT"]),
    "adversarial without init_from": (lambda tmp: ["stage=adversarial"], ["init_from=", "scratch"]),
    "missing init_from": (lambda tmp: ["init_from=/nonexistent.ckpt"], ["init_from=/nonexistent.ckpt", "no such file"]),
    "ckpt_path=last, nothing to resume": (lambda tmp: ["ckpt_path=last"], ["ckpt_path=last", "does not exist"]),
    "missing VGG weights": (lambda tmp: ["stage=adversarial", "init_from=scratch", "loss.w_vgg=0.1",
                                         "loss.vgg_weights=/nonexistent.pth"], ["loss.vgg_weights"]),
    "init_from another model": (lambda tmp: [f"init_from={_other_generator(tmp)}"],
                                ["different generator", "c2: 6 there, 16 here", "model="]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_are_one_line_and_exit_2(case, tmp_path):
    make_args, expected = BAD_INPUTS[case]
    run_dir = tmp_path / "run"
    extra = make_args(tmp_path)
    base = {"model": "tiny"} if "data=ebb" in extra else FAST  # FAST sets synthetic-only data.pairs.*
    message = assert_one_line_error(run_train(tmp_path, *train_args(*extra, f"hydra.run.dir={run_dir}", base=base)))
    for part in expected:
        assert part in message, message
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "config.yaml").exists()


# --------------------------------------------------------------------------- adversarial stage
def adversarial_counts(ckpt: dict) -> tuple[int, int, int]:
    """``(global_step, batches_seen, generator_steps)`` of an adversarial checkpoint."""
    state = ckpt["state_dict"]
    return ckpt["global_step"], int(state["batches_seen"]), int(state["generator_steps"])


def assert_adversarial_checkpoint(ckpt: dict, batches: int) -> None:
    """``batches`` critic steps and as many generator steps (n_critic=1); Lightning counts both in global_step."""
    assert adversarial_counts(ckpt) == (2 * batches, batches, batches)
    assert ckpt["bggan"]["stage"] == "AdversarialModule"
    assert len(ckpt["optimizer_states"]) == 2 and all(o["state"] for o in ckpt["optimizer_states"])
    assert any(k.startswith("critic.") for k in ckpt["state_dict"])


@pytest.mark.slow
def test_adversarial_stage_under_ddp_on_the_cpu(tmp_path):
    """2 processes (gloo): the gradient penalty's double backward through DDP-wrapped critics works, and so
    does the released critics' constraint."""
    run_dir = tmp_path / "run"
    # 12 pairs: 10 train, 5 per rank, 2 batches of 2 each (limit_train_batches=2)
    proc = run_train(tmp_path, *train_args("stage=adversarial", "gan=released", "init_from=scratch", "trainer=ddp_sim",
                                           "data.pairs.n=12", "trainer.limit_train_batches=2",
                                           f"hydra.run.dir={run_dir}"))
    assert_ok(proc)
    assert proc.stdout.count("  generator: ") == 1 and "generator: None" not in proc.stdout  # rank 0 reports
    last = load_ckpt(run_dir / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 1
    assert_adversarial_checkpoint(last, batches=2 * 2)  # per process: each rank took the same steps
    assert (run_dir / "generator.safetensors").is_file()
    assert [int(r["epoch"]) for r in metrics_rows(run_dir) if r["val/psnr"]] == [0, 1]


@pytest.mark.slow
def test_sigkill_then_resume_ends_where_an_uninterrupted_run_would(tmp_path):
    epochs, batches = 5, 10  # 22 pairs: 20 train, 10 batches of 2 per epoch
    run_dir = tmp_path / "run"
    checkpoints = run_dir / "checkpoints"
    args = train_args("stage=adversarial", "gan=released", "init_from=scratch", "data.pairs.n=22",
                      f"trainer.max_epochs={epochs}",
                      f"hydra.run.dir={run_dir}")
    with open(tmp_path / "killed.out", "w") as out:
        proc = subprocess.Popen([console_script("bggan-train"), *args], cwd=tmp_path, env=train_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300  # generous: make test runs two workers side by side
            while proc.poll() is None and time.monotonic() < deadline:
                if (checkpoints / "last.ckpt").exists() and load_ckpt(checkpoints / "last.ckpt")["epoch"] >= 1:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed:\n" + \
                (tmp_path / "killed.out").read_text()[-3000:]
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    killed = load_ckpt(checkpoints / "last.ckpt")  # complete: written beside, then renamed
    assert 1 <= killed["epoch"] < epochs - 1
    leftovers = [p.name for p in checkpoints.iterdir() if not p.name.endswith(".ckpt")]
    assert all(n.startswith(".") and n.endswith(".tmp") for n in leftovers), leftovers  # at most a cut-off write

    assert_ok(run_train(tmp_path, *args, "ckpt_path=last"))
    last = load_ckpt(checkpoints / "last.ckpt")
    assert last["epoch"] == epochs - 1
    assert_adversarial_checkpoint(last, batches=epochs * batches)
    assert (run_dir / "logs" / "version_1" / "metrics.csv").is_file()  # the resumed run's log beside the first
    assert list(run_dir.glob("config.resumed-*.yaml"))
    assert not [n for n in os.listdir(checkpoints) if n.endswith(".tmp") and n not in leftovers]


# --------------------------------------------------------------------------- multirun
@pytest.mark.slow
def test_multirun_gives_each_value_its_own_run_folder(tmp_path):
    sweep = tmp_path / "sweep"
    assert_ok(run_train(tmp_path, "-m", *train_args("trainer.max_epochs=1", "loss.w_l1=0.5,1.0",
                                                    f"hydra.sweep.dir={sweep}")))
    for job, w_l1 in (("0", 0.5), ("1", 1.0)):
        run_dir = sweep / job
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["loss"]["w_l1"] == w_l1
        assert load_ckpt(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 0
        assert (run_dir / "generator.safetensors").is_file()


def test_console_script_help_is_hydra_help(tmp_path):
    proc = subprocess.run([console_script("bggan-train"), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and "stage: adversarial, pretrain" in proc.stdout, proc.stdout + proc.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-m", "", *sys.argv[1:]]))


# --------------------------------------------------------------------------- the aperture as an input
def test_realbokeh_pairs_train_a_generator_with_the_aperture_as_an_input(tmp_path):
    from bggan.models import load_generator
    from tests.data.test_realbokeh import _scene

    for scene in (1, 2):
        _scene(tmp_path / "rb" / "train", scene, [2.0, 5.6])
    _scene(tmp_path / "rb" / "validation", 1, [2.0, 8.0])
    run_dir = tmp_path / "run"
    base = {k: v for k, v in FAST.items() if not k.startswith("data.pairs.")}  # FAST's keys are synthetic-only
    proc = run_train(tmp_path, *train_args("experiment=realbokeh", f"data.pairs.root={tmp_path / 'rb'}",
                                           "trainer=cpu", "data.crop=[16,16]", f"hydra.run.dir={run_dir}",
                                           base=base))
    assert_ok(proc)
    assert "4 pairs found, 4 kept" in proc.stdout + proc.stderr and "targets at f/2, f/5.6" in proc.stdout + proc.stderr
    generator = load_generator(run_dir / "generator.safetensors")
    assert generator.condition == "channel"  # the experiment's generator takes the aperture
    assert load_ckpt(run_dir / "checkpoints" / "last.ckpt")["bggan"]["generator"]["condition"] == "channel"
