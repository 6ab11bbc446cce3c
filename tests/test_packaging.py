"""The package as users install it: a wheel that carries its configs and runs outside the source tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_and_the_configs():
    """``[tool.setuptools] packages`` is an explicit list (conf/ lives outside src/): it must not miss one."""
    from setuptools import find_packages

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(setuptools_cfg["packages"]) == sorted([*find_packages(ROOT / "src"), "bggan.conf"])
    assert setuptools_cfg["package-dir"] == {"": "src", "bggan.conf": "conf"}


def build_wheel(out: Path) -> Path:
    """``pip wheel`` of a copy of the sources (an in-tree build would leave build/ and egg-info behind)."""
    src = out / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("src", "conf"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", "-w", str(out / "dist"), str(src)], check=True, timeout=300)
    return next((out / "dist").glob("bggan-*.whl"))


@pytest.mark.slow
@pytest.mark.export
def test_a_wheel_carries_every_config_and_its_commands_run_outside_the_source_tree(tmp_path, tf):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml"))
    assert configs and all(f"bggan/conf/{c}" in names for c in configs)
    assert {"bggan/litert_gpu/setup.sh", "bggan/litert_gpu/worker.py"} <= names  # the GPU runtime's installer

    # A fresh environment with the wheel alone (installed by its own pip: this environment's pip would
    # first uninstall the checkout's editable bggan); torch and the other dependencies come from this
    # one's site-packages through a .pth file (fast, no download). Its own site-packages comes first.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_ = venv / "bin"
    subprocess.run([bin_ / "python", "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=300)
    site = next(venv.glob("lib/python*/site-packages"))  # after the install: pip there never sees this env
    (site / "zz_reuse.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(a) for a in args], cwd=work, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        assert proc.returncode == 0, f"{args[0]} exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        return proc

    where = run(bin_ / "python", "-c", "import bggan; from bggan.cli.hydra_app import config_dir; "
                                       "print(bggan.__file__); print(config_dir())").stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # the wheel's code and configs, not the checkout

    # a user's own experiment, kept outside the package, next to the packaged ones
    (work / "my_conf" / "experiment").mkdir(parents=True)
    (work / "my_conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - demo\n\ntrainer:\n  max_epochs: 1\n")
    run(bin_ / "bggan-train", "--config-dir", "my_conf", "experiment=mine", "name=wheel", "data.pairs.n=6",
        "data.pairs.holdout=2", "data.pairs.size=[32,48]", "data.crop=[32,48]", "data.batch_size=2",
        "trainer.enable_progress_bar=false", "trainer.num_sanity_val_steps=0")
    weights = work / "runs" / "wheel" / "generator.safetensors"
    assert weights.is_file()
    run(bin_ / "bggan-export", f"weights={weights}", "size=[32,48]", "out=exported", "parity_images=1")
    assert (work / "exported" / "model_float32.tflite").is_file()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(work / "photo.png")
    run(bin_ / "bggan-render", "photo.png", "--weights", weights, "--out", "rendered")
    assert Image.open(work / "rendered" / "photo.png").size == (56, 40)
