"""Plain ``nn.Module`` models: the Glass-Net generator and the PatchGAN critics."""

from bggan.models.blocks import Conv2dSame, InstanceNorm, ResidualBlock, same_padding
from bggan.models.critic import MultiCritic, PatchCritic
from bggan.models.glassnet import SIZE_MULTIPLE, GlassNet, RefineStage, RoughStage, pad_to_multiple
from bggan.models.weights import load_generator, save_generator

__all__ = [
    "SIZE_MULTIPLE", "Conv2dSame", "GlassNet", "InstanceNorm", "MultiCritic", "PatchCritic", "RefineStage",
    "ResidualBlock", "RoughStage", "load_generator", "pad_to_multiple", "same_padding", "save_generator",
]
