import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from bggan.cli import synth
from bggan.cli.common import run_command
from bggan.data import PairedImages
from bggan.data.defocus import Lens
from bggan.data.depth_maps import read_coc
from bggan.data.synthetic import aperture_for, render_pair, render_sample
from tests.conftest import console_script


def _run(argv):
    return run_command(synth.PROG, synth.main, argv)


def test_writes_pairs_in_the_ebb_layout_that_the_folder_reader_accepts(tmp_path, capsys):
    out = tmp_path / "pairs"
    assert _run(["--out", str(out), "--n", "3", "--size", "40x56", "--seed", "5", "--workers", "1",
                 "--no-progress"]) == 0
    assert "wrote 3 pairs at 40x56" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "original").iterdir()) == ["5.jpg", "6.jpg", "7.jpg"]
    meta = json.loads((out / "synthetic.json").read_text())
    assert meta["seeds"] == [5, 7] and meta["size_hw"] == [40, 56]
    train, _ = PairedImages(out, holdout=0).split()
    _, bokeh = render_pair(6, 40, 56)
    item = train[1]
    assert item["name"] == "6" and np.abs(item["target"].astype(int) - bokeh).mean() < 6  # JPEG q95
    assert np.array_equal(read_coc(out / "depth" / "6.npz"), render_sample(6, 40, 56)["coc"])
    assert "depth/SEED.npz" in meta["layout"] and meta["lens"]["focal_mm"] == 50.0


def test_each_pair_at_its_own_aperture_keeps_it_in_its_depth_file(tmp_path, capsys):
    out = tmp_path / "pairs"
    assert _run(["--out", str(out), "--n", "6", "--size", "32x48", "--workers", "2", "--no-progress", "--format",
                 "png", "--apertures", "1.4", "22", "--no-blur", "0.3"]) == 0
    meta = json.loads((out / "synthetic.json").read_text())
    assert meta["apertures"] == [1.4, 22.0] and meta["no_blur"] == 0.3
    numbers = []
    for seed in range(6):
        expected = aperture_for(seed, (1.4, 22.0), 0.3)
        with np.load(out / "depth" / f"{seed}.npz") as depth:
            assert float(depth["f_number"]) == expected
        sample = render_sample(seed, 32, 48, Lens(f_number=expected))
        assert np.array_equal(np.asarray(Image.open(out / "bokeh" / f"{seed}.png")), sample["target"])
        assert np.array_equal(read_coc(out / "depth" / f"{seed}.npz"), sample["coc"])
        numbers.append(expected)
    assert len(set(numbers)) > 1  # the control: not one aperture for all


@pytest.mark.parametrize(("args", "message"), [(["--apertures", "22", "1.4"], "--apertures"),
                                               (["--no-blur", "0.2"], "goes with --apertures")])
