import logging

import numpy as np
import pytest
from PIL import Image

from bggan.data.paired import PairedImages, PairFiles
from bggan.data.scan import natural_key, probe_image, read_keep_list, scan_folder
from bggan.errors import BgganError


def _image(seed, h=24, w=32):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _ebb(root, names, suffix=".jpg", h=24, w=32):
    for sub in ("original", "bokeh"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(_image(i, h, w)).save(root / "original" / f"{name}{suffix}", quality=95)
        Image.fromarray(_image(1000 + i, h, w)).save(root / "bokeh" / f"{name}{suffix}", quality=95)
    return root


def _reasons(report):
    return {s.path.relative_to(report.root).as_posix(): s.reason for s in report.skipped}


def test_ebb_layout_matches_by_stem_in_natural_order(tmp_path):
    _ebb(tmp_path, ["10", "2", "1", "0"])
    report = scan_folder(tmp_path)
    assert report.layout == "original/bokeh" and report.found == 4 and not report.skipped
    assert [p.name for p in report.pairs] == ["0", "1", "2", "10"]
    pair = report.pairs[1]
    assert pair.source == tmp_path / "original" / "1.jpg" and pair.target == tmp_path / "bokeh" / "1.jpg"


def test_src_tgt_layout_ignores_other_files(tmp_path):
    for name in ("0", "1"):
        Image.fromarray(_image(0)).save(tmp_path / f"{name}_src.png")
        Image.fromarray(_image(1)).save(tmp_path / f"{name}_tgt.png")
    Image.fromarray(_image(2)).save(tmp_path / "2.src.jpg")  # the dotted variant counts too
    Image.fromarray(_image(3)).save(tmp_path / "2.tgt.jpg")
    Image.fromarray(_image(4)[..., 0]).save(tmp_path / "0.alpha.png")
    (tmp_path / "meta.txt").write_text("x")
    report = scan_folder(tmp_path)
    assert report.layout == "src/tgt" and [p.name for p in report.pairs] == ["0", "1", "2"]
    assert report.ignored == 2 and not report.skipped
    assert report.pairs[0].source.name == "0_src.png" and report.pairs[0].target.name == "0_tgt.png"


def test_every_bad_file_is_skipped_with_its_reason(tmp_path):
    _ebb(tmp_path, [str(i) for i in range(8)])
    (tmp_path / "original" / "0.jpg").write_text("not a jpeg")               # unreadable
    data = (tmp_path / "bokeh" / "1.jpg").read_bytes()
    (tmp_path / "bokeh" / "1.jpg").write_bytes(data[: len(data) // 2])      # truncated
    (tmp_path / "bokeh" / "2.jpg").unlink()                                  # no partner
    Image.fromarray(_image(9, 24, 30)).save(tmp_path / "bokeh" / "3.jpg")   # size differs
    Image.fromarray(_image(9)).save(tmp_path / "bokeh" / "4.png")           # two bokeh images named 4
    (tmp_path / "bokeh" / "5.jpg").write_bytes(b"")                          # empty
    report = scan_folder(tmp_path)
    reasons = _reasons(report)
    assert reasons["original/0.jpg"] == "not an image"
    assert "truncated" in reasons["bokeh/1.jpg"]
    assert reasons["original/2.jpg"] == "no partner image"
    assert reasons["bokeh/3.jpg"].startswith("size 24x30 differs from its partner's 24x32")
    assert "also named '4'" in reasons["bokeh/4.png"] and "also named '4'" in reasons["bokeh/4.jpg"]
    assert reasons["original/4.jpg"] == "no partner image"
    assert reasons["bokeh/5.jpg"] == "not an image"
    assert [p.name for p in report.pairs] == ["6", "7"]
    assert report.found == 6  # names with both files present: not 2, not 4 (its bokeh is ambiguous)
    summary = report.summary()
    assert "6 pairs found, 2 kept, 8 files skipped" in summary and "bokeh/1.jpg" in summary


def test_a_file_with_trailing_bytes_is_decoded_not_rejected(tmp_path):
    path = tmp_path / "x.jpg"
    Image.fromarray(_image(0)).save(path)
    path.write_bytes(path.read_bytes() + b"\0" * 200)  # some cameras append data after the image
    assert probe_image(path) == (24, 32)


def test_exif_rotation_is_applied_to_the_size(tmp_path):
    path = tmp_path / "r.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    Image.fromarray(_image(0, 24, 32)).save(path, exif=exif)
    assert probe_image(path) == (32, 24)


def test_keep_list_and_its_report(tmp_path):
    _ebb(tmp_path / "d", ["0", "1", "2", "3"])
    keep = tmp_path / "keep.txt"
    keep.write_text("# cleaned\n1.jpg\n3\n\n7  # gone\n")
    assert read_keep_list(keep) == {"1", "3", "7"}
    report = scan_folder(tmp_path / "d", read_keep_list(keep))
    assert [p.name for p in report.pairs] == ["1", "3"]
    assert report.not_listed == 2 and report.listed_missing == ["7"]
    assert "not on the keep-list" in report.summary() and ": 7" in report.summary()


def test_holdout_is_the_last_pairs_by_name_and_stable(tmp_path):
    _ebb(tmp_path, [str(i) for i in range(12)])
    train, val = PairedImages(tmp_path, holdout=3).split()
    assert [p.name for p in val.pairs] == ["9", "10", "11"]
    assert [p.name for p in train.pairs] == [str(i) for i in range(9)]
    again = PairedImages(tmp_path, holdout=3).split()[1]
    assert again.pairs == val.pairs


def test_val_root_replaces_the_holdout(tmp_path):
    _ebb(tmp_path / "train", ["0", "1", "2"])
    _ebb(tmp_path / "val", ["a", "b"])
    source = PairedImages(tmp_path / "train", holdout=294, val_root=tmp_path / "val")
    train, val = source.split()
    assert len(train) == 3 and [p.name for p in val.pairs] == ["a", "b"]
    assert "validation pairs (all of" in source.summary()


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no such folder"),
    (lambda p: p.mkdir(), "no image pairs found"),
    (lambda p: p.write_text("x"), "not a folder"),
])
def test_missing_empty_or_wrong_folder_is_one_clear_error(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(BgganError, match=message):
        PairedImages(root).split()


def test_no_usable_pair_and_too_large_holdout_are_errors(tmp_path):
    _ebb(tmp_path, ["0", "1"])
    with pytest.raises(BgganError, match="holdout=294 leaves no training pairs"):
        PairedImages(tmp_path).split()
    for name in ("0", "1"):
        (tmp_path / "bokeh" / f"{name}.jpg").write_text("broken")
    with pytest.raises(BgganError, match="none of the 2 pairs found is usable"):
        PairedImages(tmp_path, holdout=0).split()
    with pytest.raises(BgganError, match="data.pairs.root"):
        PairedImages(None)


def test_a_file_that_breaks_after_the_scan_is_skipped_and_counted(tmp_path, caplog):
    _ebb(tmp_path, ["0", "1", "2"])
    train, _ = PairedImages(tmp_path, holdout=0).split()
    assert isinstance(train, PairFiles)
    (tmp_path / "bokeh" / "1.jpg").write_bytes(b"gone bad")
    with caplog.at_level(logging.WARNING):
        items = [train[i]["name"] for i in range(3)]
        again = train[1]["name"]
    assert items == ["0", "2", "2"] and again == "2"  # the next pair stands in
    assert train.failures == 1  # counted once; not retried in this process
    assert "skipping pair 1" in caplog.text
    sample = train[0]
    assert sample["input"].shape == (24, 32, 3) and sample["input"].dtype == np.uint8


def test_natural_key():
    assert sorted(["b10", "b2", "a", "10", "9"], key=natural_key) == ["9", "10", "a", "b2", "b10"]


# ----------------------------------------------------------------- aperture labels


def test_pairs_carry_the_configured_f_number_and_a_depth_files_own(tmp_path):
    from bggan.data.defocus import Lens
    from bggan.data.depth_maps import write_depth_file

    _ebb(tmp_path, ["0", "1", "2", "3"])
    (tmp_path / "depth").mkdir()
    zero = np.zeros((24, 32), np.float32)
    write_depth_file(tmp_path / "depth" / "1.npz", zero, zero, 2.0, Lens(f_number=5.6))
    write_depth_file(tmp_path / "depth" / "2.npz", zero, zero, 2.0, Lens(f_number=float("inf")))
    train, val = PairedImages(tmp_path, holdout=1).split()
    assert [p.f_number for p in train.pairs] == [1.8, 5.6, float("inf")] and val.pairs[0].f_number == 1.8
    items = [train[i] for i in range(3)]
    assert [i["f_number"] for i in items] == [1.8, 5.6, float("inf")]
    assert [i["strength"] for i in items] == pytest.approx([1.0, 1.8 / 5.6, 0.0])
    other = PairedImages(tmp_path, holdout=1, f_number=4.0).split()[0]  # the configured one is every other pair's
    assert [p.f_number for p in other.pairs] == [4.0, 5.6, float("inf")]
    unlabelled = PairedImages(tmp_path, holdout=1, f_number=None).split()[0]
    assert unlabelled.pairs[0].f_number is None and "strength" not in unlabelled[0]


def test_a_broken_depth_file_skips_its_pair_and_a_bad_f_number_is_refused(tmp_path):
    _ebb(tmp_path, ["0", "1", "2"])
    (tmp_path / "depth").mkdir()
    (tmp_path / "depth" / "1.npz").write_bytes(b"not a zip")
    source = PairedImages(tmp_path, holdout=1)
    train, _ = source.split()
    assert [p.name for p in train.pairs] == ["0"]
    assert "depth/1.npz: not a readable .npz file" in source.summary()
    with pytest.raises(BgganError, match="data.pairs.f_number must be > 0"):
        PairedImages(tmp_path, f_number=0)
