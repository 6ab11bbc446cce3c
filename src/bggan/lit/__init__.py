"""Lightning modules for BGGAN's two training stages, and what they share."""

from bggan.lit.adversarial import AdversarialModule
from bggan.lit.base import BokehModule
from bggan.lit.checkpoint_io import AtomicCheckpointIO, BestAndLastCheckpoint
from bggan.lit.pretrain import PretrainModule

__all__ = ["AdversarialModule", "AtomicCheckpointIO", "BestAndLastCheckpoint", "BokehModule", "PretrainModule"]
