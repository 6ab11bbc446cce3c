"""A strip of one photo rendered at several apertures, side by side, each labelled with its f-number."""

from __future__ import annotations

import numpy as np

from bggan.evaluate.grids import labelled_strip
from bggan.models.condition import aperture_label

#: Height of each picture in a strip (px).
STRIP_HEIGHT = 320


def aperture_strip(images: list[np.ndarray], f_numbers: list[float], height: int = STRIP_HEIGHT) -> np.ndarray:
    """``(H, W, 3)`` uint8 renders of one photo and their f-numbers -> one labelled strip
    (:func:`bggan.evaluate.grids.labelled_strip`), each render ``height`` px high under its f-number."""
    return labelled_strip(images, [aperture_label(f) for f in f_numbers], height)
