"""Depth maps that phones keep inside their photos: Android's Dynamic Depth and GDepth JPEGs, HEIC depth images.

- **Dynamic Depth 1.0** (Pixel portrait photos; the spec: developer.android.com/static/media/camera/camera2/
  Dynamic-depth-v1.0.pdf, and AOSP's reference reader, platform/external/dynamic_depth). The XMP's ``Device``
  holds a ``Container`` whose ``Directory`` lists the file's items in order: the primary JPEG first (no
  ``Item:Length``; its ``Item:Padding`` bytes follow it), then each further item, ``Item:Length`` bytes (its own
  ``Item:Padding`` included, as AOSP reads it) with its ``Item:Mime`` and ``Item:DataURI``, concatenated after
  the primary JPEG. A ``Camera``'s ``DepthMap`` names its item (``DepthMap:DepthURI``), its ``Format``,
  ``Near``, ``Far`` and ``Units`` (``Meters``, ``Diopters`` or ``None``).
- **GDepth** (the older Google Camera format; developers.google.com/depthmap-metadata/reference):
  ``GDepth:Format``, ``Near``, ``Far``, ``Units`` (``m`` by default, or ``mm``), ``Mime`` and the image itself,
  base64, in ``GDepth:Data``: in the main XMP when it is small, else in the extended XMP (JPEG APP1 chunks of
  one GUID, the one ``xmpNote:HasExtendedXMP`` names, each with the full length and its offset).
- **HEIC** (iPhone portrait photos): an auxiliary depth image (``urn:mpeg:hevc:2015:auxid:2``) read through
  pillow-heif, with HEVC's depth representation info (its type and ``d_min``/``d_max`` or ``z_near``/``z_far``).

Both Google formats store each depth d as a value v in [0, 1] (the pixel over its largest value)
(developers.google.com/depthmap-metadata/encoding, the same in Dynamic Depth 1.0's DepthMap element):

- ``RangeLinear``: v = (d - near) / (far - near), so d = near + v (far - near);
- ``RangeInverse``: v = far (d - near) / (d (far - near)), so d = far near / (far - (far - near) v).

A phone stores the depth in the pixel orientation of the photo it came with: the photo's own orientation
(EXIF, or HEIF's ``irot``/``imir``) turns it upright, as :func:`bggan.images.read_rgb` turns the photo.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from bggan.data.depth_map import DepthMap
from bggan.errors import BgganError
from bggan.images import UNREADABLE, upright

#: What a file with no phone depth inside is told (after its path).
NO_DEPTH = "no depth map inside (neither Dynamic Depth, GDepth nor a HEIC depth image); give --depth FILE"

XMP_MAIN = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
DD = "http://ns.google.com/photos/dd/1.0/"
DEPTHMAP_NS = (DD + "depthmap/",)
#: Dynamic Depth's own Item namespace, and GContainer's (Ultra HDR, motion photos), which phones also use.
ITEM_NS = (DD + "item/", "http://ns.google.com/photos/1.0/container/item/")
GDEPTH_NS = ("http://ns.google.com/photos/1.0/depthmap/",)
XMP_NOTE_NS = ("http://ns.adobe.com/xmp/note/",)

#: HEIF transforms as pillow-heif lists them: irot turns anticlockwise; imir 0 flips top-bottom, 1 left-right
#: (what libheif does to the primary image; tests/data/test_phone_depth.py checks it against libheif).
HEIF_TRANSPOSE = {("irot", 90): Image.Transpose.ROTATE_90, ("irot", 180): Image.Transpose.ROTATE_180,
                  ("irot", 270): Image.Transpose.ROTATE_270, ("imir", 0): Image.Transpose.FLIP_TOP_BOTTOM,
                  ("imir", 1): Image.Transpose.FLIP_LEFT_RIGHT}
#: What a malformed file makes the parsers raise (ET.ParseError is a SyntaxError, binascii.Error a ValueError).
MALFORMED = (*UNREADABLE, struct.error, IndexError, KeyError, binascii.Error)


def is_jpeg(path: Path) -> bool:
    """Whether the file starts as a JPEG does."""
    with open(path, "rb") as f:
        return f.read(2) == b"\xff\xd8"


def read_embedded_depth(path: Path) -> DepthMap | None:
    """The depth map inside a phone photo, at its own resolution, turned upright as the photo is.

    Returns:
        ``None`` for a file that is neither a JPEG nor a HEIF file, and for a JPEG with no depth inside.

    Raises:
        BgganError: a HEIF file with no depth image, or any malformed depth (one line naming the file).
    """
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":  # ISO base media: HEIC / HEIF
        return _read_heif(path)
    if head[:2] != b"\xff\xd8":
        return None
    try:
        return _read_jpeg(path.read_bytes(), path)
    except MALFORMED as e:
        raise BgganError(f"{path}: a malformed JPEG ({type(e).__name__}: {e})") from None


def jpeg_layout(data: bytes, whole: bool = True) -> tuple[list[tuple[int, bytes]], int | None]:
    """The marker segments of a JPEG (marker, payload) and the byte just after its end (EOI).

    Walks every scan (a progressive JPEG has several), so what follows the primary image is found exactly;
    ``whole=False`` stops at the first scan (the segments before it, and ``None``).
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    segments, i = [], 2
    while True:
        if data[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0xD9:
            return segments, i + 2
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
        else:
            (length,) = struct.unpack(">H", data[i + 2:i + 4])
            segments.append((marker, data[i + 4:i + 2 + length]))
            i += 2 + length
            if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker that is not FF00/RST
                if not whole:
                    return segments, None
                i = _scan_end(data, i)


def _scan_end(data: bytes, i: int) -> int:
    while True:
        i = data.index(b"\xff", i)
        if data[i + 1] == 0x00 or 0xD0 <= data[i + 1] <= 0xD7:
            i += 2
        else:
            return i


def _read_jpeg(data: bytes, path: Path) -> DepthMap | None:
    segments, _ = jpeg_layout(data, whole=False)  # the XMP is before the image: a plain photo is not walked
    main, extended = None, {}
    for marker, payload in segments:
        if marker != 0xE1:
            continue
        if payload.startswith(XMP_MAIN) and main is None:
            main = payload[len(XMP_MAIN):]
        elif payload.startswith(XMP_EXTENSION):
            # 32-character GUID, the full length, this chunk's offset (big-endian), then the chunk
            rest = payload[len(XMP_EXTENSION):]
            full, offset = struct.unpack(">II", rest[32:40])
            extended.setdefault(rest[:32].decode("ascii"), []).append((full, offset, rest[40:]))
    if main is None:
        return None
    root = ET.fromstring(main)
    found = _dynamic_depth(root, data, path.name) or _gdepth(root, extended, path.name)
    if found is None:
        return None
    blob, label, fmt, near, far, metres_per_unit = found
    return _google_depth(blob, label, fmt, near, far, metres_per_unit, _exif_orientation(path), path.name)


def _prop(elem: ET.Element, namespaces: tuple[str, ...], name: str) -> str | None:
    """An RDF property written as an attribute or as a child element with text."""
    for uri in namespaces:
        value = elem.get(f"{{{uri}}}{name}")
        if value is None:
            child = elem.find(f"{{{uri}}}{name}")
            value = None if child is None else child.text
        if value is not None:
            return value.strip()
    return None


def _anywhere(root: ET.Element, namespaces: tuple[str, ...], name: str) -> str | None:
    return next((v for e in root.iter() if (v := _prop(e, namespaces, name)) is not None), None)


def _number(text: str | None, what: str, name: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise BgganError(f"{name}: {what} is {text!r}, not a number") from None


def _dynamic_depth(root, data: bytes, name: str) -> tuple | None:
    maps = [e for e in root.iter() if _prop(e, DEPTHMAP_NS, "Format") is not None
            and (_prop(e, DEPTHMAP_NS, "ItemSemantic") or "Depth").lower() != "segmentation"]
    if not maps:
        return None
    dm = maps[0]
    uri = _prop(dm, DEPTHMAP_NS, "DepthURI") or _prop(dm, DEPTHMAP_NS, "DataURI")
    if not uri:
        raise BgganError(f"{name}: a Dynamic Depth DepthMap without DepthMap:DepthURI")
    blob = _container_item(root, uri, data, jpeg_layout(data)[1], name)
    units = _prop(dm, DEPTHMAP_NS, "Units") or "None"
    if units.lower() == "diopters":
        raise BgganError(f"{name}: a Dynamic Depth map in Diopters; only Meters or None (relative) are read")
    scale = {"meters": 1.0}.get(units.lower())  # None: a relative map
    return (blob, f"Dynamic Depth in {name}", _prop(dm, DEPTHMAP_NS, "Format"),
            _number(_prop(dm, DEPTHMAP_NS, "Near"), "DepthMap:Near", name),
            _number(_prop(dm, DEPTHMAP_NS, "Far"), "DepthMap:Far", name), scale)


def _container_item(root, uri: str, data: bytes, primary_end: int, name: str) -> bytes:
    """The bytes of the Container item ``uri``, after checking that the items fill the file after the primary."""
    items = [e for e in root.iter() if _prop(e, ITEM_NS, "Mime") is not None]
    if not items:
        raise BgganError(f"{name}: Dynamic Depth without a Container directory of items")

    def count(item, field, default=None):
        text = _prop(item, ITEM_NS, field)
        if text is None and default is not None:
            return default
        if text is None or not text.isdigit():
            raise BgganError(f"{name}: a Container item's Item:{field} is {text!r}, not a byte count")
        return int(text)

    primary, rest = items[0], items[1:]
    lengths = [count(item, "Length") for item in rest]
    held, after = count(primary, "Padding", 0) + sum(lengths), len(data) - primary_end
    if held != after or count(primary, "Length", 0) not in (0, primary_end):
        raise BgganError(f"{name}: Dynamic Depth Container lengths do not add up: the items after the primary "
                         f"image ({primary_end} bytes) hold {held} bytes, the file has {after} there")
    offset = primary_end + count(primary, "Padding", 0)
    for item, length in zip(rest, lengths, strict=True):
        if _prop(item, ITEM_NS, "DataURI") == uri:
            return data[offset:offset + length - count(item, "Padding", 0)]
        offset += length
    raise BgganError(f"{name}: the Dynamic Depth Container has no item {uri!r} (the DepthMap's DepthURI)")


def _gdepth(root, extended: dict, name: str) -> tuple | None:
    fmt = _anywhere(root, GDEPTH_NS, "Format")
    if fmt is None:
        return None
    encoded = _anywhere(root, GDEPTH_NS, "Data")
    if encoded is None:
        guid = _anywhere(root, XMP_NOTE_NS, "HasExtendedXMP")
        if guid is None:
            raise BgganError(f"{name}: GDepth without GDepth:Data (and no extended XMP)")
        encoded = _anywhere(ET.fromstring(_extended_xmp(extended, guid, name)), GDEPTH_NS, "Data")
        if encoded is None:
            raise BgganError(f"{name}: GDepth without GDepth:Data in its extended XMP {guid}")
    blob = base64.b64decode("".join(encoded.split()), validate=True)
    scale = {"m": 1.0, "mm": 0.001}.get((_anywhere(root, GDEPTH_NS, "Units") or "m").lower())
    return (blob, f"GDepth in {name}", fmt, _number(_anywhere(root, GDEPTH_NS, "Near"), "GDepth:Near", name),
            _number(_anywhere(root, GDEPTH_NS, "Far"), "GDepth:Far", name), scale)


def _extended_xmp(extended: dict, guid: str, name: str) -> bytes:
    """The extended XMP packet ``guid``, its chunks joined by offset (they may come in any order)."""
    chunks = sorted(extended.get(guid, []), key=lambda c: c[1])
    if not chunks:
        raise BgganError(f"{name}: the extended XMP {guid} (xmpNote:HasExtendedXMP) is not in the file")
    full, packet = chunks[0][0], bytearray()
    for total, offset, chunk in chunks:
        if total != full or offset != len(packet):
            break
        packet += chunk
    if len(packet) != full:
        raise BgganError(f"{name}: the extended XMP {guid} is incomplete: no chunk at byte {len(packet)} of {full}")
    return bytes(packet)


def _open_image(blob: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(blob))
    im.load()
    return im


def _normalised(im: Image.Image, name: str) -> tuple[np.ndarray, int]:
    """A grayscale depth image as float32 values in [0, 1] (the pixel over its largest value), and its bits."""
    if im.mode in ("RGB", "RGBA"):
        rgb = np.asarray(im.convert("RGB"))
        if (rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 0] != rgb[..., 2]).any():
            raise BgganError(f"{name}: its depth image is in colour; expected grayscale")
        im = im.convert("L")
    if im.mode == "L":
        return np.asarray(im, np.float32) / 255, 8
    if im.mode == "I" or im.mode.startswith("I;16"):
        return np.asarray(im.convert("I"), np.float32) / 65535, 16
    raise BgganError(f"{name}: its depth image is mode {im.mode}; expected 8 or 16-bit grayscale")


def decode_range(v: np.ndarray, fmt: str, near: float, far: float) -> np.ndarray:
    """Google's depth encodings (module docstring): values v in [0, 1] -> depth, in the units of near and far."""
    v = v.astype(np.float64)
    if fmt.lower() == "rangelinear":
        return near + v * (far - near)
    return far * near / (far - (far - near) * v)


def _google_depth(blob: bytes, label: str, fmt: str, near: float, far: float, scale: float | None,
                  orientation: int, name: str) -> DepthMap:
    if fmt.lower() not in ("rangeinverse", "rangelinear"):
        raise BgganError(f"{name}: depth Format {fmt!r}; expected RangeInverse or RangeLinear")
    if not 0 < near < far:
        raise BgganError(f"{name}: depth Near {near:g} and Far {far:g}; expected 0 < Near < Far")
    im = _open_image(blob)
    what = f"{im.format or 'image'} {im.height}x{im.width}"
    v, bits = _normalised(im, name)
    if orientation in range(2, 9):
        v = upright(v, orientation)
        what += f" turned by EXIF orientation {orientation}"
    if scale is None:  # range in unknown units: relative, and v is linear in depth (RangeLinear) or in 1/depth
        kind, values = ("depth", v) if fmt.lower() == "rangelinear" else ("disparity", 1 - v)
        return DepthMap(values.astype(np.float32), kind, None, None,
                        f"{label} ({fmt}, {bits}-bit {what}, units unknown: relative {kind})")
    near_m, far_m = near * scale, far * scale
    return DepthMap(decode_range(v, fmt, near_m, far_m).astype(np.float32), "metres", near_m, far_m,
                    f"{label} ({fmt}, {bits}-bit {what}, near {near_m:g} m, far {far_m:g} m)")


def _exif_orientation(path: Path) -> int:
    with Image.open(path) as im:
        return int(im.getexif().get(0x0112, 1))  # ExifTags.Base.Orientation


def _read_heif(path: Path) -> DepthMap:
    try:
        import pillow_heif
    except ImportError:
        raise BgganError(f"{path}: reading a HEIC needs pillow-heif (pip install pillow-heif)") from None
    try:
        heif = pillow_heif.open_heif(path)
        depths = heif.info.get("depth_images") or []
        if not depths:
            raise BgganError(f"{path}: {NO_DEPTH}")
        depth, primary = depths[0], heif[heif.primary_index]
        im = depth.to_pillow()
    except (RuntimeError, *MALFORMED) as e:
        raise BgganError(f"{path}: not a readable HEIC ({type(e).__name__}: {e})") from None
    v, bits = _normalised(im, path.name)
    v = _heif_upright(v, primary, depth)
    return _heif_depth(v, depth.info.get("metadata") or {}, f"HEIC depth image in {path.name} ({bits}-bit "
                       f"{v.shape[0]}x{v.shape[1]}")


def _heif_transforms(image) -> list[tuple]:
    # pillow-heif keeps an item's irot/imir/clap only on its private C object; without it, nothing is turned
    listed = getattr(getattr(image, "_c_image", None), "transformations", ())
    return [tuple(t[:2]) for t in listed if t[0] in ("irot", "imir")]


def _heif_upright(v: np.ndarray, primary, depth) -> np.ndarray:
    """libheif turns each item by its own irot/imir; a depth item with none of its own is turned as the photo is."""
    if _heif_transforms(depth):
        return v
    im = Image.fromarray(v)
    for t in _heif_transforms(primary):
        im = im.transpose(HEIF_TRANSPOSE[t]) if t in HEIF_TRANSPOSE else im
    return np.asarray(im)


def _heif_depth(v: np.ndarray, info: dict, label: str) -> DepthMap:
    """HEVC depth representation info -> metres where it states the range (ITU-T H.265 annex G.14.2.4).

    Type 1 (uniform disparity, what iPhones write): disparity = d_min + v (d_max - d_min), in 1/m as Apple's
    AVDepthData defines disparity. Type 0 (uniform inverse Z): 1/Z = 1/z_far + v (1/z_near - 1/z_far).
    In both, bright is near. Other types, or no range, give a relative map.
    """
    kind = info.get("representation_type")
    d_min, d_max, z_near, z_far = (info.get(k) for k in ("d_min", "d_max", "z_near", "z_far"))
    v = v.astype(np.float64)
    if kind == 1 and d_min is not None and d_max is not None and 0 < d_min < d_max:
        metres = 1 / (d_min + v * (d_max - d_min))
        how, near, far = "uniform disparity", 1 / d_max, 1 / d_min
    elif kind == 0 and z_near is not None and z_far is not None and 0 < z_near < z_far:
        metres = 1 / (1 / z_far + v * (1 / z_near - 1 / z_far))
        how, near, far = "uniform inverse Z", z_near, z_far
    else:
        relative = "depth" if kind == 2 else "disparity"
        return DepthMap(v.astype(np.float32), relative, None, None,
                        f"{label}, representation type {kind}, no range: relative {relative})")
    return DepthMap(metres.astype(np.float32), "metres", near, far, f"{label}, {how}, near {near:.3g} m, "
                    f"far {far:.3g} m)")
