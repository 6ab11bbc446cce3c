"""Generator weight files: safetensors with the model config in the metadata (never pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from bggan.errors import BgganError
from bggan.files import SAFETENSORS, TORCH_CHECKPOINT, atomic_output, identify
from bggan.models.glassnet import GlassNet

FORMAT = "bggan.glassnet"
#: What a generator file is, for messages.
GENERATOR_FILES = "a generator .safetensors (from bggan-train or bggan-import-tf) or a bggan-train .ckpt"
_CONFIG_KEYS = ("c1", "c2", "n_res", "norm", "dropout", "condition", "gate", "stack", "input_skip")


def save_generator(model: GlassNet, path: str | os.PathLike, overwrite: bool = False,
                   metadata: dict[str, str] | None = None) -> Path:
    """Write ``model``'s weights and config to a safetensors file, atomically.

    Args:
        model: any :class:`GlassNet`.
        path: output file (conventionally ``*.safetensors``).
        overwrite: replace an existing file.
        metadata: extra string entries for the file's metadata (e.g. where weights came from).

    Returns:
        ``path``.
    """
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {**(metadata or {}), "format": FORMAT, "config": json.dumps(model.config)}
    with atomic_output(path, overwrite) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return Path(path)


def _generator_file(path: str | os.PathLike) -> tuple[Path, str]:
    """``(path, kind)``: the file and which of :data:`~bggan.files.SAFETENSORS` and
    :data:`~bggan.files.TORCH_CHECKPOINT` it is, by its bytes, not its name.

    Raises:
        BgganError: one line saying what the file is instead (missing, a folder, an image, an ONNX model, ...).
    """
    path = Path(path)
    kind = identify(path)
    if kind == "missing":
        raise BgganError(f"{path}: no such file")
    if kind not in (SAFETENSORS, TORCH_CHECKPOINT):
        raise BgganError(f"{path} is {kind}, not {GENERATOR_FILES}")
    return path, kind


def read_generator_config(path: str | os.PathLike) -> dict:
    """The GlassNet keyword arguments stored in a generator file (:func:`save_generator`'s, or a training
    checkpoint's), read without its tensors where the file allows (a safetensors file's metadata).

    Raises:
        BgganError: one line saying what the file is and why it holds no generator.
    """
    path, kind = _generator_file(path)
    if kind == TORCH_CHECKPOINT:
        return _checkpoint_config(_read_checkpoint(path))
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise BgganError(f"{path}: a damaged safetensors file ({e})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise BgganError(f"{path}: a safetensors file, but not a bggan generator (no '{FORMAT}' metadata)")
    try:
        config = json.loads(meta["config"])
        return {k: config[k] for k in _CONFIG_KEYS if k in config}
    except (json.JSONDecodeError, TypeError) as e:
        raise BgganError(f"{path}: unreadable generator config ({e})") from None


def _read_checkpoint(path: Path, hint: str = "") -> dict:
    """The dict of a Lightning checkpoint written by ``bggan-train`` (its ``bggan`` entry and ``state_dict`` there).

    Raises:
        BgganError: unreadable (``hint`` is added to that line), or not a bggan training checkpoint.
    """
    kind = identify(path)
    if kind != TORCH_CHECKPOINT:
        raise BgganError(f"{path} is {kind}, not a readable training checkpoint{hint}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch.load raises many types for a bad file)
        raise BgganError(f"{path}: not a readable training checkpoint ({type(e).__name__}){hint}") from None
    info = ckpt.get("bggan") if isinstance(ckpt, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("generator"), dict) or "state_dict" not in ckpt:
        raise BgganError(f"{path}: a PyTorch checkpoint, but not one bggan-train wrote (no 'bggan' entry)")
    return ckpt


def _checkpoint_config(ckpt: dict) -> dict:
    return {k: ckpt["bggan"]["generator"][k] for k in _CONFIG_KEYS if k in ckpt["bggan"]["generator"]}


def _checkpoint_state(path: Path, prefer_ema: bool) -> tuple[dict, dict[str, torch.Tensor], str]:
    """``(config, state, source)`` of the generator in a Lightning checkpoint written by ``bggan-train``."""
    ckpt = _read_checkpoint(path)
    info = ckpt["bggan"]
    # An EMA that was never updated (n_averaged == 0) is a stale copy: the generator is what validation used.
    averaged = ckpt["state_dict"].get("ema.n_averaged")
    use_ema = prefer_ema and info.get("ema") and averaged is not None and int(averaged) > 0
    prefix = "ema.module." if use_ema else "generator."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    source = "EMA generator" if prefix.startswith("ema") else "generator"
    return _checkpoint_config(ckpt), state, source


#: What Lightning reads from a checkpoint it resumes from, besides the weights.
RESUME_KEYS = ("state_dict", "optimizer_states", "loops", "epoch", "global_step")


def check_resumable(path: str | os.PathLike) -> None:
    """A ``bggan-train`` checkpoint that a run can resume from (``ckpt_path``), checked before anything is built.

    Raises:
        BgganError: the file is missing, unreadable, not a bggan training checkpoint, or lacks what resuming needs.
    """
    path = Path(path)
    if not path.is_file():
        raise BgganError(f"{path}: no such file")
    ckpt = _read_checkpoint(path, "; ckpt_path takes a .ckpt that bggan-train wrote")
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing:
        raise BgganError(f"{path}: a checkpoint without {', '.join(missing)} cannot be resumed (init_from= starts a new "
                         "run from its weights)")


def read_generator_state(path: str | os.PathLike, prefer_ema: bool = True) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(config, state_dict)`` of a generator from a ``.safetensors`` file or a training ``.ckpt``.

    A training checkpoint of a run with EMA on gives the EMA weights (once the EMA has been updated, as
    validation does) unless ``prefer_ema`` is false.

    Raises:
        BgganError: the file is missing or is neither kind of generator file (the line says what it is).
    """
    path, kind = _generator_file(path)
    if kind == TORCH_CHECKPOINT:
        config, state, _ = _checkpoint_state(path, prefer_ema)
        return config, state
    config = read_generator_config(path)
    try:
        with safe_open(path, framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, ValueError) as e:
        raise BgganError(f"{path}: a damaged safetensors file ({e})") from None
    return config, state


def load_state(model: GlassNet, state: dict[str, torch.Tensor], path: str | os.PathLike) -> GlassNet:
    """Load ``state`` into ``model``; a mismatch is one :class:`BgganError` line naming ``path``."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise BgganError(f"{path}: weights do not match {model.config}: {' '.join(first[1:3]).strip()}") from None
    return model


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                   prefer_ema: bool = True) -> GlassNet:
    """Build the :class:`GlassNet` described by a weights file or training checkpoint and load it, in eval mode.

    Args:
        path: a ``.safetensors`` file from :func:`save_generator` or a ``.ckpt`` from ``bggan-train``.
        map_location: device for the model.
        prefer_ema: from a checkpoint of a run with EMA, take the EMA weights (the default).

    Raises:
        BgganError: the file is missing, not a generator file, or its tensors do not match the
            config it declares.
    """
    config, state = read_generator_state(path, prefer_ema)
    try:
        model = GlassNet(**config)
    except (TypeError, ValueError) as e:
        raise BgganError(f"{path}: invalid generator config {config} ({e})") from None
    return load_state(model, state, path).to(map_location).eval()
