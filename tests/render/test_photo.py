"""Photo I/O: modes, bit depth, orientation, ICC and EXIF, and one-line errors for bad files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import png
import pytest
from PIL import Image, ImageCms, ImageOps

from bggan.errors import BgganError
from bggan.render.photo import Photo, read_photo, write_photo

RNG = np.random.default_rng(0)
PICTURE = RNG.integers(0, 256, (24, 36, 3), dtype=np.uint8)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_rgb_png_reads_exactly(tmp_path):
    Image.fromarray(PICTURE).save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    assert photo.rgb.dtype == np.uint8 and photo.bits == 8 and photo.format == "png"
    np.testing.assert_array_equal(photo.rgb, PICTURE)
    assert photo.alpha is None and not photo.grayscale


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_reset(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(PICTURE).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))  # Pillow's own reading as reference
    photo = read_photo(tmp_path / "o.png")
    np.testing.assert_array_equal(photo.rgb, expected)
    write_photo(tmp_path / "out.png", photo)
    with Image.open(tmp_path / "out.png") as im:
        assert im.getexif().get(0x0112, 1) == 1  # an upright output must not be turned again by viewers
        assert im.size == (expected.shape[1], expected.shape[0])


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_icc_profile_and_exif_are_carried_to_the_output(tmp_path, fmt):
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    src = tmp_path / f"in.{fmt}"
    Image.fromarray(PICTURE).save(src, format=fmt.upper(), icc_profile=SRGB, exif=exif)
    photo = read_photo(src)
    assert photo.format == fmt and photo.icc_profile == SRGB
    write_photo(tmp_path / f"out.{fmt}", photo)
    with Image.open(tmp_path / f"out.{fmt}") as im:
        assert im.format == fmt.upper()
        assert im.info.get("icc_profile") == SRGB
        assert im.getexif().get(0x010F) == "Canon"


def write_png16(path, pixels: np.ndarray) -> None:
    h, w, c = pixels.shape
    with open(path, "wb") as f:
        png.Writer(w, h, greyscale=c < 3, alpha=c in (2, 4), bitdepth=16).write(f, pixels.reshape(h, -1))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_keeps_every_bit_both_ways(tmp_path, channels):
    pixels = RNG.integers(0, 65536, (10, 14, channels), dtype=np.uint16)
    write_png16(tmp_path / "in.png", pixels)
    photo = read_photo(tmp_path / "in.png")
    assert photo.bits == 16 and photo.grayscale == (channels < 3)
    np.testing.assert_array_equal(photo.rgb, pixels[..., :3] if channels > 2 else np.repeat(pixels[..., :1], 3, 2))
    if channels in (2, 4):
        np.testing.assert_array_equal(photo.alpha, pixels[..., -1])
    photo.icc_profile = SRGB
    write_photo(tmp_path / "out.png", photo)
    _, _, rows, info = png.Reader(filename=str(tmp_path / "out.png")).asDirect()  # an independent reader
    assert info["bitdepth"] == 16 and info["planes"] == channels
    np.testing.assert_array_equal(np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(pixels.shape), pixels)
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["icc_profile"] == SRGB


def test_16_bit_model_range_is_finer_than_8_bit():
    photo = Photo(np.array([[[0, 32767, 65535]]], np.uint16))
    np.testing.assert_allclose(photo.to_model_range(), [[[-1, -1.5e-5, 1]]], atol=1e-4)
    np.testing.assert_array_equal(photo.with_rgb(np.array([[[-1.2, 0.0, 1.3]]])).rgb, [[[0, 32768, 65535]]])


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_grayscale_renders_as_rgb_and_is_written_as_grayscale(tmp_path, mode):
    gray = PICTURE[..., 0].astype(np.uint16 if mode == "I;16" else np.uint8) * (257 if mode == "I;16" else 1)
    Image.fromarray(gray).save(tmp_path / "g.png")
    photo = read_photo(tmp_path / "g.png")
    assert photo.grayscale and photo.rgb.shape == (24, 36, 3) and photo.bits == (16 if mode == "I;16" else 8)
    np.testing.assert_array_equal(photo.rgb[..., 1], gray)
    write_photo(tmp_path / "out.png", photo)
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == mode
        np.testing.assert_array_equal(np.asarray(im), gray)


def test_alpha_is_carried_to_png_and_dropped_for_jpeg(tmp_path):
    alpha = RNG.integers(0, 256, PICTURE.shape[:2], dtype=np.uint8)
    Image.fromarray(np.dstack([PICTURE, alpha])).save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    np.testing.assert_array_equal(photo.rgb, PICTURE)
    write_photo(tmp_path / "out.png", photo)
    write_photo(tmp_path / "out.jpg", photo, "jpeg")
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[..., 3], alpha)
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.mode == "RGB"


def test_palette_with_transparency_becomes_rgba(tmp_path):
    im = Image.fromarray(PICTURE).quantize(16)
    im.info["transparency"] = 0
    im.save(tmp_path / "p.png", transparency=0)
    photo = read_photo(tmp_path / "p.png")
    assert photo.alpha is not None and photo.rgb.shape == PICTURE.shape
    assert set(np.unique(photo.alpha)) <= {0, 255} and (photo.alpha == 0).any()


def test_cmyk_without_profile_is_converted_explicitly(tmp_path):
    Image.fromarray(PICTURE).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    with Image.open(tmp_path / "c.jpg") as im:
        expected = np.asarray(im.convert("RGB"))
    photo = read_photo(tmp_path / "c.jpg")
    assert "CMYK" in photo.note
    np.testing.assert_array_equal(photo.rgb, expected)


def png_bomb(path, side: int) -> None:
    """A valid PNG header declaring ``side x side`` pixels, with almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))


def truncated(path, suffix):
    Image.fromarray(PICTURE).save(path.with_suffix(".full" + suffix))
    data = path.with_suffix(".full" + suffix).read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD = {
    "missing": (lambda p: None, "no such file"),
    "zero bytes": (lambda p: p.write_bytes(b""), "empty file"),
    "text named .jpg": (lambda p: p.write_text("not a photo\n"), "not a readable image"),
    "truncated jpeg": (lambda p: truncated(p, ".jpg"), "not a readable image"),
    "truncated png": (lambda p: truncated(p, ".png"), "not a readable image"),
    "decompression bomb": (lambda p: png_bomb(p, 20000), "decompression bomb"),
    "1x1": (lambda p: Image.new("RGB", (1, 1)).save(p, format="PNG"), "at least 8 px"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_are_one_line_errors(tmp_path, case):
    make, message = BAD[case]
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(BgganError, match=message) as info:
        read_photo(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_the_bomb_limit_is_pillows_own():
    import bggan.cli.render  # noqa: F401  (nothing on the render path raises or removes the limit)

    assert Image.MAX_IMAGE_PIXELS == 1024 * 1024 * 1024 // 4 // 3


def test_writing_never_replaces_without_overwrite(tmp_path):
    Image.fromarray(PICTURE).save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    (tmp_path / "out.png").write_bytes(b"keep me")
    with pytest.raises(BgganError, match="exists"):
        write_photo(tmp_path / "out.png", photo)
    assert (tmp_path / "out.png").read_bytes() == b"keep me"
    write_photo(tmp_path / "out.png", photo, overwrite=True)
    assert read_photo(tmp_path / "out.png").rgb.shape == PICTURE.shape
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
