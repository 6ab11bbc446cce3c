"""VGG19 features for the perceptual loss, in torchvision's layer layout, without importing torchvision.

The layout (``features.0`` ... ``features.36``) matches torchvision's ``vgg19().features`` so the
standard ImageNet weights file ``vgg19-dcbb9e9d.pth`` loads by key. That file comes from
torch.hub's cache (downloaded once, its SHA-256 checked against the prefix in its name) or from a
local path; nothing here trains or falls back to random weights silently.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import nn

from bggan.errors import BgganError
from bggan.models.hub import fetch_checked

#: torchvision's ImageNet weights for VGG19 (the name carries the first 8 hex digits of its SHA-256).
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
#: torchvision's "E" configuration: channels per conv, "M" for a 2x2 max-pool.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                512, 512, 512, 512, "M")
#: index of relu5_4 in ``features`` (the layer BGGAN's perceptual loss reads).
RELU5_4 = 35
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features(last: int = RELU5_4) -> nn.Sequential:
    """``features[0..last]`` of VGG19 with torchvision's indices (so state-dict keys line up)."""
    layers: list[nn.Module] = []
    channels = 3
    for v in VGG19_LAYOUT:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers[:last + 1])


def fetch_vgg19_weights(url: str = VGG19_URL, config_key: str = "loss.vgg_weights") -> Path:
    """The weights file from torch.hub's cache, downloading it once; its hash is checked every time.

    Raises:
        BgganError: no network and no cached copy, or the cached copy's hash is wrong. The
            message names ``config_key`` so the user knows how to point at a local file instead.
    """
    name = url.rsplit("/", 1)[-1]
    return fetch_checked(url, "VGG19 weights",
                         f"set {config_key}=/path/to/{name}, or turn the VGG term off (loss.w_vgg=0)")


def load_vgg19_features(path: str | os.PathLike | None = None, last: int = RELU5_4,
                        config_key: str = "loss.vgg_weights") -> nn.Sequential:
    """Frozen, eval-mode VGG19 features up to layer ``last``, with ImageNet weights.

    Args:
        path: a local ``vgg19-*.pth`` (torchvision's state dict); ``None`` uses torch.hub's cache.
        last: the last layer kept (default relu5_4).
        config_key: named in error messages.

    Raises:
        BgganError: the file is missing, not a state dict, or lacks a ``features`` tensor of the
            right shape.
    """
    file = fetch_vgg19_weights(config_key=config_key) if path is None else Path(path).expanduser()
    if not file.is_file():
        raise BgganError(f"{config_key}={path}: no such file")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise BgganError(f"{file}: not a PyTorch weights file ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise BgganError(f"{file}: not a state dict")
    features = vgg19_features(last)
    wanted = features.state_dict()
    found = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    missing = [k for k in wanted if k not in found]
    if missing:
        raise BgganError(f"{file}: not VGG19 weights in torchvision's layout (missing features.{missing[0]})")
    for key, tensor in wanted.items():
        if found[key].shape != tensor.shape:
            raise BgganError(f"{file}: features.{key} has shape {tuple(found[key].shape)}, "
                             f"expected {tuple(tensor.shape)}")
    features.load_state_dict({k: found[k] for k in wanted})
    features.requires_grad_(False)
    return features.eval()
