"""Phone photos with their depth inside, written here to the published formats: Dynamic Depth 1.0 and GDepth
JPEGs (XMP in APP1 segments, the depth image after the JPEG or in base64), HEIC with a depth image.

The depths are encoded with the specs' own formulas (developers.google.com/depthmap-metadata/encoding), not the
reader's, and read back within the quantisation error of the stored bits.
"""

from __future__ import annotations

import base64
import io
import math
import struct

import numpy as np
import pytest
from PIL import Image

from bggan.data.depth_files import depth_metres, read_depth_map
from bggan.errors import BgganError
from bggan.images import read_rgb

XMP_MAIN = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
DD_NAMESPACES = " ".join(f'xmlns:{p}="http://ns.google.com/photos/dd/1.0/{p.lower()}/"'
                         for p in ("Device", "Container", "Item", "Camera", "DepthMap"))
GUID = "0123456789ABCDEF0123456789ABCDEF"


def scene(h=24, w=32, near=0.5, far=6.0):
    """Depth in metres from near to far: a near block in the top left quadrant, a background at 0.9 far and a
    ramp from far / 2 to far down the right quarter."""
    depth = np.full((h, w), far * 0.9)
    depth[: h // 2, : w // 2] = near
    depth[:, 3 * w // 4:] = np.linspace(far / 2, far, h)[:, None]
    return depth


def encode(depth, fmt, near, far, bits):
    """The spec's encodings: RangeLinear (d - n) / (f - n), RangeInverse f (d - n) / (d (f - n)), quantised."""
    v = (depth - near) / (far - near) if fmt == "RangeLinear" else far * (depth - near) / (depth * (far - near))
    top = 2**bits - 1
    return np.round(v * top).astype(np.uint8 if bits == 8 else np.uint16)


def step_error(depth, fmt, near, far, bits):
    """Half a quantisation step of the encoding, in metres at each depth (|dd/dv| / 2 / (2^bits - 1))."""
    slope = np.full_like(depth, far - near) if fmt == "RangeLinear" else depth**2 * (far - near) / (far * near)
    return 0.5 * slope / (2**bits - 1) + 1e-6


def png(pixels) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(rgb, orientation=None) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def app1(header: bytes, body: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", 2 + len(header) + len(body)) + header + body


def with_segments(primary: bytes, *segments: bytes) -> bytes:
    """The JPEG with the segments just after its SOI marker."""
    return primary[:2] + b"".join(segments) + primary[2:]


def photo_of(depth):
    """An RGB photo whose brightness shows the depth (near = bright), so its orientation can be compared."""
    gray = np.uint8(255 * (depth.max() - depth) / (depth.max() - depth.min()))
    return np.stack([gray] * 3, axis=-1)


def dynamic_depth_jpeg(depth, fmt="RangeInverse", near=0.5, far=6.0, bits=16, orientation=None, length_error=0,
                       units="Meters"):
    """A Pixel-style portrait JPEG: primary, then a gain map, the depth PNG and a confidence PNG concatenated."""
    depth_png = png(encode(depth, fmt, near, far, bits))
    items = [("image/jpeg", b"\x01" * 7, "android/gainmap"), ("image/png", depth_png, "android/depthmap"),
             ("image/png", png(np.full(depth.shape, 255, np.uint8)), "android/confidencemap")]
    directory = '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary"/>' \
                "</rdf:li>" + "".join(
        f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="{mime}" '
        f'Item:Length="{len(body) + (length_error if uri == "android/depthmap" else 0)}" Item:DataURI="{uri}"/>'
        "</rdf:li>" for mime, body, uri in items)
    xmp = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}><rdf:Description rdf:about="" {DD_NAMESPACES}>
<Device:Container><rdf:Description><Container:Directory><rdf:Seq>{directory}</rdf:Seq></Container:Directory>
</rdf:Description></Device:Container>
<Device:Cameras><rdf:Seq><rdf:li rdf:parseType="Resource"><Device:Camera><rdf:Description>
<Camera:DepthMap><rdf:Description DepthMap:ItemSemantic="Depth" DepthMap:Format="{fmt}" DepthMap:Near="{near}"
 DepthMap:Far="{far}" DepthMap:Units="{units}" DepthMap:MeasureType="OpticalAxis" DepthMap:DepthURI="android/depthmap"
 DepthMap:ConfidenceURI="android/confidencemap"/></Camera:DepthMap>
</rdf:Description></Device:Camera></rdf:li></rdf:Seq></Device:Cameras>
</rdf:Description></rdf:RDF></x:xmpmeta>""".encode()
    primary = with_segments(jpeg(photo_of(depth), orientation), app1(XMP_MAIN, xmp))
    return primary + b"".join(body for _, body, _ in items)


@pytest.mark.parametrize("fmt, bits", [("RangeInverse", 16), ("RangeInverse", 8), ("RangeLinear", 8)])
def test_dynamic_depth_round_trips_metres(tmp_path, fmt, bits):
    depth = scene()
    path = tmp_path / "PXL_portrait.jpg"
    path.write_bytes(dynamic_depth_jpeg(depth, fmt, bits=bits))
    got = read_depth_map(path, depth.shape)
    assert (got.kind, got.near_m, got.far_m) == ("metres", 0.5, 6.0)
    assert got.values.dtype == np.float32 and got.values.shape == depth.shape
    assert (np.abs(got.values - depth) <= step_error(depth, fmt, 0.5, 6.0, bits)).all()
    assert got.source.startswith(f"Dynamic Depth in PXL_portrait.jpg ({fmt}, {bits}-bit PNG 24x32")
    assert depth_metres(got, near_m=1, far_m=2) is got.values  # the file's metres win over a guess


def test_dynamic_depth_is_turned_upright_with_the_photo_and_resized(tmp_path):
    """Stored landscape, EXIF orientation 6 (turn 90 degrees clockwise): the depth lines up with read_rgb's photo."""
    depth = scene(24, 32)
    path = tmp_path / "portrait.jpg"
    path.write_bytes(dynamic_depth_jpeg(depth, orientation=6))
    photo = read_rgb(path)
    assert photo.shape[:2] == (32, 24)
    got = read_depth_map(path, (64, 48))  # a photo twice the depth's size
    assert got.values.shape == (64, 48)
    near = got.values < (0.5 + 5.4) / 2  # bilinear 2x: exactly the block's pixels, doubled, are below the middle
    assert np.array_equal(near, np.kron(photo[..., 0] > 200, np.ones((2, 2), bool)))  # the photo's bright block
    assert near[:32, 24:].all() and near.sum() == 32 * 24  # top right once turned clockwise
    with pytest.raises(BgganError, match="depth map is 32x24, the photo 24x32: aspect ratios differ"):
        read_depth_map(path, (24, 32))  # the stored orientation is not the photo's


def test_dynamic_depth_with_a_wrong_item_length_is_refused(tmp_path):
    path = tmp_path / "bad.jpg"
    path.write_bytes(dynamic_depth_jpeg(scene(), length_error=1))
    with pytest.raises(BgganError, match=r"bad.jpg: Dynamic Depth Container lengths do not add up"):
        read_depth_map(path, (24, 32))
    path.write_bytes(dynamic_depth_jpeg(scene())[:-5])  # a file cut short
    with pytest.raises(BgganError, match="do not add up"):
        read_depth_map(path, (24, 32))


def test_dynamic_depth_in_unknown_units_is_relative(tmp_path):
    depth = scene()
    path = tmp_path / "units.jpg"
    path.write_bytes(dynamic_depth_jpeg(depth, units="None"))
    got = read_depth_map(path, depth.shape)
    assert (got.kind, got.near_m, got.far_m) == ("disparity", None, None)  # RangeInverse is linear in 1/depth
    with pytest.raises(BgganError, match="give --near and --far"):
        depth_metres(got)
    metres = depth_metres(got, 0.5, 6.0)  # the range it was written with gives the depth back
    assert np.allclose(metres, depth, rtol=1e-3)
    path.write_bytes(dynamic_depth_jpeg(depth, units="Diopters"))
    with pytest.raises(BgganError, match="units.jpg: a Dynamic Depth map in Diopters"):
        read_depth_map(path, depth.shape)


def test_a_jpeg_without_depth_says_so_and_a_grayscale_one_is_a_relative_map(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)))
    with pytest.raises(BgganError, match=r"photo.jpg: no depth map inside \(neither Dynamic Depth, GDepth nor "
                                         r"a HEIC depth image\); give --depth FILE"):
        read_depth_map(photo, (24, 32))
    gray = tmp_path / "depth.jpg"
    Image.fromarray(np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))).save(gray, quality=95)
    got = read_depth_map(gray, (24, 32))
    assert got.kind == "depth" and np.abs(got.values[:, 1:] - got.values[:, :-1]).mean() > 6


