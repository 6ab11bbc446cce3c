"""Photos in and out of the renderer: every pixel mode made explicit, EXIF orientation applied, the ICC profile kept.

A :class:`Photo` holds ``rgb`` ``(H, W, 3)`` as uint8 or uint16 (16-bit PNGs keep their depth), an optional
``alpha`` ``(H, W)`` of the same type, and the metadata to carry to the output. How each mode is read:

- RGB: as is. RGBA / LA / palette with transparency: colour rendered, alpha carried unchanged to outputs that
  have alpha (PNG, WebP), dropped for JPEG.
- grayscale (8- or 16-bit): rendered as RGB with three equal channels, written back as grayscale (luma).
- CMYK: converted to sRGB through its ICC profile when it has one (the output then carries an sRGB profile),
  else by Pillow's plain formula.
- 16-bit PNG: read with pypng where Pillow would reduce it to 8 bits (colour, gray + alpha), written back as
  16-bit PNG.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageCms

from bggan.errors import BgganError
from bggan.files import atomic_output
from bggan.images import HEIF_SUFFIXES, JPEG_QUALITY, UNREADABLE, heif_support, upright

#: Folder inputs: files with these suffixes (any case) are rendered; others are left alone.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", *HEIF_SUFFIXES)
#: Output formats by the name ``--format`` takes, and their suffix.
FORMATS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}
#: The output suffix of ``--format same`` for an input suffix that is not an output format (HEIF: written as JPEG).
SAME_SUFFIX = {suffix: ".jpg" for suffix in HEIF_SUFFIXES}
#: Glass-Net needs sides of at least this many pixels (reflect padding to a multiple of 8).
MIN_SIDE = 8
_ORIENTATION = 0x0112


@dataclass
class Photo:
    """A decoded photo, upright. ``rgb`` ``(H, W, 3)`` uint8 or uint16; ``alpha`` ``(H, W)`` same dtype or None."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    grayscale: bool = False
    format: str = "png"            # a key of FORMATS: the input's, used for the output unless told otherwise
    icc_profile: bytes | None = None
    exif: bytes | None = None      # orientation already applied and reset to 1
    note: str = ""                 # how an unusual mode was converted, for the log

    @property
    def bits(self) -> int:
        return 16 if self.rgb.dtype == np.uint16 else 8

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    def to_model_range(self) -> np.ndarray:
        """``(H, W, 3)`` float32 in [-1, 1]: ``v / 127.5 - 1`` for 8 bits, ``v / 32767.5 - 1`` for 16."""
        return model_range(self.rgb)

    def with_rgb(self, model_output: np.ndarray) -> Photo:
        """A copy holding ``model_output`` (``(H, W, 3)`` float in [-1, 1]) at this photo's bit depth, rounded.

        One float temporary the size of the output (a 24 MP photo's is 288 MB), the steps done in place in it."""
        top = 65535 if self.bits == 16 else 255
        scaled = np.add(model_output, 1, dtype=np.float32)
        scaled *= np.float32(top / 2)
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, top, out=scaled)
        return replace(self, rgb=scaled.astype(self.rgb.dtype))


def model_range(rgb: np.ndarray) -> np.ndarray:
    """uint8 or uint16 pixels ``(..., 3)`` -> float32 in [-1, 1] (:meth:`Photo.to_model_range`), same shape."""
    scale = 32767.5 if rgb.dtype == np.uint16 else 127.5
    return rgb.astype(np.float32) / np.float32(scale) - 1


