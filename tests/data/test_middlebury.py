import numpy as np
import pytest

from bggan.data.middlebury import FOCAL_PX, depth_from_disparity, fill_holes, motorcycle
from bggan.errors import BgganError


def test_the_motorcycle_comes_with_its_measured_depth_in_metres():
    scene = motorcycle()
    assert scene.photo.shape == (500, 741, 3) and scene.depth_m.shape == (500, 741)
    known = scene.known
    assert 0.9 < known.mean() < 0.95  # 7% of the pixels have no measurement
    assert 2.0 < np.nanmin(scene.depth_m) and np.nanmax(scene.depth_m) < 5.1
    centre = np.nanmedian(scene.depth_m[225:275, 333:408])  # the motorcycle
    assert 2.2 < centre < 2.7 and scene.focal_px == FOCAL_PX
    filled = scene.filled_depth()
    assert np.isfinite(filled).all() and np.array_equal(filled[known], scene.depth_m[known])


def test_disparity_becomes_depth_by_the_calibration():
    depth = depth_from_disparity(np.array([[0.0, 50.0, np.inf]], np.float32))
    assert depth[0, 0] == pytest.approx(193.001 * 994.978 / 31.086 / 1000, rel=1e-5)
    assert depth[0, 1] < depth[0, 0] and np.isnan(depth[0, 2])  # more disparity is nearer; inf is unknown


def test_holes_take_the_farthest_measured_neighbour():
    depth = np.array([[2.0, 2.0, 5.0, 5.0],
                      [2.0, np.nan, np.nan, 5.0],
                      [2.0, 2.0, 5.0, 5.0]], np.float32)
    filled = fill_holes(depth)
    assert filled[1, 1] == 5.0 and filled[1, 2] == 5.0  # an occlusion belongs to what lies behind
    wide = np.full((5, 9), np.nan, np.float32)
    wide[0, 0] = 3.0
    assert (fill_holes(wide) == 3.0).all()  # grown until nothing is left
    with pytest.raises(BgganError, match="no measured"):
        fill_holes(np.full((3, 3), np.nan, np.float32))