def test_malformed_xmp_and_jpeg_are_one_line_errors(tmp_path):
    primary = jpeg(np.zeros((8, 8, 3), np.uint8))
    path = tmp_path / "broken.jpg"
    path.write_bytes(with_segments(primary, app1(XMP_MAIN, b"<x:xmpmeta><unclosed")))
    with pytest.raises(BgganError, match="broken.jpg: a malformed JPEG"):
        read_depth_map(path, (8, 8))
    path.write_bytes(primary[:40])  # truncated inside its headers
    with pytest.raises(BgganError, match="broken.jpg: a malformed JPEG"):
        read_depth_map(path, (8, 8))


def gdepth_xmp(fmt, near, far, units, data=None, extended=False) -> bytes:
    """GDepth's properties as RDF child elements (the other form the XMP standard allows)."""
    props = {"Format": fmt, "Near": near, "Far": far, "Mime": "image/png", "Units": units} | (
        {"Data": data} if data else {})
    body = "".join(f"<GDepth:{k}>{v}</GDepth:{k}>" for k, v in props.items())
    note = f"<xmpNote:HasExtendedXMP>{GUID}</xmpNote:HasExtendedXMP>" if extended else ""
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}><rdf:Description rdf:about="" '
            'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" xmlns:xmpNote="http://ns.adobe.com/xmp/note/">'
            f"{body}{note}</rdf:Description></rdf:RDF></x:xmpmeta>").encode()


