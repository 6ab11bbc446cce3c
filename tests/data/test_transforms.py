import numpy as np
import pytest
import torch

from bggan.data.transforms import PairCrops, pad_to, paired_crop
from bggan.images import to_model_range


def _pair(h=40, w=60):
    """A source whose pixels hold their own (y, x), and a target that is a known function of it."""
    yy, xx = np.mgrid[0:h, 0:w]
    source = np.stack([yy, xx, (yy + xx) % 7], -1).astype(np.uint8)
    return source, 255 - source


def test_crop_and_flip_are_the_same_on_both_images():
    source, target = _pair()
    torch.manual_seed(0)
    origins, flips = set(), 0
    for _ in range(60):
        a, b = paired_crop(source, target, (16, 24), random=True, flip=True)
        assert a.shape == (16, 24, 3) and np.array_equal(b, 255 - a)
        flipped = a[0, 0, 1] > a[0, -1, 1]
        flips += flipped
        y, x = int(a[0, 0, 0]), int(a[0, -1 if flipped else 0, 1])
        window = source[y:y + 16, x:x + 24]
        assert np.array_equal(a, window[:, ::-1] if flipped else window)
        origins.add((y, x))
    assert len(origins) > 40 and 15 < flips < 45  # positions vary; about half are flipped


def test_centre_crop_is_fixed_and_whole_image_passes_through():
    source, target = _pair()
    a, b = paired_crop(source, target, (20, 30), random=False, flip=False)
    assert np.array_equal(a, source[10:30, 15:45]) and np.array_equal(b, target[10:30, 15:45])
    a, _ = paired_crop(source, target, None, random=False, flip=False)
    assert a is source


def test_small_images_are_reflect_padded_to_the_crop():
    source, target = _pair(10, 12)
    assert pad_to(source, 16, 30).shape == (16, 30, 3)  # pads wider than the image itself
    padded = pad_to(source, 14, 12)
    assert np.array_equal(padded[:10], source) and np.array_equal(padded[10], source[8])  # reflect
    a, b = paired_crop(source, target, (16, 16), random=True, flip=False)
    assert a.shape == (16, 16, 3) and np.array_equal(b, 255 - a)


def test_mismatched_pair_is_refused():
    with pytest.raises(ValueError, match="differ in size"):
        paired_crop(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), None, False, False)


def test_pair_crops_yield_uint8_chw_and_model_range_maps_to_minus1_1():
    source, target = _pair()
    crops = PairCrops([{"name": "x", "input": source, "target": target}], (16, 24), random=False)
    item = crops[0]
    assert item["name"] == "x" and item["input"].shape == (3, 16, 24) and item["input"].dtype == torch.uint8
    assert torch.equal(item["input"].permute(1, 2, 0), torch.from_numpy(source[12:28, 18:42]))
    x = to_model_range(torch.tensor([0, 255, 128], dtype=torch.uint8))
    assert torch.allclose(x, torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)


def test_maps_are_cropped_and_flipped_with_their_images():
    source, target = _pair()
    coc = source[..., 1].astype(np.float32) * 0.5  # a map that remembers each pixel's column
    torch.manual_seed(1)
    for _ in range(20):
        a, _, c = paired_crop(source, target, (16, 24), True, True, coc)
        assert c.shape == (16, 24) and np.array_equal(c, a[..., 1].astype(np.float32) * 0.5)
    with pytest.raises(ValueError, match="differ in size"):
        paired_crop(source, target, None, False, False, coc[:, :10])
    item = PairCrops([{"name": "x", "input": source, "target": target, "coc": coc}], (16, 24), random=False)[0]
    assert item["coc"].shape == (1, 16, 24) and item["coc"].dtype == torch.float32
    assert torch.equal(item["coc"][0], torch.from_numpy(coc[12:28, 18:42]))
    assert "coc" not in PairCrops([{"name": "x", "input": source, "target": target}], None, random=False)[0]
