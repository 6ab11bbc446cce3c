"""One photo through a backend: exact whole-image default, tiles, fixed-size models, the released resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bggan.render import renderer
from bggan.render.photo import Photo
from bggan.render.renderer import RenderOptions, render_photo, tile_count, tiling_for

RNG = np.random.default_rng(0)


def torch_backend(model):
    def run(image):
        with torch.no_grad():
            return model(torch.from_numpy(image).permute(2, 0, 1)[None])[0][0].permute(1, 2, 0).numpy()
    return run


def identity(image):
    return image.copy()


def test_whole_photo_is_the_model_output_exactly(tiny_glassnet):
    photo = Photo(RNG.integers(0, 256, (37, 61, 3), dtype=np.uint8))  # not a multiple of 8: padded and cropped
    out = render_photo(photo, torch_backend(tiny_glassnet), RenderOptions())
    with torch.no_grad():
        x = torch.from_numpy(photo.rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
        expected = ((tiny_glassnet(x)[0][0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    np.testing.assert_array_equal(out.rgb, expected)


def test_a_photo_larger_than_a_tile_is_tiled_and_keeps_its_size(tiny_glassnet):
    photo = Photo(RNG.integers(0, 256, (70, 130, 3), dtype=np.uint8))
    options = RenderOptions(tile=(32, 48), overlap=8)
    assert tile_count(photo.size, options, None) > 1
    ticks = []
    out = render_photo(photo, torch_backend(tiny_glassnet), options, on_tile=lambda: ticks.append(1))
    assert out.rgb.shape == photo.rgb.shape and len(ticks) == tile_count(photo.size, options, None)
    tiling = tiling_for(photo.size, options, None)
    y1, x1 = tiling.ys[1], tiling.xs[1]  # the corner only the first tile covers
    th, tw = tiling.tile
    first = torch_backend(tiny_glassnet)(photo.to_model_range()[:th, :tw])
    np.testing.assert_array_equal(out.rgb[:y1, :x1], photo.with_rgb(first).rgb[:y1, :x1])
    whole = render_photo(photo, torch_backend(tiny_glassnet), RenderOptions(tile=None))
    assert not np.array_equal(out.rgb, whole.rgb)  # normalization is per tile: not a crop of the whole result


def test_portrait_photos_get_portrait_tiles():
    assert tiling_for((1536, 1024), RenderOptions(), None) is None  # fits a turned 1024x1536 tile: whole
    assert tiling_for((1024, 1536), RenderOptions(), None) is None
    assert tiling_for((4000, 3000), RenderOptions(), None).tile == (1536, 1024)


@pytest.mark.parametrize("size", [(20, 30), (64, 96), (150, 100), (200, 333)])
def test_a_fixed_size_model_sees_only_its_size_and_the_photo_comes_back(size):
    photo = Photo(RNG.integers(0, 256, (*size, 3), dtype=np.uint8))
    seen = set()

    def fixed(image):
        seen.add(image.shape)
        return image.copy()

    out = render_photo(photo, fixed, RenderOptions(), fixed_size=(64, 96))
    assert seen == {(64, 96, 3)}
    np.testing.assert_array_equal(out.rgb, photo.rgb)


def test_resize_like_released_resizes_only_when_needed_and_comes_back():
    yy, xx = np.mgrid[0:40, 0:61]
    smooth = np.stack([100 + 80 * np.sin(xx / 9), 60 + 2 * yy, 120 + 60 * np.cos(yy / 7)], -1)
    photo = Photo(smooth.round().astype(np.uint8))
    seen = []
    out = render_photo(photo, lambda x: seen.append(x.shape) or x.copy(), RenderOptions(resize_like_released=True))
    assert seen == [(40, 64, 3)] and out.rgb.shape == photo.rgb.shape
    assert np.abs(out.rgb.astype(int) - photo.rgb).max() <= 2  # bicubic up and back: close to the input
    seen.clear()
    exact = Photo(photo.rgb[:, :56].copy())
    np.testing.assert_array_equal(render_photo(exact, lambda x: seen.append(x.shape) or x.copy(),
                                               RenderOptions(resize_like_released=True)).rgb, exact.rgb)
    assert seen == [(40, 56, 3)]


@pytest.mark.export
def test_resize_like_released_reproduces_the_authors_script(tf, tiny_glassnet):
    """tf.image.resize to a width multiple of 8, the model, tf.image.resize back: as the released main.py did."""
    photo = Photo(RNG.integers(0, 256, (48, 77, 3), dtype=np.uint8))
    run = torch_backend(tiny_glassnet)
    x = tf.image.resize(photo.rgb.astype(np.float32), [48, 80], method="bicubic").numpy() / 127.5 - 1
    y = tf.image.resize((run(x.astype(np.float32)) + 1) * 127.5, [48, 77], method="bicubic").numpy()
    expected = np.clip(np.rint(y), 0, 255)  # the script truncated with tf.cast; the port rounds (documented)
    out = render_photo(photo, run, RenderOptions(resize_like_released=True))
    assert np.abs(out.rgb.astype(int) - expected).max() <= 1


def test_only_a_photo_rendered_whole_runs_with_freed_memory_kept(monkeypatch):
    import contextlib

    from bggan.render import renderer

    entered = []

    @contextlib.contextmanager
    def recorder():
        entered.append(True)
        yield True

    monkeypatch.setattr(renderer, "freed_memory_kept", recorder)
    photo = Photo(RNG.integers(0, 256, (40, 64, 3), dtype=np.uint8))
    render_photo(photo, identity, RenderOptions(tile=None))
    assert entered == [True]
    render_photo(photo, identity, RenderOptions(tile=(16, 24), overlap=4))  # tiled: the accumulators stay mapped
    assert entered == [True]


@pytest.mark.parametrize(("resize", "blended"), [(False, np.uint8), (True, np.float32)])
def test_a_tiled_photo_stays_integer_until_each_tile(monkeypatch, resize, blended):
    # a 24 MP photo's float32 copy is 288 MB: only the released resize (float by nature) makes one
    seen, real = [], renderer.blend
    monkeypatch.setattr(renderer, "blend", lambda image, *args: seen.append(image.dtype) or real(image, *args))
    photo = Photo(RNG.integers(0, 256, (70, 130, 3), dtype=np.uint8))
    tiles = []
    out = render_photo(photo, lambda tile: tiles.append(tile.dtype) or identity(tile),
                       RenderOptions(tile=(32, 48), overlap=8, resize_like_released=resize))
    assert seen == [blended] and set(tiles) == {np.dtype(np.float32)} and len(tiles) > 1
    if not resize:
        np.testing.assert_array_equal(out.rgb, photo.rgb)  # the identity model: every pixel back exactly
