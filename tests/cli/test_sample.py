import subprocess

import numpy as np
from PIL import Image

from bggan.cli import sample
from bggan.cli.common import run_command
from bggan.models.weights import save_generator
from tests.conftest import console_script


def _run(argv):
    return run_command(sample.PROG, sample.main, argv)


def test_renders_a_panel_with_random_weights_and_says_so(tmp_path, capsys):
    out = tmp_path / "panel.png"
    assert _run(["--size", "40x64", "--out", str(out)]) == 0
    assert "RANDOM weights" in capsys.readouterr().out
    panel = np.asarray(Image.open(out))
    assert panel.shape == (40, 3 * 64, 3)
    assert np.abs(panel[:, :64].astype(int) - panel[:, 128:].astype(int)).mean() > 1  # output differs from input


def test_uses_given_weights_and_image(tmp_path, capsys, tiny_glassnet):
    weights = save_generator(tiny_glassnet, tmp_path / "g.safetensors")
    photo = tmp_path / "photo.jpg"
    Image.fromarray(sample.sample_scene(30, 45)).save(photo)
    out = tmp_path / "panel.png"
    assert _run(["--weights", str(weights), "--image", str(photo), "--out", str(out)]) == 0
    assert "RANDOM" not in capsys.readouterr().out
    assert Image.open(out).size == (3 * 45, 30)


def test_sample_scene_is_deterministic_and_not_flat():
    a, b = sample.sample_scene(64, 96, seed=3), sample.sample_scene(64, 96, seed=3)
    assert np.array_equal(a, b) and a.dtype == np.uint8 and a.std() > 20
    assert not np.array_equal(a, sample.sample_scene(64, 96, seed=4))


def test_bad_inputs(tmp_path, capsys):
    out = tmp_path / "panel.png"
    out.write_bytes(b"keep")
    assert _run(["--size", "40x64", "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    for argv in (["--image", str(fake)], ["--image", str(tiny)], ["--size", "big"], ["--size", "4x4"],
                 ["--weights", str(fake)], ["--image", str(tmp_path / "missing.jpg")]):
        assert _run([*argv, "--out", str(tmp_path / "new.png")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bggan-sample: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "new.png").exists()


def test_console_script_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([console_script("bggan-sample"), "--image", str(tmp_path / "missing.jpg"),
                           "--out", str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_weights_with_the_aperture_as_input_render_at_the_f_number_given(tmp_path, capsys):
    import torch

    from bggan.models import GlassNet

    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, init="he", condition="channel")
    with torch.no_grad():
        model.refine.encoder[0][0].weight[:, -1] *= 50  # make the strength channel matter
    weights = save_generator(model, tmp_path / "c.safetensors")
    panels = {}
    for f in ("16", "1.4"):
        out = tmp_path / f"{f}.png"
        assert _run(["--weights", str(weights), "--size", "32x48", "--out", str(out), "--aperture", f]) == 0
        panels[f] = np.asarray(Image.open(out)).astype(int)[:, 96:]  # the final output
    assert np.abs(panels["16"] - panels["1.4"]).mean() > 2
    for extra, message in (([], "pass --aperture F"), (["--aperture", "-2"], "positive number")):
        assert _run(["--weights", str(weights), "--size", "32x48", "--out", str(tmp_path / "x.png"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("bggan-sample: error:") and "\n" not in err and message in err
    assert _run(["--size", "32x48", "--out", str(tmp_path / "y.png"), "--aperture", "2.8"]) == 2
    assert "--aperture needs a model trained with the aperture" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
