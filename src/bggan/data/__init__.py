"""Data: paired photos (EBB! layouts, RealBokeh), synthetic bokeh pairs, mixes of them, and the datamodule serving
them all."""

from bggan.data.mixed import MixedPairs
from bggan.data.paired import PairedImages, PairFiles
from bggan.data.realbokeh import RealBokeh
from bggan.data.scan import ScanReport, scan_folder
from bggan.data.synthetic import SyntheticPairs, render_pair
from bggan.data.transforms import PairCrops

__all__ = ["BokehDataModule", "MixedPairs", "PairCrops", "PairFiles", "PairedImages", "RealBokeh", "ScanReport",
           "SyntheticPairs", "render_pair", "scan_folder"]


def __getattr__(name: str):
    # The datamodule imports Lightning (seconds); load it only when asked for.
    if name == "BokehDataModule":
        from bggan.data.datamodule import BokehDataModule

        return BokehDataModule
    raise AttributeError(f"module 'bggan.data' has no attribute {name!r}")
