"""Generator weight files: safetensors with the model config in the metadata (never pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from bggan.errors import BgganError
from bggan.files import atomic_output
from bggan.models.glassnet import GlassNet

FORMAT = "bggan.glassnet"
_CONFIG_KEYS = ("c1", "c2", "n_res", "norm", "dropout")


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


def read_generator_config(path: str | os.PathLike) -> dict:
    """The GlassNet keyword arguments stored in a file written by :func:`save_generator`."""
    path = Path(path)
    if not path.is_file():
        raise BgganError(f"{path}: no such file")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise BgganError(f"{path}: not a safetensors file ({e})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise BgganError(f"{path}: not a bggan generator file (no '{FORMAT}' metadata)")
    try:
        config = json.loads(meta["config"])
        return {k: config[k] for k in _CONFIG_KEYS if k in config}
    except (json.JSONDecodeError, TypeError) as e:
        raise BgganError(f"{path}: unreadable generator config ({e})") from None


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> GlassNet:
    """Build the :class:`GlassNet` described by a weights file and load it, in eval mode.

    Raises:
        BgganError: the file is missing, not safetensors, not a generator, or its tensors do
            not match the config it declares.
    """
    config = read_generator_config(path)
    try:
        model = GlassNet(**config)
    except (TypeError, ValueError) as e:
        raise BgganError(f"{path}: invalid generator config {config} ({e})") from None
    with safe_open(path, framework="pt", device=str(map_location)) as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise BgganError(f"{path}: weights do not match {config}: {' '.join(first[1:3]).strip()}") from None
    return model.to(map_location).eval()
