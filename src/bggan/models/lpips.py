"""LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018), without importing torchvision or ``lpips``.

The distance matches the ``lpips`` package's ``LPIPS(net="alex", version="0.1")`` (and torchmetrics'
default LPIPS): both images go through a fixed per-channel scaling and AlexNet's conv layers; at five
ReLU taps each feature vector is scaled to unit length over channels, the two images' squared
difference is weighted per channel by a learned 1x1 conv (the "lin" layers), averaged over space, and
the five averages are summed.

Two weight files, neither of them ever replaced by random values:

* the AlexNet ``features`` from torchvision's ``alexnet-owt-7be5be79.pth`` (loaded by key; torch.hub's
  cache, its SHA-256 checked against the prefix in its name, or a local path);
* the lin layers, ``alex.pth`` from the installed ``lpips`` package (``lpips/weights/v0.1/``) or the
  copy torchmetrics ships (``torchmetrics/functional/image/lpips_models/``), or a local path. The
  packages are located with ``importlib.util.find_spec`` on their top-level names, which does not run
  their ``__init__`` (``lpips``' imports torchvision).
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import torch
from torch import nn

from bggan.errors import BgganError
from bggan.models.hub import fetch_checked

#: torchvision's ImageNet weights for AlexNet (the name carries the first 8 hex digits of its SHA-256).
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
#: indices in ``features`` of the ReLUs LPIPS reads, and their channel counts.
TAPS = (1, 4, 7, 9, 11)
TAP_CHANNELS = (64, 192, 384, 256, 256)
#: LPIPS's fixed input scaling, ``(x - SHIFT) / SCALE`` per RGB channel, for images in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: where the lin weights sit inside the packages that ship them.
LIN_FILES = (("lpips", "weights/v0.1/alex.pth"), ("torchmetrics", "functional/image/lpips_models/alex.pth"))
#: the smallest height and width AlexNet's three pooling steps accept.
MIN_SIZE = 31


def alexnet_features() -> nn.Sequential:
    """torchvision's ``alexnet().features[0..11]`` (the last max-pool dropped), with its indices."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


class LPIPS(nn.Module):
    """LPIPS v0.1 (AlexNet). Built with random weights: use :func:`load_lpips` for the real ones."""

    def __init__(self) -> None:
        super().__init__()
        self.features = alexnet_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in TAP_CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs for images ``x`` (N, 3, H, W) in [-1, 1]: (N, C_k, H_k, W_k), all >= 0."""
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distances (N,), >= 0, between images ``a`` and ``b``, each (N, 3, H, W) in [-1, 1], H and W >= 31.

        Lower is more similar; 0 for identical images. Gradients flow to the inputs, not the weights.
        """
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3 or min(a.shape[2:]) < MIN_SIZE:
            raise ValueError(f"LPIPS takes two (N, 3, H, W) batches of one shape with H, W >= {MIN_SIZE}; "
                             f"got {tuple(a.shape)} and {tuple(b.shape)}")
        total = a.new_zeros(a.shape[0])
        for f, lin in zip(self.taps(torch.cat([a, b])), self.lins):
            f = f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            fa, fb = f.chunk(2)
            total = total + lin((fa - fb).square()).mean(dim=(1, 2, 3))
        return total


def find_lin_weights() -> Path | None:
    """``alex.pth`` of the installed ``lpips`` package, else torchmetrics' copy; ``None`` if neither is there.

    Neither package is imported (``find_spec`` of a top-level name only locates it).
    """
    for package, relative in LIN_FILES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):  # ValueError: a module in sys.modules without a __spec__
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            if (Path(folder) / relative).is_file():
                return Path(folder) / relative
    return None


def fetch_alexnet_weights(url: str | None = None, download: bool = True) -> Path:
    """torchvision's AlexNet file from torch.hub's cache (downloaded once if ``download``); its hash is checked.

    ``url`` defaults to :data:`ALEXNET_URL`; the cached file is ``torch.hub.get_dir()/checkpoints/<its name>``.

    Raises:
        BgganError: not cached (and not downloadable), or the cached copy's SHA-256 is wrong.
    """
    url = url or ALEXNET_URL
    name = url.rsplit("/", 1)[-1]
    return fetch_checked(url, "AlexNet weights", f"put {name} there (from {url}) or pass the AlexNet weights "
                                                 "file explicitly", download)


