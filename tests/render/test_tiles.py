"""Tiling: cover, overlap, exact reassembly and seamless blending."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from bggan.render.tiles import blend, plan, ramp, starts


@pytest.mark.parametrize("length, tile, overlap", [(1000, 256, 64), (4000, 1024, 256), (1536, 1536, 256),
                                                   (300, 1024, 256), (1025, 1024, 100)])
def test_starts_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    tile = min(tile, length)
    s = starts(length, tile, overlap)
    assert s[0] == 0 and s[-1] + tile == length
    assert all(b - a <= tile - overlap for a, b in pairwise(s))  # neighbours share >= overlap px
    assert all(b > a for a, b in pairwise(s))


def test_plan_refuses_an_overlap_of_half_a_tile():
    with pytest.raises(ValueError, match="overlap"):
        plan((100, 100), (32, 32), 16)


def test_ramp_fades_only_the_ends_asked_for():
    w = ramp(10, 4, True, False)
    assert w[0] > 0 and np.all(np.diff(w[:4]) > 0) and np.all(w[4:] == 1)
    assert np.all(ramp(10, 4, False, False) == 1)


@pytest.mark.parametrize("size, tile, overlap", [((100, 150), (32, 48), 8), ((64, 64), (64, 64), 8),
                                                 ((97, 211), (40, 40), 10)])
def test_an_identity_model_gives_the_image_back_exactly(size, tile, overlap):
    image = np.random.default_rng(0).uniform(-1, 1, (*size, 3)).astype(np.float32)
    tiling = plan(size, tile, overlap)
    calls = []
    out = blend(image, tiling, lambda t: t, lambda: calls.append(1))
    np.testing.assert_allclose(out, image, atol=1e-6)
    assert len(calls) == len(tiling)


def test_tiles_that_disagree_are_blended_without_a_seam():
    """Each tile returns its own constant: the result moves between them in steps no larger than the ramp's."""
    tiling = plan((64, 300), (64, 100), 20)
    values = iter(np.linspace(-1, 1, len(tiling)))
    out = blend(np.zeros((64, 300, 3), np.float32), tiling, lambda t: np.full_like(t, next(values)))
    step = np.abs(np.diff(out[0, :, 0])).max()
    jump = 2 / (len(tiling) - 1)  # between neighbouring tiles' constants
    assert step <= jump / 20 * 1.01  # spread over the 20 px ramp, not a hard edge
    assert out[0, 0, 0] == pytest.approx(-1) and out[0, -1, 0] == pytest.approx(1)
