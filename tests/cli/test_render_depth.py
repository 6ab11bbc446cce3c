"""bggan-render with a depth-aware model: a photo and its depth map, at a focus and f-number, whole or in tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bggan.cli.common import run_command
from bggan.cli.render import main
from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import signed_coc
from bggan.images import to_tensor
from bggan.models import GlassNet, save_generator

H, W = 48, 80


@pytest.fixture(scope="module")
def depth_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, condition="defocus", gate=True, stack=[2.0, 4.0, 8.0, 16.0])
    with torch.no_grad():
        for p in model.parameters():  # trained-looking weights, not the zero-initialised outputs
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path_factory.mktemp("weights") / "depth.safetensors"
    save_generator(model, path)
    return str(path), model.eval()


@pytest.fixture()
def scene(tmp_path):
    """A photo, and its depth as metres (.npy): the left half 2 m away, the right half 20 m."""
    photo = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    depth = np.where(np.arange(W)[None, :] < W // 2, 2.0, 20.0).repeat(H, 0).astype(np.float32)
    np.save(tmp_path / "depth.npy", depth)
    return tmp_path, photo, depth


def render(*args):
    return run_command("bggan-render", main, [str(a) for a in args])


def test_the_model_renders_the_photo_with_its_defocus_map(scene, depth_weights, capsys):
    folder, photo, depth = scene
    path, model = depth_weights
    assert render(folder / "photo.png", "--weights", path, "--depth", folder / "depth.npy", "--focus", "2",
                  "--aperture", "1.4", "--focal-length", "85", "--out", folder / "out") == 0
    out = np.asarray(Image.open(folder / "out" / "photo.png"))
    coc = signed_coc(depth, 2.0, Lens(85.0, 1.4), W).astype(np.float32)
    with torch.no_grad():
        expected = model(to_tensor(photo), torch.from_numpy(coc)[None, None])[0]
    expected = ((expected[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
    assert np.abs(out.astype(int) - expected).max() <= 1  # the model on the map of that focus and f-number
    assert (out[:, :W // 2 - 5] == photo[:, :W // 2 - 5]).all()  # in focus, far from the edge: the photo itself
    assert not (out[:, W // 2 + 5:] == photo[:, W // 2 + 5:]).all()
    printed = capsys.readouterr().out
    assert "depth-aware" in printed and "focus 2.00 m" in printed


def test_no_blur_returns_the_photo_and_tiles_match_the_whole_render(scene, depth_weights):
    folder, photo, _ = scene
    path, _ = depth_weights
    common = ["--weights", path, "--depth", folder / "depth.npy", "--focus", "2", "--focal-length", "85"]
    assert render(folder / "photo.png", *common, "--aperture", "inf", "--out", folder / "sharp") == 0
    assert (np.asarray(Image.open(folder / "sharp" / "photo.png")) == photo).all()
    assert render(folder / "photo.png", *common, "--out", folder / "whole") == 0
    assert render(folder / "photo.png", *common, "--tile", "32x48", "--overlap", "8", "--out", folder / "tiles") == 0
    whole = np.asarray(Image.open(folder / "whole" / "photo.png")).astype(int)
    tiles = np.asarray(Image.open(folder / "tiles" / "photo.png")).astype(int)
    assert whole.shape == tiles.shape and np.abs(whole - tiles).mean() < 12  # tiles see less, the same picture


def test_a_sweep_renders_each_f_number_and_a_strip(scene, depth_weights):
    folder, _, _ = scene
    path, _ = depth_weights
    assert render(folder / "photo.png", "--weights", path, "--depth", folder / "depth.npy", "--focus", "2",
                  "--sweep", "8,1.4", "--out", folder / "sweep") == 0
    names = sorted(p.name for p in (folder / "sweep").iterdir())
    assert names == ["photo_f1.4.png", "photo_f8.png", "photo_strip.png"]
    wide, narrow = (np.asarray(Image.open(folder / "sweep" / n)).astype(int) for n in names[:2])
    assert not (wide == narrow).all()


@pytest.mark.parametrize(("args", "message"), [
    ([], "depth-aware: give --depth"),
    (["--depth", "DEPTH", "--resize-like-released"], "--resize-like-released"),
    (["--depth", "missing.npy"], "no such file"),
    (["--depth", "DEPTH", "--focus", "100,100"], "outside"),
    (["--depth", "DEPTH", "--aperture", "0"], "f-number"),
    (["--depth", "WIDE"], "aspect ratios differ"),
])
def test_bad_depth_options_are_one_line_before_anything_is_written(scene, depth_weights, capsys, args, message):
    folder, _, _ = scene
    np.save(folder / "wide.npy", np.ones((H, 2 * W), np.float32))
    args = [str(folder / "depth.npy") if a == "DEPTH" else str(folder / "wide.npy") if a == "WIDE" else a
            for a in args]
    assert render(folder / "photo.png", "--weights", depth_weights[0], "--out", folder / "out", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (folder / "out").exists()


def test_depth_for_a_model_without_it_and_one_depth_for_several_photos_are_refused(scene, depth_weights, capsys,
                                                                                   tmp_path_factory):
    folder, photo, _ = scene
    plain = tmp_path_factory.mktemp("plain") / "plain.safetensors"
    save_generator(GlassNet(c1=4, c2=6, n_res=1), plain)
    assert render(folder / "photo.png", "--weights", plain, "--depth", folder / "depth.npy", "--out",
                  folder / "out") == 2
    assert "needs a depth-aware model" in capsys.readouterr().err
    Image.fromarray(photo).save(folder / "second.png")
    assert render(folder / "photo.png", folder / "second.png", "--weights", depth_weights[0], "--depth",
                  folder / "depth.npy", "--out", folder / "out") == 2
    assert "one photo's depth map; 2 photos" in capsys.readouterr().err


def test_embedded_reads_each_phone_photos_own_depth(tmp_path, depth_weights, capsys):
    from tests.data.test_phone_depth import dynamic_depth_jpeg, scene

    depth = scene(48, 64, near=0.5, far=6.0)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "PXL_1.jpg").write_bytes(dynamic_depth_jpeg(depth))
    (tmp_path / "in" / "PXL_2.jpg").write_bytes(dynamic_depth_jpeg(depth[:, ::-1].copy()))
    assert render(tmp_path / "in", "--weights", depth_weights[0], "--depth", "embedded", "--focus", "0.5",
                  "--focal-length", "85", "--aperture", "1.4", "--out", tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert printed.count("Dynamic Depth in PXL_") == 2 and "rendered 2 of 2" in printed
    colours = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(colours).save(tmp_path / "in" / "plain.jpg")
    assert render(tmp_path / "in", "--weights", depth_weights[0], "--depth", "embedded", "--focus", "0.5",
                  "--out", tmp_path / "out2") == 1  # a photo without depth inside is skipped, the others render
    err = capsys.readouterr().err
    assert "plain.jpg: no depth map inside" in err and (tmp_path / "out2" / "PXL_1.jpg").is_file()


def test_an_iphone_heic_renders_with_its_own_depth_and_comes_out_as_jpeg(tmp_path, depth_weights, capsys):
    from tests.data.test_phone_depth import depth_sei, heic, photo_of, scene

    depth = scene(48, 64, near=0.4, far=4.0)
    d_min, d_max = 1 / 4.0, 1 / 0.4
    pixels = np.round((1 / depth - d_min) / (d_max - d_min) * 255).astype(np.uint8)
    (tmp_path / "IMG_0001.HEIC").write_bytes(heic(Image.fromarray(photo_of(depth)), Image.fromarray(pixels),
                                                  depth_sei(1, d_min, d_max)))
    assert render(tmp_path / "IMG_0001.HEIC", "--weights", depth_weights[0], "--depth", "embedded", "--focus", "0.4",
                  "--focal-length", "85", "--out", tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "IMG_0001.jpg") as im:  # --format same: a HEIF photo is written as JPEG
        assert (im.format, im.size) == ("JPEG", (64, 48))
    assert "HEIC depth image in IMG_0001.HEIC" in capsys.readouterr().out