def _state_dict(file: Path) -> dict:
    if not file.is_file():
        raise BgganError(f"{file}: no such file")
    try:  # map_location: the released lin weights were saved from CUDA tensors
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise BgganError(f"{file}: not a PyTorch weights file ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise BgganError(f"{file}: not a state dict")
    return state


def _take(state: dict, file: Path, wanted: dict[str, torch.Tensor], what: str) -> dict[str, torch.Tensor]:
    """``state[k]`` for each key ``k`` of ``wanted``, checked to be a tensor of the wanted shape."""
    for key, like in wanted.items():
        value = state.get(key)
        if not isinstance(value, torch.Tensor):
            raise BgganError(f"{file}: not {what} (missing {key})")
        if value.shape != like.shape:
            raise BgganError(f"{file}: {key} has shape {tuple(value.shape)}, expected {tuple(like.shape)}")
    return {k: state[k].to(like.dtype) for k, like in wanted.items()}


def load_lpips(lin_weights: str | os.PathLike | None = None, backbone_weights: str | os.PathLike | None = None,
               download: bool = True) -> LPIPS:
    """Frozen, eval-mode LPIPS with the released weights.

    Args:
        lin_weights: an ``alex.pth`` lin file (keys ``lin0.model.1.weight`` ... ``lin4``, shapes
            (1, C, 1, 1), values >= 0); ``None``: the one :func:`find_lin_weights` finds.
        backbone_weights: torchvision's ``alexnet-owt-7be5be79.pth`` (``features.*`` keys; others are
            ignored); ``None``: torch.hub's cache.
        download: with ``backbone_weights=None``, download the AlexNet file once if it is not cached.

    Raises:
        BgganError: a file is missing, not a state dict, or lacks a key or has a wrong shape.
    """
    if lin_weights is None:
        lin_file = find_lin_weights()
        if lin_file is None:
            raise BgganError("the LPIPS lin weights were not found (no lpips package, no copy in torchmetrics); "
                             "pip install lpips, or pass the alex.pth file explicitly")
    else:
        lin_file = Path(lin_weights).expanduser()
    backbone_file = fetch_alexnet_weights(download=download) if backbone_weights is None \
        else Path(backbone_weights).expanduser()

    model = LPIPS()
    lin_like = {f"lin{i}.model.1.weight": lin.weight for i, lin in enumerate(model.lins)}
    lins = _take(_state_dict(lin_file), lin_file, lin_like, "LPIPS v0.1 AlexNet lin weights")
    if any(bool((w < 0).any()) for w in lins.values()):
        raise BgganError(f"{lin_file}: negative lin weights; not a released LPIPS file")
    features = {f"features.{k}": v for k, v in model.features.state_dict().items()}
    features = _take(_state_dict(backbone_file), backbone_file, features, "AlexNet weights in torchvision's layout")

    model.features.load_state_dict({k.removeprefix("features."): v for k, v in features.items()})
    for lin, weight in zip(model.lins, lins.values()):
        lin.weight.data.copy_(weight)
    model.requires_grad_(False)
    return model.eval()


def find_lpips(lin_weights: str | os.PathLike | None = None,
               backbone_weights: str | os.PathLike | None = None) -> tuple[LPIPS | None, str]:
    """:func:`load_lpips` without downloading or raising: ``(model, note)``, or ``(None, why it was skipped)``.

    The note is one short line for a report, e.g. ``"LPIPS skipped: the AlexNet weights are not ..."``.
    """
    try:
        model = load_lpips(lin_weights, backbone_weights, download=False)
    except BgganError as e:
        return None, f"LPIPS skipped: {e}"
    lin = lin_weights if lin_weights is not None else find_lin_weights()
    backbone = backbone_weights if backbone_weights is not None else "torch.hub's cache"
    return model, f"LPIPS v0.1 (AlexNet): lin weights {lin}, backbone {backbone}"
