"""Images and pair datasets the evaluation tests share."""

import numpy as np
import torch
from PIL import Image


def image(h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def mean_abs(a, b):
    """A stand-in LPIPS: mean absolute difference of (N, 3, H, W) tensors in [-1, 1], per image."""
    return (a - b).abs().mean(dim=(1, 2, 3))


class Pairs(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]
