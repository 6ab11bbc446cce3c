"""Data: paired photos (EBB! layouts), synthetic bokeh pairs, and the datamodule serving both."""

from bggan.data.paired import PairedImages, PairFiles, ScanReport, scan_folder
from bggan.data.synthetic import SyntheticPairs, render_pair
from bggan.data.transforms import PairCrops

__all__ = ["BokehDataModule", "PairCrops", "PairFiles", "PairedImages", "ScanReport", "SyntheticPairs",
           "render_pair", "scan_folder"]


def __getattr__(name: str):
    # The datamodule imports Lightning (seconds); load it only when asked for.
    if name == "BokehDataModule":
        from bggan.data.datamodule import BokehDataModule

        return BokehDataModule
    raise AttributeError(f"module 'bggan.data' has no attribute {name!r}")
