"""Pairs from several sources at once (e.g. EBB! and RealBokeh): one training set, one validation set."""

from __future__ import annotations

from torch.utils.data import ConcatDataset, Dataset

from bggan.errors import BgganError

#: What a batch carries besides the images (:class:`~bggan.data.PairCrops`): every source's pairs must agree.
CARRIED = frozenset({"coc", "strength"})


class MixedPairs:
    """The pairs of every source together: training on all of their training pairs, validation on all of theirs.

    Args:
        **sources: named pair sources (:class:`~bggan.data.PairedImages`, :class:`~bggan.data.RealBokeh`,
            :class:`~bggan.data.SyntheticPairs`), e.g. ``ebb=PairedImages(...), realbokeh=RealBokeh(...)``.
            Their items must carry the same keys: for a generator with the aperture as an input, every source
            labels its pairs (EBB!'s ``f_number: 1.8``).
    """

    def __init__(self, **sources) -> None:
        if not sources:
            raise BgganError("data.pairs: MixedPairs needs at least one source (e.g. ebb: {...}, realbokeh: {...})")
        self.sources = sources

    def split(self) -> tuple[Dataset, Dataset]:
        """``(train, validation)``: each the concatenation of the sources' own, in the order given."""
        parts = {name: source.split() for name, source in self.sources.items()}
        carried = {name: sorted(CARRIED & set(train[0])) for name, (train, _) in parts.items() if len(train)}
        if len({tuple(keys) for keys in carried.values()}) > 1:
            detail = "; ".join(f"{name}: {', '.join(keys) or 'neither'}" for name, keys in carried.items())
            raise BgganError(f"data.pairs: the sources' pairs carry different things ({detail}), so they cannot share "
                             "a batch; label every source's aperture (e.g. f_number: 1.8) or none")
        return (ConcatDataset([train for train, _ in parts.values()]),
                ConcatDataset([val for _, val in parts.values()]))

    def summary(self) -> str:
        """Each source's summary under its name."""
        return "\n".join(f"{name}: {source.summary()}" for name, source in self.sources.items())