def test_bad_aperture_options_are_one_line(tmp_path, capsys, args, message):
    assert _run(["--out", str(tmp_path / "p"), "--n", "2", "--size", "32x48", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bggan-synth: error:") and "\n" not in err and message in err
    assert not (tmp_path / "p").exists()


def test_parallel_workers_write_the_same_pairs_as_one(tmp_path):
    assert _run(["--out", str(tmp_path / "a"), "--n", "4", "--size", "32x48", "--workers", "1",
                 "--no-progress", "--format", "png"]) == 0
    assert _run(["--out", str(tmp_path / "b"), "--n", "4", "--size", "32x48", "--workers", "2",
                 "--no-progress", "--format", "png"]) == 0
    for sub in ("original", "bokeh"):
        for seed in range(4):
            a = np.asarray(Image.open(tmp_path / "a" / sub / f"{seed}.png"))
            b = np.asarray(Image.open(tmp_path / "b" / sub / f"{seed}.png"))
            assert np.array_equal(a, b)


def test_existing_pairs_are_not_overwritten_without_the_flag(tmp_path, capsys):
    out = tmp_path / "pairs"
    (out / "bokeh").mkdir(parents=True)
    (out / "bokeh" / "1.jpg").write_bytes(b"mine")
    (out / "notes.txt").write_text("keep me")
    assert _run(["--out", str(out), "--n", "2", "--size", "32x32", "--workers", "1", "--no-progress"]) == 2
    assert "1.jpg exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "bokeh" / "1.jpg").read_bytes() == b"mine" and not (out / "original" / "0.jpg").exists()
    assert _run(["--out", str(out), "--n", "2", "--size", "32x32", "--workers", "1", "--no-progress",
                 "--overwrite"]) == 0
    assert Image.open(out / "bokeh" / "1.jpg").size == (32, 32) and (out / "notes.txt").read_text() == "keep me"


def _photo(tmp_path):
    image = np.zeros((48, 256, 3), np.uint8)
    image[:, ::2] = 200  # fine stripes: blur shows
    Image.fromarray(image).save(tmp_path / "photo.png")
    depth = np.zeros((48, 256), np.uint8)
    depth[:, 128:] = 255  # left near, right far
    Image.fromarray(depth).save(tmp_path / "depth.png")
    return tmp_path / "photo.png", tmp_path / "depth.png"


def test_photo_with_a_depth_map(tmp_path, capsys):
    photo, depth = _photo(tmp_path)
    out = tmp_path / "out.png"
    assert _run(["--image", str(photo), "--depth", str(depth), "--focus", "5,10", "--near", "2", "--far", "40",
                 "--out", str(out)]) == 0
    assert "focus 2.00 m" in capsys.readouterr().out
    result = np.asarray(Image.open(out)).astype(int)
    contrast = np.abs(np.diff(result, axis=1)).mean(axis=(0, 2))
    assert contrast[5:100].mean() > 150 and contrast[150:250].mean() < 10  # left in focus, right blurred


def test_depth_map_in_metres_and_resized_16_bit(tmp_path, capsys):
    photo, _ = _photo(tmp_path)
    np.save(tmp_path / "d.npy", np.full((48, 256), 3.0))
    assert _run(["--image", str(photo), "--depth", str(tmp_path / "d.npy"), "--focus", "3",
                 "--out", str(tmp_path / "a.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(photo)))
    half = np.zeros((24, 128), np.uint16)
    half[:, 64:] = 60000
    Image.fromarray(half).save(tmp_path / "d16.png")
    assert _run(["--image", str(photo), "--depth", str(tmp_path / "d16.png"), "--out", str(tmp_path / "b.jpg"),
                 "--disparity"]) == 0
    assert "disparity mapped to 1-30 m" in capsys.readouterr().out


@pytest.mark.parametrize("make, args, message", [
    (None, ["--depth", "MISSING"], "missing.png: no such file"),
    (None, [], "--image needs --depth"),
    ("colour", ["--depth", "DEPTH"], "a colour image"),
    ("wide", ["--depth", "DEPTH"], "aspect ratios differ"),
    ("text", ["--depth", "DEPTH"], "not a readable image"),
    (None, ["--depth", "DEPTH", "--focus", "near"], "--focus must be metres"),
    (None, ["--depth", "DEPTH", "--focus", "500,2"], "outside the 256x48"),
    (None, ["--depth", "DEPTH", "--near", "9", "--far", "3"], "near < far"),
])
def test_bad_photo_inputs(tmp_path, capsys, make, args, message):
    photo, depth = _photo(tmp_path)
    if make == "colour":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 256, 3), dtype=np.uint8)).save(depth)
    elif make == "wide":
        Image.fromarray(np.zeros((48, 96), np.uint8)).save(depth)  # 2:1, the photo is 16:3
    elif make == "text":
        depth.write_text("no")
    names = {"DEPTH": str(depth), "MISSING": str(tmp_path / "missing.png")}
    argv = ["--image", str(photo), "--out", str(tmp_path / "o.png")] + [names.get(a, a) for a in args]
    assert _run(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_console_script_reports_bad_input_in_one_line(tmp_path):
    result = subprocess.run([console_script("bggan-synth"), "--image", str(tmp_path / "none.jpg"), "--depth",
                             "x.png", "--out", str(tmp_path / "o.jpg")], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"bggan-synth: error: {tmp_path / 'none.jpg'}: no such file"]
