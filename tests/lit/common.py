"""Tiny models, fixed data and a quiet CPU Trainer for the Lightning module tests."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from bggan.models import GlassNet
from bggan.models.critic import MultiCritic

#: Lightning's warnings about this tiny CPU setup (no loader workers, no validation set, a frozen VGG in eval mode,
#: resuming into a checkpoint folder): for ``pytest.mark.filterwarnings(*LIGHTNING_NOISE)``.
LIGHTNING_NOISE = (
    "ignore:The '.*dataloader' does not have many workers",
    "ignore:You defined a `validation_step` but have no `val_dataloader`",
    "ignore:Found .* module\\(s\\) in eval mode",
    "ignore:Checkpoint directory .* exists and is not empty",
)


def tiny_generator(seed: int = 0, init: str = "he", dropout: float = 0.1) -> GlassNet:
    """He-initialised by default, so that outputs are spread (the released init starts near 0)."""
    torch.manual_seed(seed)
    return GlassNet(c1=4, c2=12, n_res=1, norm="instance", dropout=dropout, init=init)


def tiny_critic(seed: int = 1) -> MultiCritic:
    torch.manual_seed(seed)
    return MultiCritic(ndf=8, norm="instance")


class Pairs(Dataset):
    """``n`` fixed pairs ``{"name", "input", "target"}`` of ``(3, H, W)`` in [-1, 1]; the target is a darker input."""

    def __init__(self, n: int = 2, size: tuple[int, int] = (32, 48), seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.inputs = torch.rand(n, 3, *size, generator=g) * 2 - 1
        self.targets = (0.6 * self.inputs - 0.2 + 0.1 * torch.randn(n, 3, *size, generator=g)).clamp(-1, 1)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict:
        return {"name": str(i), "input": self.inputs[i], "target": self.targets[i]}


class StrengthPairs(Dataset):
    """Pairs whose target depends on a per-pair strength: ``input * (1 - 0.8 * strength)``."""

    def __init__(self, n: int = 4, size: tuple[int, int] = (32, 48)):
        g = torch.Generator().manual_seed(0)
        self.inputs = torch.rand(n, 3, *size, generator=g) * 2 - 1
        self.strengths = torch.linspace(0, 1, n)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict:
        s = self.strengths[i]
        return {"name": str(i), "input": self.inputs[i], "target": self.inputs[i] * (1 - 0.8 * s), "strength": s}


def loader(n: int = 2, size: tuple[int, int] = (32, 48), batch_size: int = 2, seed: int = 0) -> DataLoader:
    """Batches in a fixed order (no shuffling), so every epoch sees the same batches."""
    return DataLoader(Pairs(n, size, seed), batch_size=batch_size, shuffle=False, num_workers=0)


def make_trainer(root, **kwargs) -> pl.Trainer:
    """A CPU Trainer without logger, checkpoints, progress bar or sanity check, unless ``kwargs`` say otherwise."""
    options = {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "logger": False, "enable_checkpointing": False,
               "enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0,
               "default_root_dir": str(root)}
    options.update(kwargs)
    return pl.Trainer(**options)


def flat(module: torch.nn.Module) -> torch.Tensor:
    """All parameters of ``module`` as one detached vector (a snapshot)."""
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()
