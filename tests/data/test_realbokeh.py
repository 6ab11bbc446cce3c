import json

import numpy as np
import pytest
from PIL import Image

from bggan.data import MixedPairs, PairedImages, RealBokeh
from bggan.data.realbokeh import scan_split
from bggan.errors import BgganError


def _jpg(path, seed, h=24, w=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=95)


def _scene(split, scene, avs, names=None):
    """One scene in the release's layout: in/<id>_f22.JPG, gt/<id>/<id>_f<N>.JPG, metadata/<id>.json."""
    names = names or [f"{a:.1f}" if a < 10 else f"{a:g}" for a in avs]  # as the camera writes them
    _jpg(split / "in" / f"{scene}_f22.JPG", scene)
    targets = [f"gt/{scene}/{scene}_f{n}.JPG" for n in names]
    for i, t in enumerate(targets):
        _jpg(split / t, 100 * scene + i)
    meta = {"id": scene, "source_image": f"in/{scene}_f22.JPG", "source_av": 22.0, "target_images": targets,
            "target_avs": avs, "focal_length": 60, "focus_plane_distance": 1.9}
    (split / "metadata").mkdir(parents=True, exist_ok=True)
    (split / "metadata" / f"{scene}.json").write_text(json.dumps(meta))


def _release(root):
    _scene(root / "train", 10, [2.0, 5.6, 14.0])
    _scene(root / "train", 2, [2.0, 20.0])
    _scene(root / "validation", 1, [2.0, 8.0])
    _scene(root / "test", 1, [4.0])
    return root


def test_one_pair_per_scene_and_target_aperture_with_its_f_number(tmp_path):
    train, val = RealBokeh(_release(tmp_path)).split()
    assert [p.name for p in train.pairs] == ["2_f2.0", "2_f20", "10_f2.0", "10_f5.6", "10_f14"]  # natural order
    assert [p.f_number for p in train.pairs] == [2.0, 20.0, 2.0, 5.6, 14.0]
    pair = train.pairs[3]
    assert pair.source == tmp_path / "train" / "in" / "10_f22.JPG"
    assert pair.target == tmp_path / "train" / "gt" / "10" / "10_f5.6.JPG"
    item = train[3]
    assert item["input"].shape == (24, 32, 3) and item["f_number"] == 5.6
    assert item["strength"] == pytest.approx(1.8 / 5.6)
    assert not np.array_equal(item["input"], item["target"])
    assert [p.name for p in val.pairs] == ["1_f2.0", "1_f8.0"]
    assert [p.source.parent.parent.name for p in val.pairs] == ["validation"] * 2  # ids restart per split
    test = RealBokeh(tmp_path, val="test").split()[1]
    assert [(p.name, p.f_number) for p in test.pairs] == [("1_f4.0", 4.0)]


def test_apertures_keep_a_range_of_targets(tmp_path):
    source = RealBokeh(_release(tmp_path), apertures=[2, 2])
    train, _ = source.split()
    assert [p.name for p in train.pairs] == ["2_f2.0", "10_f2.0"]
    summary = source.summary()
    assert "3 outside the apertures kept" in summary and "targets at f/2" in summary


def test_broken_scenes_and_files_are_skipped_with_their_reasons(tmp_path):
    split = _release(tmp_path) / "train"
    (split / "metadata" / "3.json").write_text("{not json")
    (split / "metadata" / "4.json").write_text(json.dumps({"id": 4, "source_image": "in/4_f22.JPG",
                                                           "target_images": ["a.JPG"], "target_avs": [2.0, 4.0]}))
    (split / "gt" / "10" / "10_f14.JPG").unlink()
    _jpg(split / "gt" / "2" / "2_f20.JPG", 0, h=20)  # not the input's size
    report = scan_split(split)
    reasons = {s.path.relative_to(split).as_posix(): s.reason for s in report.skipped}
    assert reasons["metadata/3.json"].startswith("not JSON")
    assert "one length" in reasons["metadata/4.json"]
    assert reasons["gt/10/10_f14.JPG"].startswith("missing")
    assert "differs from its input's 24x32" in reasons["gt/2/2_f20.JPG"]
    assert [p.name for p in report.pairs] == ["2_f2.0", "10_f2.0", "10_f5.6"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"root": None}, "data.pairs.root=/path/to/RealBokeh_3MP"),
    ({"val": "val"}, "data.pairs.val=val: RealBokeh's splits are train, validation, test"),
    ({"apertures": [8, 2]}, "data.pairs.apertures must be"),
])
def test_bad_settings_are_one_line(tmp_path, kwargs, message):
    with pytest.raises(BgganError, match=message):
        RealBokeh(**{"root": tmp_path, **kwargs})


def test_a_folder_that_is_not_a_release_is_one_line(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(BgganError, match=r"no metadata/\*\.json"):
        RealBokeh(tmp_path).split()
    with pytest.raises(BgganError, match="no such folder"):
        RealBokeh(tmp_path / "nope").split()


def _ebb(root, names):
    for i, name in enumerate(names):
        _jpg(root / "original" / f"{name}.jpg", i)
        _jpg(root / "bokeh" / f"{name}.jpg", 50 + i)
    return root


def test_mixed_pairs_concatenate_sources_that_carry_the_same(tmp_path):
    ebb = PairedImages(_ebb(tmp_path / "ebb", ["0", "1", "2"]), holdout=1)
    mixed = MixedPairs(ebb=ebb, realbokeh=RealBokeh(_release(tmp_path / "rb")))
    train, val = mixed.split()
    assert len(train) == 2 + 5 and len(val) == 1 + 2
    assert [train[i]["strength"] for i in (0, 2, 3)] == pytest.approx([1.0, 0.9, 0.09])  # f/1.8, f/2.0, f/20
    assert mixed.summary().startswith("ebb: ") and "\nrealbokeh: " in mixed.summary()
    unlabelled = MixedPairs(ebb=PairedImages(tmp_path / "ebb", holdout=1, f_number=None),
                            realbokeh=RealBokeh(tmp_path / "rb"))
    with pytest.raises(BgganError, match=r"carry different things \(ebb: neither; realbokeh: strength\)"):
        unlabelled.split()
    with pytest.raises(BgganError, match="at least one source"):
        MixedPairs()


@pytest.mark.parametrize(("data", "overrides"), [
    ("realbokeh", {"pairs.root": "rb"}),
    ("ebb_realbokeh", {"pairs.ebb.root": "ebb", "pairs.ebb.holdout": 1, "pairs.realbokeh.root": "rb"}),
    ("ebb", {"pairs.root": "ebb", "pairs.holdout": 1}),
])
def test_the_data_configs_build_labelled_sources(tmp_path, data, overrides):
    from bggan.cli.eval import compose_data
    from bggan.config_check import check_targets
    from bggan.train import build

    _release(tmp_path / "rb")
    _ebb(tmp_path / "ebb", ["0", "1", "2"])
    cfg = compose_data(data, [f"{key}={tmp_path / v if isinstance(v, str) else v}" for key, v in overrides.items()])
    check_targets(cfg)
    train, val = build(cfg.pairs).split()
    assert len(train) > 0 and len(val) > 0
    assert all("strength" in d[0] for d in (train, val))  # every source is labelled, EBB! at f/1.8
