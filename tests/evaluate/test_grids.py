
import numpy as np
import pytest

from bggan import evaluate as ev
from bggan.errors import BgganError
from tests.evaluate.common import image


def test_error_map_scaling_and_colormap():
    target = np.full((4, 4, 3), 100, np.uint8)
    assert np.array_equal(ev.error_map(target, target), np.zeros((4, 4, 3), np.uint8) + ev.colorize(0.0))
    assert tuple(ev.colorize(0.0)) == (0, 0, 4) and tuple(ev.colorize(1.0)) == (252, 255, 164)
    full = target + np.uint8(64)  # 64/255 > 0.25: saturated
    assert np.array_equal(ev.error_map(full, target)[0, 0], ev.colorize(1.0))
    half = target + np.uint8(32)  # 32/255 / 0.25 = 0.502
    assert np.array_equal(ev.error_map(half, target)[0, 0], ev.colorize(32 / 255 / 0.25))
    lightness = ev.colorize(np.linspace(0, 1, 101)).astype(float) @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(lightness) >= 0)  # brighter means a larger error
    with pytest.raises(BgganError):
        ev.error_map(target, target[:2])


def test_comparison_grid_resizes_rows_to_one_height():
    rows = [[image(40, 60)] * 4, [image(20, 20)] * 3]
    grid = ev.comparison_grid(rows, height=30, gap=2)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * 30 + 2, 4 * 45 + 3 * 2, 3)  # 40x60 -> 30x45; the 3-tile row is padded
    assert np.all(grid[32:, 3 * 30 + 2 * 2:] == 255)
    with pytest.raises(ValueError):
        ev.comparison_grid([])


def test_a_labelled_strip_puts_each_picture_under_its_label_side_by_side():
    from bggan.evaluate.grids import GAP, LABEL_HEIGHT, labelled_strip

    red, blue = np.zeros((40, 60, 3), np.uint8), np.zeros((20, 20, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    strip = labelled_strip([red, blue], ["f/2.8", "no blur"], height=80)
    assert strip.shape == (LABEL_HEIGHT + 80, 120 + GAP + 80, 3)
    assert (strip[LABEL_HEIGHT:, :120] == [255, 0, 0]).all() and (strip[LABEL_HEIGHT:, 120 + GAP:] == [0, 0, 255]).all()
    assert (strip[LABEL_HEIGHT:, 120:120 + GAP] == 255).all()  # white between them
    assert (strip[:LABEL_HEIGHT, :120] < 128).any() and (strip[:LABEL_HEIGHT] == 255).mean() > 0.5  # a label, on white
    with pytest.raises(ValueError):
        labelled_strip([red, blue], ["one label"])