def _sniff_png16(path: Path) -> bool:
    """A PNG with 16 bits per sample and not only gray (gray+alpha, RGB, RGBA), which Pillow would cut to 8 bits."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)


def _read_png16(path: Path) -> np.ndarray:
    """``(H, W, C)`` uint16 from a 16-bit PNG: C = 2 (gray, alpha), 3 (RGB) or 4 (RGBA)."""
    try:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        planes = info["planes"]
        return np.vstack([np.asarray(row, np.uint16) for row in rows]).reshape(height, width, planes)
    except (png.Error, zlib.error, ValueError, EOFError) as e:
        raise BgganError(f"{path}: not a readable image ({e})") from None


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _decode(im: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None, bool, bytes | None, str]:
    """Pixels of an opened image: ``(rgb, alpha, grayscale, icc_profile, note)``; raises for modes it cannot read."""
    icc = im.info.get("icc_profile") or None
    mode = im.mode
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
        mode = im.mode
    if mode == "CMYK":
        if icc:
            try:
                rgb = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                                ImageCms.createProfile("sRGB"), outputMode="RGB")
                return np.asarray(rgb), None, False, _srgb_profile(), "CMYK converted to sRGB through its ICC profile"
            except (ImageCms.PyCMSError, OSError):
                pass
        return np.asarray(im.convert("RGB")), None, False, None, "CMYK converted to RGB without a profile"
    if mode in ("RGB", "YCbCr"):
        return np.asarray(im.convert("RGB")), None, False, icc, ""
    if mode == "RGBA":
        a = np.asarray(im)
        return a[..., :3], a[..., 3], False, icc, ""
    if mode in ("1", "L", "LA"):
        a = np.asarray(im.convert("LA"))
        gray = np.repeat(a[..., :1], 3, axis=2)
        return gray, a[..., 1] if mode == "LA" else None, True, icc, ""
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.int64)
        if a.min() < 0 or a.max() > 65535:
            raise BgganError(f"{path}: 32-bit integer pixels are not supported")
        return np.repeat(a.astype(np.uint16)[..., None], 3, axis=2), None, True, icc, ""
    raise BgganError(f"{path}: pixel mode {mode!r} is not supported (RGB, RGBA, grayscale, palette, CMYK)")


def read_photo(path: str | os.PathLike) -> Photo:
    """Decode ``path`` upright, with its ICC profile and EXIF; every failure is a one-line BgganError.

    Raises:
        BgganError: missing, empty, truncated or not an image, over Pillow's decompression-bomb limit
            (``Image.MAX_IMAGE_PIXELS``, kept as Pillow sets it), an unsupported mode, or a side under 8 px.
    """
    path = Path(path)
    if not path.is_file():
        raise BgganError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BgganError(f"{path}: empty file")
    heif_support(path)
    try:
        with Image.open(path) as im:
            fmt = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "HEIF": "jpeg"}.get(im.format, "png")
            exif = im.getexif()
            orientation = exif.get(_ORIENTATION, 1)
            if _sniff_png16(path):  # metadata from Pillow, pixels from pypng
                icc = im.info.get("icc_profile") or None
                a = _read_png16(path)
                gray = a.shape[2] == 2
                rgb = np.repeat(a[..., :1], 3, axis=2) if gray else a[..., :3]
                alpha, note = (a[..., -1] if a.shape[2] in (2, 4) else None), ""
            else:
                im.load()
                rgb, alpha, gray, icc, note = _decode(im, path)
    except Image.DecompressionBombError as e:
        raise BgganError(f"{path}: refused, {e}") from None
    except UNREADABLE as e:
        raise BgganError(f"{path}: not a readable image ({e})") from None
    rgb = upright(rgb, orientation)
    alpha = None if alpha is None else upright(alpha, orientation)
    if orientation != 1:
        exif[_ORIENTATION] = 1
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise BgganError(f"{path}: {h}x{w} is too small; both sides must be at least {MIN_SIDE} px")
    return Photo(np.ascontiguousarray(rgb), alpha, gray, fmt, icc, exif.tobytes() if len(exif) else None, note)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png16_bytes(pixels: np.ndarray, icc: bytes | None, exif: bytes | None) -> bytes:
    """A 16-bit PNG of ``(H, W, C)`` uint16, C in 1-4, with its iCCP and eXIf chunks."""
    h, w, c = pixels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(pixels.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)  # filter type 0 on every row
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))]
    if icc:
        chunks.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    chunks += [_png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of ``(H, W, 3)``, same dtype (what Pillow's ``convert("L")`` computes)."""
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.rint(y), 0, np.iinfo(rgb.dtype).max).astype(rgb.dtype)


def output_pixels(photo: Photo, fmt: str) -> np.ndarray:
    """What ``fmt`` stores of ``photo``: ``(H, W, C)`` with C = 1-4 (gray/colour, alpha where the format has it);
    uint16 only for 16-bit PNG, else uint8 (16-bit values rounded to 8)."""
    rgb, alpha = photo.rgb, photo.alpha if fmt in ("png", "webp") else None
    if photo.bits == 16 and fmt != "png":
        rgb = np.rint(rgb / 257.0).astype(np.uint8)
        alpha = None if alpha is None else np.rint(alpha / 257.0).astype(np.uint8)
    planes = [_luma(rgb)[..., None] if photo.grayscale else rgb]
    if alpha is not None:
        planes.append(alpha[..., None])
    return np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]


def write_photo(path: str | os.PathLike, photo: Photo, fmt: str | None = None, overwrite: bool = False,
                quality: int = JPEG_QUALITY) -> Path:
    """Write ``photo`` atomically as ``fmt`` (default: its own format), with its ICC profile and EXIF.

    JPEG and WebP get ``quality``; 16-bit photos stay 16-bit only as PNG.
    """
    fmt = fmt or photo.format
    pixels = output_pixels(photo, fmt)
    with atomic_output(path, overwrite) as tmp:
        if pixels.dtype == np.uint16:
            tmp.write_bytes(_png16_bytes(pixels, photo.icc_profile, photo.exif))
            return Path(path)
        im = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)  # L, LA, RGB or RGBA
        if fmt == "webp" and im.mode in ("L", "LA"):
            im = im.convert("RGBA" if im.mode == "LA" else "RGB")
        options: dict = {"format": fmt.upper()}
        if photo.icc_profile:
            options["icc_profile"] = photo.icc_profile
        if photo.exif:
            options["exif"] = photo.exif
        if fmt in ("jpeg", "webp"):
            options["quality"] = quality
        im.save(tmp, **options)
    return Path(path)
