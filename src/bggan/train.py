"""One training run from a composed config: build everything, fit, keep the artifacts in the run folder.

A run folder holds ``config.yaml`` (the resolved config), ``checkpoints/`` (``best-*.ckpt`` by
``val/psnr`` and ``last.ckpt``, written atomically), ``logs/`` (the loggers' files),
``images/`` (validation grids) and, at the end, ``generator.safetensors`` (the best checkpoint's
generator, its EMA copy when EMA is on: what ``bggan-sample --weights`` and the export take).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

from bggan.config_check import check_targets, check_weight_file
from bggan.devices import cpu_has_bf16
from bggan.errors import BgganError, TrainingFailed
from bggan.files import atomic_output
from bggan.lit import AtomicCheckpointIO, BokehModule
from bggan.lit.log_progress import LogProgressBar
from bggan.models.weights import check_resumable, load_generator, load_state, read_generator_state, save_generator
from bggan.quiet import quiet_lightning

#: ``init_from`` value that starts the generator from its random initialisation.
SCRATCH = "scratch"


@dataclass
class TrainResult:
    """What a finished run left behind."""

    run_dir: Path
    last: Path | None
    best: Path | None
    generator: Path | None  #: ``generator.safetensors``, from the best checkpoint (EMA weights when on)
    metrics: dict[str, float] = field(default_factory=dict)  #: the last validation's ``val/*`` values
    interrupted: bool = False


def unwrap(error: BaseException) -> BaseException:
    """The :class:`BgganError` inside Hydra's ``InstantiationException`` (which wraps what a ``_target_`` raised)."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def build(node: DictConfig, **kwargs):
    """``instantiate`` that lets a :class:`BgganError` from the target through unwrapped."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        inner = unwrap(e)
        if isinstance(inner, BgganError):
            raise inner from None
        raise


def resolve_resume(ckpt_path: str | None, checkpoints: Path) -> str | None:
    """``ckpt_path`` as given (``last`` meaning this run folder's ``last.ckpt``), checked to be a checkpoint a run can
    resume from (:func:`~bggan.models.weights.check_resumable`).

    Without ``ckpt_path``, a run folder that already holds checkpoints is refused: a new run
    would overwrite them.
    """
    if ckpt_path is None:
        if rank_zero_only.rank == 0 and any(checkpoints.glob("*.ckpt")):
            raise BgganError(f"{checkpoints} already holds checkpoints: resume with ckpt_path=last, "
                             "or start a new run folder (name=... or hydra.run.dir=...)")
        return None
    path = checkpoints / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        raise BgganError(f"ckpt_path={ckpt_path}: {path} does not exist")
    try:
        check_resumable(path)
    except BgganError as e:
        raise BgganError(f"ckpt_path={ckpt_path}: {e}") from None
    return str(path)


def check_start(cfg: DictConfig) -> None:
    """What a new run starts from, checked before anything is built: a stage with critics needs ``init_from``, and
    the file it names must hold a generator (read once, :func:`~bggan.config_check.check_weight_file`).

    Raises:
        BgganError: one line.
    """
    init_from = cfg.get("init_from")
    stage = get_class(cfg.stage._target_)
    if init_from is None and getattr(stage, "needs_critic", False):
        raise _needs_init_from(stage.stage)
    check_weight_file("init_from", init_from, "generator")


def _needs_init_from(stage: str) -> BgganError:
    return BgganError(f"stage={stage} starts from a trained generator: set init_from=PATH (a pretrain checkpoint or "
                      f"generator .safetensors), or init_from={SCRATCH}")


def init_generator(module: BokehModule, init_from: str | None) -> str:
    """Load the generator's starting weights (``init_from``: a ``.ckpt`` or ``.safetensors``); says what it did."""
    if init_from is None:
        if module.needs_critic:
            raise _needs_init_from(module.stage)
        return "random initialisation"
    if init_from == SCRATCH:
        return "random initialisation (init_from=scratch)"
    if not Path(init_from).is_file():
        raise BgganError(f"init_from={init_from}: no such file (a pretrain checkpoint or generator .safetensors, "
                         f"or {SCRATCH})")
    config, state = read_generator_state(init_from)
    mine = module.generator.config
    differ = {k: (config[k], mine[k]) for k in ("c1", "c2", "n_res", "norm") if k in config and config[k] != mine[k]}
    if differ:
        detail = ", ".join(f"{k}: {a} there, {b} here" for k, (a, b) in differ.items())
        raise BgganError(f"init_from={init_from} is a different generator ({detail}); pick the matching model=")
    load_state(module.generator, state, init_from)
    return f"weights from {init_from}"


def write_config(cfg: DictConfig, run_dir: Path, resuming: bool) -> Path:
    """The resolved config as ``config.yaml`` (a resumed run adds ``config.resumed-<time>.yaml``)."""
    name = f"config.resumed-{time.strftime('%Y%m%d-%H%M%S')}.yaml" if resuming else "config.yaml"
    path = run_dir / name
    with atomic_output(path, overwrite=resuming) as tmp:
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def build_module(cfg: DictConfig) -> BokehModule:
    """The stage's LightningModule with the model and loss the config names."""
    cls = get_class(cfg.stage._target_)
    parts = {"generator": build(cfg.model.generator), "loss": build(cfg.loss)}
    if getattr(cls, "needs_critic", False):
        parts["critic"] = build(cfg.model.critic)
        parts["gan"] = build(cfg.gan)
    return build(cfg.stage, **parts)


def build_trainer(cfg: DictConfig, run_dir: Path) -> tuple[pl.Trainer, ModelCheckpoint]:
    quiet_lightning()
    checkpoint = build(cfg.checkpoint, dirpath=str(run_dir / "checkpoints"))
    try:
        logger = build(cfg.logger, save_dir=str(run_dir))
    except ModuleNotFoundError as e:
        raise BgganError(f"logger={cfg.logger._target_.rsplit('.', 1)[-1]} needs the '{e.name}' package "
                         f"(pip install {e.name}), or use logger=csv") from None
    callbacks = [checkpoint]
    if cfg.trainer.get("enable_progress_bar", True) and not sys.stdout.isatty():
        callbacks.append(LogProgressBar())  # a line per tenth of an epoch in a log, not a carriage return per batch
    trainer = build(cfg.trainer, default_root_dir=str(run_dir), logger=logger, callbacks=callbacks,
                    plugins=[AtomicCheckpointIO()])
    return trainer, checkpoint


def check_precision(trainer: DictConfig) -> None:
    """Refuse bfloat16 training on a CPU without bfloat16 instructions (AVX512-BF16 or AMX), where oneDNN would
    emulate them in software, as ``bggan-render --precision bf16`` refuses. On one with them, ``bf16-mixed`` trains
    the demo's model 1.6x faster (README, the demo)."""
    if (trainer.get("accelerator") == "cpu" and str(trainer.get("precision", "")).startswith("bf16")
            and not cpu_has_bf16()):
        raise BgganError(f"trainer.precision={trainer.precision} needs a CPU with bfloat16 instructions "
                         "(AVX512-BF16 or AMX) and this one has none; use trainer.precision=32-true")


def train(cfg: DictConfig, run_dir: str | Path) -> TrainResult:
    """Run one training stage as ``cfg`` says (see ``conf/train.yaml``), in ``run_dir``.

    Raises:
        BgganError: a bad config value, missing data or weights; :class:`~bggan.errors.TrainingFailed`
            when a loss or gradient stops being finite.
    """
    check_targets(cfg)  # every key and value against the class it configures, before anything runs
    check_precision(cfg.trainer)
    run_dir = Path(run_dir)
    checkpoints = run_dir / "checkpoints"
    ckpt_path = resolve_resume(cfg.get("ckpt_path"), checkpoints)
    if ckpt_path is None:
        check_start(cfg)  # before the data and the losses' weights are read
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)

    datamodule = build(cfg.data)
    module = build_module(cfg)
    start = f"resumed from {ckpt_path}" if ckpt_path else init_generator(module, cfg.get("init_from"))
    trainer, checkpoint = build_trainer(cfg, run_dir)
    if trainer.global_rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(cfg, run_dir, resuming=ckpt_path is not None)
    critics = f"critics {module.gan.describe()}; " if module.needs_critic else ""
    rank_zero_info(f"stage {module.stage}: {module.generator.summary()}; loss {module.loss.describe()}; "
                   f"{critics}generator: {start}\nrun folder: {run_dir}")

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except (RuntimeError, ConnectionError) as e:  # torch's collectives raise RuntimeErrors; a socket may raise itself
        lost = lost_a_process(e) if trainer.world_size > 1 else None
        if lost:
            raise TrainingFailed(f"a process of this {trainer.world_size}-process run was lost ({lost}); "
                                 f"resume every process with ckpt_path=last (last checkpoint: "
                                 f"{checkpoint.last_model_path or 'none yet'})") from None
        raise

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    result = TrainResult(run_dir, _path(checkpoint.last_model_path), _path(checkpoint.best_model_path), None,
                         metrics, trainer.interrupted)
    if trainer.global_rank == 0:
        source = result.best or result.last
        if source is not None:
            result.generator = export_generator(source, run_dir / "generator.safetensors")
    return result


#: How torch.distributed's backends say that the other end of a collective is gone (gloo, NCCL).
_LOST_PEER = re.compile(r"Connection (closed by peer|reset by peer)|remote (worker|process)|NCCL communicator was aborted"
                        r"|Socket Timeout|Broken pipe", re.IGNORECASE)


def lost_a_process(error: BaseException) -> str | None:
    """What a collective's error says when another process of the run died (killed, out of memory, node lost), as
    one short line; ``None`` for any other error. torch raises these as plain RuntimeErrors from inside autograd, so
    the message is what tells."""
    text = str(error).strip()
    match = _LOST_PEER.search(text)
    if match is None:
        return None
    line = text.splitlines()[0]
    return re.sub(r"^\[[^\]]*\]\s*", "", line).split(". ")[0][:200]  # no source path, first sentence


def export_generator(checkpoint: Path, out: Path) -> Path:
    """Write the generator of a training checkpoint (EMA weights when the run had EMA) as safetensors."""
    model = load_generator(checkpoint)
    return save_generator(model, out, overwrite=True, metadata={"source": str(checkpoint)})


def _path(text: str) -> Path | None:
    return Path(text) if text else None
