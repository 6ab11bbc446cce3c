import numpy as np
import pytest
from PIL import Image

from bggan.data.textures import SKIMAGE_PHOTOS, SKIMAGE_SURFACES, Textures, crop_resized, linear, load_texture
from bggan.errors import BgganError


def test_the_default_set_is_scikit_image_s_photos_and_surfaces():
    textures = Textures()
    assert [p.name for p in textures.photos] == list(SKIMAGE_PHOTOS)
    assert [p.name for p in textures.surfaces] == list(SKIMAGE_SURFACES)
    rng = np.random.default_rng(0)
    photo, surface = textures.photo(rng), textures.surface(rng)
    assert photo.dtype == surface.dtype == np.uint8 and photo.ndim == surface.ndim == 3
    assert surface.std() > 5  # real texture, not a flat colour
    assert not np.array_equal(surface[..., 0], surface[..., 2])  # tinted, no longer grey


def test_a_folder_of_photos_replaces_them_and_bad_folders_are_one_line(tmp_path):
    for name, size in (("b.png", (40, 30)), ("a.jpg", (2000, 1000)), ("notes.txt", None)):
        if size is None:
            (tmp_path / name).write_text("not an image")
        else:
            Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(tmp_path / name)
    textures = Textures(tmp_path)
    assert [p.name for p in textures.photos] == ["a.jpg", "b.png"] and textures.surfaces == textures.photos
    assert max(load_texture(str(tmp_path / "a.jpg")).shape[:2]) == 1024  # downscaled once, on load
    with pytest.raises(BgganError, match="no such folder"):
        Textures(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BgganError, match="no .jpg"):
        Textures(tmp_path / "empty")


def test_crops_are_resized_to_their_place_in_linear_light():
    image = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (64, 1, 3))
    out = crop_resized(np.random.default_rng(0), image, 10, 20)
    assert out.shape == (10, 20, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert linear(np.array([[[255, 0, 188]]], np.uint8)).ravel().tolist() == pytest.approx([1.0, 0.0, 0.5], abs=3e-3)