def extended_chunks(packet: bytes, size: int) -> list[bytes]:
    """Extended XMP APP1 segments: the GUID, the full length and each chunk's offset, then the chunk."""
    return [app1(XMP_EXTENSION, GUID.encode() + struct.pack(">II", len(packet), at) + packet[at:at + size])
            for at in range(0, len(packet), size)]


def gdepth_jpeg(depth, fmt, near, far, units="m", order=None, drop=None):
    data = base64.b64encode(png(encode(depth, fmt, near, far, 8))).decode()
    packet = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}><rdf:Description rdf:about="" '
              f'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" GDepth:Data="{data}"/></rdf:RDF>'
              "</x:xmpmeta>").encode()
    chunks = extended_chunks(packet, 64)  # real ones are up to ~65 kB; the joining is the same
    chunks = [chunks[i] for i in (order or range(len(chunks))) if i != drop]
    main = app1(XMP_MAIN, gdepth_xmp(fmt, near, far, units, extended=True))
    return with_segments(jpeg(photo_of(depth)), main, *chunks), len(chunks)


def test_gdepth_in_extended_xmp_chunks_out_of_order_reads_back(tmp_path):
    depth = scene(near=300, far=5000)  # millimetres
    n = gdepth_jpeg(depth, "RangeLinear", 300, 5000, units="mm")[1]
    assert n >= 4  # several chunks, so their order matters
    content, _ = gdepth_jpeg(depth, "RangeLinear", 300, 5000, units="mm", order=range(n - 1, -1, -1))
    path = tmp_path / "lens_blur.jpg"
    path.write_bytes(content)
    got = read_depth_map(path, depth.shape)
    assert got.kind == "metres" and (got.near_m, got.far_m) == pytest.approx((0.3, 5.0))
    assert (np.abs(got.values - depth / 1000) <= step_error(depth, "RangeLinear", 300, 5000, 8) / 1000).all()
    assert got.source.startswith("GDepth in lens_blur.jpg (RangeLinear, 8-bit PNG 24x32, near 0.3 m, far 5 m")


def test_gdepth_with_a_missing_extended_chunk_is_refused(tmp_path):
    content, _ = gdepth_jpeg(scene(), "RangeInverse", 0.5, 6.0, drop=2)
    path = tmp_path / "missing.jpg"
    path.write_bytes(content)
    with pytest.raises(BgganError, match=f"missing.jpg: the extended XMP {GUID} is incomplete: no chunk at byte 128"):
        read_depth_map(path, (24, 32))


