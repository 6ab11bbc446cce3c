"""A strip of one photo rendered at several apertures, side by side, each labelled with its f-number."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bggan.evaluate.grids import resize_to_height

#: Height of each picture in a strip (px), the label band above it, and the gap between pictures.
STRIP_HEIGHT, LABEL_HEIGHT, GAP = 320, 28, 4


def aperture_label(f_number: float) -> str:
    """``f/2.8``, or ``no blur`` for ``inf``."""
    return "no blur" if math.isinf(f_number) else f"f/{f_number:g}"


def aperture_strip(images: list[np.ndarray], f_numbers: list[float], height: int = STRIP_HEIGHT) -> np.ndarray:
    """``(H, W, 3)`` uint8 renders of one photo and their f-numbers -> one ``(LABEL_HEIGHT + height, W', 3)``
    uint8 picture: each render resized to ``height`` px, its label above it, white between them."""
    tiles = [resize_to_height(image, height) for image in images]
    width = sum(t.shape[1] for t in tiles) + GAP * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, LABEL_HEIGHT + height), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=LABEL_HEIGHT - 8)
    x = 0
    for tile, f_number in zip(tiles, f_numbers, strict=True):
        canvas.paste(Image.fromarray(tile), (x, LABEL_HEIGHT))
        draw.text((x + tile.shape[1] / 2, LABEL_HEIGHT / 2), aperture_label(f_number), fill="black", font=font,
                  anchor="mm")
        x += tile.shape[1] + GAP
    return np.asarray(canvas)
