"""Evaluation: metrics with fixed conventions, pairs of files, scoring, reports and pictures.

- :mod:`~bggan.evaluate.metrics`: PSNR, SSIM, LPIPS of one image (:class:`Scorer`), also what validation logs;
- :mod:`~bggan.evaluate.bands`: PSNR and detail kept per band of the target's circle of confusion;
- :mod:`~bggan.evaluate.pairs`: images matched by name across folders (:func:`pair_folders`);
- :mod:`~bggan.evaluate.scoring`: a generator or rendered images scored pair by pair (:func:`score_pairs`);
- :mod:`~bggan.evaluate.reports`: ``metrics.csv`` and ``metrics.md``;
- :mod:`~bggan.evaluate.grids`: error maps and comparison grids.
"""

from bggan.evaluate.bands import BAND_NAMES, BandMetrics, CocBands, band_metrics, mean_bands
from bggan.evaluate.grids import (
    BAND_COLOURS,
    ERROR_FULL_SCALE,
    GRID_HEIGHT,
    band_picture,
    colorize,
    comparison_grid,
    error_map,
    resize_to_height,
)
from bggan.evaluate.metrics import Metrics, Scorer, image_metrics, load_lpips_metric
from bggan.evaluate.pairs import EVAL_SUFFIXES, FilePairs, Pairing, SkippedPair, images_by_stem, pair_folders
from bggan.evaluate.reports import (
    BAND_COLUMNS,
    CSV_COLUMNS,
    IDENTITY_COLUMNS,
    bands_table,
    comparison_table,
    csv_rows,
    f_number_table,
    metrics_markdown,
    metrics_table,
    write_csv,
    write_text,
)
from bggan.evaluate.scoring import ImageScore, mean_metrics, mean_seconds, score_pairs, timed_forward

__all__ = [
    "BAND_COLOURS",
    "BAND_COLUMNS",
    "BAND_NAMES",
    "CSV_COLUMNS",
    "ERROR_FULL_SCALE",
    "EVAL_SUFFIXES",
    "GRID_HEIGHT",
    "IDENTITY_COLUMNS",
    "BandMetrics",
    "CocBands",
    "FilePairs",
    "ImageScore",
    "Metrics",
    "Pairing",
    "Scorer",
    "SkippedPair",
    "band_metrics",
    "band_picture",
    "bands_table",
    "colorize",
    "comparison_grid",
    "comparison_table",
    "csv_rows",
    "error_map",
    "f_number_table",
    "image_metrics",
    "images_by_stem",
    "load_lpips_metric",
    "mean_bands",
    "mean_metrics",
    "mean_seconds",
    "metrics_markdown",
    "metrics_table",
    "pair_folders",
    "resize_to_height",
    "score_pairs",
    "timed_forward",
    "write_csv",
    "write_text",
]