def test_gdepth_inline_data_and_bad_base64(tmp_path):
    depth = scene()
    data = base64.b64encode(png(encode(depth, "RangeInverse", 0.5, 6.0, 8))).decode()
    path = tmp_path / "inline.jpg"
    path.write_bytes(with_segments(jpeg(photo_of(depth)),
                                   app1(XMP_MAIN, gdepth_xmp("RangeInverse", 0.5, 6.0, "m", data))))
    got = read_depth_map(path, depth.shape)
    assert (np.abs(got.values - depth) <= step_error(depth, "RangeInverse", 0.5, 6.0, 8)).all()
    path.write_bytes(with_segments(jpeg(photo_of(depth)),
                                   app1(XMP_MAIN, gdepth_xmp("RangeInverse", 0.5, 6.0, "m", "not base64!"))))
    with pytest.raises(BgganError, match="inline.jpg: a malformed JPEG .*Error"):
        read_depth_map(path, depth.shape)


# --- HEIC: pillow-heif reads depth images but cannot write them, so the file is put together here: ---
# pillow-heif encodes the photo and the depth (losslessly) as two one-image HEIFs; their hvcC and other item
# properties and their coded data go into one file where the depth item is an auxiliary image of the photo
# ('auxl' reference, auxC "urn:mpeg:hevc:2015:auxid:2") whose auxC carries an HEVC depth_representation_info SEI
# (ITU-T H.265 G.14.2.4), as iPhones write it and libheif reads it.

def _box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def _full_box(kind: str, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags) + payload)


def _children(data: bytes, start: int = 0) -> dict[str, list[bytes]]:
    out, i = {}, start
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        out.setdefault(kind.decode(), []).append(data[i:i + size])
        i += size
    return out


def _heif_item(image: Image.Image) -> tuple[list[bytes], bytes]:
    """The item properties (boxes) and coded data of a one-image HEIF that pillow-heif writes."""
    pillow_heif = pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, quality=-1)  # lossless: the depth's quantisation stays exact
    top = _children(buf.getvalue())
    meta = _children(top["meta"][0][12:])
    ipco = _children(meta["iprp"][0][8:])["ipco"][0]
    return [b for boxes in _children(ipco[8:]).values() for b in boxes], top["mdat"][0][8:]


class _Bits:
    def __init__(self):
        self.bits = []

    def put(self, value: int, n: int):
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int):  # Exp-Golomb
        n = (value + 1).bit_length()
        self.put(0, n - 1)
        self.put(value + 1, n)

    def real(self, x: float):  # sign, 7-bit exponent, mantissa length - 1 (5 bits), mantissa: 2^(e-31) (1 + m/2^v)
        e, v = math.floor(math.log2(x)), 23
        self.put(0, 1), self.put(e + 31, 7), self.put(v - 1, 5), self.put(round((x / 2**e - 1) * 2**v), v)

    def tobytes(self) -> bytes:
        bits = self.bits + [1] + [0] * (-(len(self.bits) + 1) % 8)  # rbsp trailing bits
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def depth_sei(rep_type: int, d_min: float, d_max: float) -> bytes:
    """auxC subtypes: the length, then one prefix SEI NAL (type 39) with depth_representation_info (177)."""
    bits = _Bits()
    bits.put(0b0011, 4)  # no z_near, no z_far, d_min, d_max
    bits.ue(rep_type)
    bits.ue(0)  # disparity_reference_view
    bits.real(d_min)
    bits.real(d_max)
    payload = bits.tobytes()
    nal = bytes([39 << 1, 1, 177, len(payload)]) + payload
    return struct.pack(">II", 8 + len(nal), len(nal)) + nal


