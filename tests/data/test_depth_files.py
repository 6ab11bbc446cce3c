"""Depth files a user gives: .npy metres and grayscale images, fitted to the photo; metres from any of them.

Phone photos with their depth inside are in test_phone_depth.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bggan.data.depth_bokeh import depth_from_map
from bggan.data.depth_files import DepthMap, depth_metres, read_depth_map
from bggan.errors import BgganError


def ramp(h=24, w=32, top=255):
    return np.tile(np.linspace(0, top, w), (h, 1))


def test_npy_is_metres_as_it_is_even_when_constant(tmp_path):
    metres = np.linspace(0.5, 9, 24 * 32).reshape(24, 32)
    np.save(tmp_path / "d.npy", metres[None])  # a leading axis of 1 is squeezed
    got = read_depth_map(tmp_path / "d.npy", (24, 32))
    assert (got.kind, got.near_m, got.far_m) == ("metres", None, None)
    assert got.values.dtype == np.float32 and np.allclose(got.values, metres)
    np.save(tmp_path / "flat.npy", np.full((24, 32), 3.0))  # everything at 3 m is a scene, not a broken map
    assert (read_depth_map(tmp_path / "flat.npy", (24, 32)).values == 3).all()


@pytest.mark.parametrize("name, pixels, described", [
    ("d8.png", ramp().astype(np.uint8), "8-bit PNG 24x32"),
    ("d16.png", ramp(top=60000).astype(np.uint16), "16-bit PNG 24x32"),
    ("df.tif", ramp(top=2.5).astype(np.float32), "float TIFF 24x32"),
    ("gray_rgb.png", np.repeat(ramp().astype(np.uint8)[..., None], 3, axis=-1), "8-bit PNG 24x32"),
])
def test_grayscale_images_are_relative_depth(tmp_path, name, pixels, described):
    Image.fromarray(pixels).save(tmp_path / name)
    got = read_depth_map(tmp_path / name, (24, 32))
    assert (got.kind, got.near_m, got.far_m) == ("depth", None, None)
    expected = pixels[..., 0] if pixels.ndim == 3 else pixels
    assert got.values.dtype == np.float32 and np.array_equal(got.values, expected.astype(np.float32))
    assert got.source == f"relative depth from {name} ({described}, bright = far)"


def test_a_map_of_the_same_aspect_ratio_is_resized_bilinearly(tmp_path):
    half = np.zeros((12, 16), np.uint8)
    half[:, 8:] = 200  # left near, right far
    Image.fromarray(half).save(tmp_path / "half.png")
    got = read_depth_map(tmp_path / "half.png", (24, 32)).values
    assert got.shape == (24, 32)
    assert (got[:, :15] == 0).all() and (got[:, 17:] == 200).all()  # flat parts stay as they were
    assert (got[:, 15:17] == [50, 150]).all()  # bilinear: the two pixels either side of the step, 1/4 and 3/4 up
    Image.fromarray(ramp(100, 201).astype(np.uint8)).save(tmp_path / "near.png")  # 0.5% off the photo's ratio
    assert read_depth_map(tmp_path / "near.png", (100, 200)).values.shape == (100, 200)


def _nan_tiff(path):
    values = ramp().astype(np.float32)
    values[3, 4] = np.nan
    Image.fromarray(values).save(path)


@pytest.mark.parametrize("name, make, message", [
    ("missing.png", None, "missing.png: no such file"),
    ("text.png", lambda p: p.write_text("no"), "text.png: not a readable image"),
    ("colour.png", lambda p: Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), np.uint8)).save(p),
     "colour.png: a colour image; give a grayscale depth map"),
    ("square.png", lambda p: Image.fromarray(ramp(24, 24).astype(np.uint8)).save(p),
     "square.png: depth map is 24x24, the photo photo.jpg 24x32: aspect ratios differ"),
    ("off.png", lambda p: Image.fromarray(ramp(100, 203).astype(np.uint8)).save(p), "aspect ratios differ"),
    ("flat.png", lambda p: Image.fromarray(np.full((24, 32), 7, np.uint8)).save(p),
     r"flat.png: the depth map is constant \(7 everywhere\)"),
    ("nan.tif", _nan_tiff, "nan.tif: the depth map holds NaN or inf"),
    ("inf.npy", lambda p: np.save(p, np.full((24, 32), np.inf)), "inf.npy: depths in metres must be finite and > 0"),
    ("zero.npy", lambda p: np.save(p, np.zeros((24, 32))), "depths in metres must be finite and > 0"),
    ("cube.npy", lambda p: np.save(p, np.ones((2, 24, 32))), r"a 2-D array of metres, got shape \(2, 24, 32\)"),
    ("junk.npy", lambda p: p.write_bytes(b"junk"), "junk.npy: not a readable .npy array"),
])
def test_bad_depth_files_are_one_line_errors(tmp_path, name, make, message):
    if make:
        make(tmp_path / name)
    shape = (100, 200) if name == "off.png" else (24, 32)
    with pytest.raises(BgganError, match=message) as caught:
        read_depth_map(tmp_path / name, shape, photo="photo.jpg")
    assert "\n" not in str(caught.value)


def test_depth_metres_for_each_kind():
    values = ramp(4, 8).astype(np.float32) + 1
    metres = DepthMap(values, "metres", None, None, "m.npy")
    assert depth_metres(metres, 1, 2, disparity=True) is values  # metres stay metres
    depth = DepthMap(values, "depth", None, None, "relative depth from d.png")
    with pytest.raises(BgganError, match=r"relative depth from d.png: a relative depth map; give --near and --far"):
        depth_metres(depth)
    assert np.array_equal(depth_metres(depth, 1, 30), depth_from_map(values, 1, 30, False))
    assert np.array_equal(depth_metres(depth, 1, 30, disparity=True), depth_from_map(values, 1, 30, True))
    disparity = DepthMap(values, "disparity", 0.5, 8.0, "a phone's")
    assert np.array_equal(depth_metres(disparity), depth_from_map(values, 0.5, 8.0, True))  # the file's range
    assert np.array_equal(depth_metres(disparity, 2, 20, disparity=False), depth_from_map(values, 2, 20, False))
    assert depth_metres(disparity)[0, 0] == pytest.approx(8.0)  # the smallest disparity is the farthest