def heic(photo: Image.Image, depth: Image.Image, subtypes: bytes = b"", photo_props: tuple = ()) -> bytes:
    (p_props, p_data), (d_props, d_data) = _heif_item(photo), _heif_item(depth)
    p_props = p_props + list(photo_props)
    props = p_props + d_props + [_full_box("auxC", b"urn:mpeg:hevc:2015:auxid:2\x00" + subtypes)]
    first = len(p_props)
    ipma = _full_box("ipma", struct.pack(">IHB", 2, 1, first) + bytes(range(1, first + 1))
                     + struct.pack(">HB", 2, len(props) - first) + bytes(range(first + 1, len(props) + 1)))
    infe = [_full_box("infe", struct.pack(">HH", i, 0) + b"hvc1\x00", version=2, flags=hidden)
            for i, hidden in ((1, 0), (2, 1))]

    def meta(offset: int) -> bytes:
        iloc = _full_box("iloc", bytes([0x44, 0]) + struct.pack(">H", 2) + struct.pack(
            ">HHHII", 1, 0, 1, offset, len(p_data)) + struct.pack(">HHHII", 2, 0, 1, offset + len(p_data), len(d_data)))
        return _full_box("meta", _full_box("hdlr", bytes(4) + b"pict" + bytes(13)) + _full_box("pitm", b"\x00\x01")
                         + _full_box("iinf", struct.pack(">H", 2) + b"".join(infe))
                         + _full_box("iref", _box("auxl", struct.pack(">HHH", 2, 1, 1)))
                         + _box("iprp", _box("ipco", b"".join(props)) + ipma) + iloc)

    ftyp = _box("ftyp", b"heic" + bytes(4) + b"mif1heic")
    return ftyp + meta(len(ftyp) + len(meta(0)) + 8) + _box("mdat", p_data + d_data)


def test_heic_disparity_round_trips_metres(tmp_path):
    depth = scene(near=0.4, far=4.0)
    d_min, d_max = 1 / 4.0, 1 / 0.4  # iPhones store disparity, 1/m, between these
    pixels = np.round((1 / depth - d_min) / (d_max - d_min) * 255).astype(np.uint8)
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(heic(Image.fromarray(photo_of(depth)), Image.fromarray(pixels), depth_sei(1, d_min, d_max)))
    got = read_depth_map(path, depth.shape)
    assert got.kind == "metres" and got.near_m == pytest.approx(0.4) and got.far_m == pytest.approx(4.0)
    step = 0.5 * (d_max - d_min) / 255 * depth**2 + 1e-5  # half a step of disparity, in metres
    assert (np.abs(got.values - depth) <= step).all()
    assert "HEIC depth image in IMG_0001.HEIC (8-bit 24x32, uniform disparity" in got.source


@pytest.mark.parametrize("turn", [b"irot\x01", b"imir\x00", b"imir\x01"])
def test_heic_depth_turns_with_the_photo(tmp_path, turn):
    """The photo item turned (irot: 90 degrees anticlockwise) or mirrored (imir), the depth item not: the depth is
    turned as libheif turns the photo."""
    pillow_heif = pytest.importorskip("pillow_heif")
    depth = scene()
    pixels = np.round((1 / depth - 1 / 6) / (2 - 1 / 6) * 255).astype(np.uint8)
    path = tmp_path / "turned.heic"
    path.write_bytes(heic(Image.fromarray(photo_of(depth)), Image.fromarray(pixels), depth_sei(1, 1 / 6, 2),
                          photo_props=(_box(turn[:4].decode(), turn[4:]),)))
    photo = np.asarray(pillow_heif.open_heif(path))[..., 0]  # as libheif turns the photo
    got = read_depth_map(path, photo.shape)
    near = got.values < 1.0
    assert near.sum() == 12 * 16 and np.array_equal(near, photo > 200)
    assert not near[0, 0]  # the block has left the top left corner where the depth item stores it


def test_heic_without_depth_or_range(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    depth = scene()
    plain = tmp_path / "plain.heic"
    pillow_heif.from_pillow(Image.fromarray(photo_of(depth))).save(plain)
    with pytest.raises(BgganError, match="plain.heic: no depth map inside"):
        read_depth_map(plain, depth.shape)
    bare = tmp_path / "bare.heic"  # a depth image without its representation info
    bare.write_bytes(heic(Image.fromarray(photo_of(depth)), Image.fromarray(photo_of(depth)[..., 0])))
    got = read_depth_map(bare, depth.shape)
    assert (got.kind, got.near_m) == ("disparity", None) and "no range: relative disparity" in got.source
    metres = depth_metres(got, 0.5, 6.0)
    assert metres[0, 0] == pytest.approx(0.5) and metres[-1, -1] == pytest.approx(6.0)  # bright (the block) is near
    bare.write_bytes(bare.read_bytes()[:300])
    with pytest.raises(BgganError, match="bare.heic: not a readable HEIC"):
        read_depth_map(bare, depth.shape)
