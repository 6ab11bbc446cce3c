"""The depth-aware Glass-Net's export: its conversion graph against the model, then every hop with the defocus map as
a second input, the GPU hop, and bggan-render on the exported files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from bggan.errors import BgganError
from bggan.export.depth_graph import DepthExportGraph, linear_to_srgb, srgb_to_linear
from bggan.export.onnx_file import split_inputs
from bggan.models import GlassNet, save_generator
from bggan.models import defocus as model_defocus
from tests.conftest import gpu_mode

H, W = 48, 80
STACK = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0, 64.0]  # wide disks pooled by up to 8: sizes multiples of 8


def trained_looking(stack=STACK, **kwargs) -> GlassNet:
    """A depth-aware model whose corrections matter (they start at zero) and whose weights are not the init's."""
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=6, n_res=1, norm="instance", init="he", condition="defocus", gate=True, stack=stack,
                     highlight_gain=4.0, **kwargs)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        if model.renderer is not None:
            model.renderer.correction.fill_(0.03)
            model.refine_scale.fill_(0.05)
    return model.eval()


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A photo with clipped highlights and a defocus map: in focus on the left, -30 to 200 px elsewhere."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.uniform(-1, 1, (1, 3, H, W)).astype(np.float32))
    x[..., :8, :12] = 1.0
    d = torch.from_numpy(rng.normal(0, 40, (1, 1, H, W)).astype(np.float32)).clamp(-30, 200)
    d[..., : W // 3] = 0
    return x, d


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(4 / mse)


@pytest.mark.parametrize("kwargs", [{"input_skip": True}, {"stack": None}])
def test_the_graph_computes_what_the_model_computes_and_zero_defocus_is_the_photo(kwargs):
    model = trained_looking(**kwargs)
    graph = DepthExportGraph(model, H, W)
    x, d = inputs()
    with torch.no_grad():
        expected = model(x, d)[0]
        assert psnr(graph(x, d), expected) > 100
        assert not torch.equal(expected, x)
        zeros = torch.zeros_like(d)
        assert torch.equal(graph(x, zeros), x) and torch.equal(model(x, zeros)[0], x)
        if model.renderer is not None:  # negative control: a graph that kept another highlight gain disagrees
            model.renderer.log_highlight_gain.mul_(0.5)
            assert psnr(graph(x, d), model(x, d)[0]) < 60


def test_the_srgb_curves_without_where_match_the_models():
    x = torch.linspace(-1, 1, 20001).reshape(1, 3, -1, 1)[:, :, :6667]
    light = model_defocus.srgb_to_linear(x)
    assert (srgb_to_linear(x) - light).abs().max() < 2e-6
    v = torch.cat([light, light * 4], dim=2)  # past white: clipped
    assert (linear_to_srgb(v) - model_defocus.linear_to_srgb(v)).abs().max() < 2e-5


def test_a_size_the_blur_stack_cannot_pool_is_one_line():
    model = trained_looking(stack=[1.0, 2.0, 128.0])  # pooled by 16
    with pytest.raises(BgganError, match="multiples of 16"):
        DepthExportGraph(model, 40, 80)
    with pytest.raises(BgganError, match="depth-aware"):
        DepthExportGraph(GlassNet(c1=4, c2=6, n_res=1), H, W)


def test_split_inputs_tells_a_defocus_map_from_a_strength_and_refuses_the_rest():
    assert split_inputs({"d": [1, H, W, 1], "im": [1, H, W, 3]}) == ("im", "d")
    assert split_inputs({"im": [1, 3, H, W], "defocus": [1, 1, H, W]}) == ("im", "defocus")
    assert split_inputs({"s": [1, 1, 1, 1], "im": [1, H, W, 3]}) == ("im", "s")
    with pytest.raises(ValueError, match="at most one"):
        split_inputs({"im": [1, H, W, 3], "other": [1, H, W, 2]})
    with pytest.raises(ValueError, match="at most one"):
        split_inputs({"im": [1, H, W, 3], "a": [1, 1, 1, 1], "b": [1, 1, 1, 1]})


# ------------------------------------------------------------------------------- the bridge and the exported files


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tf):
    from bggan.export.config import ExportConfig
    from bggan.export.pipeline import export

    folder = tmp_path_factory.mktemp("depth_export")
    model = trained_looking(input_skip=True)
    save_generator(model, folder / "g.safetensors")
    lines = []
    result = export(ExportConfig(weights=str(folder / "g.safetensors"), out=str(folder / "out"), size=(H, W),
                                 gpu=gpu_mode()), log=lines.append)
    return folder, model, result, lines


def test_every_hop_matches_with_the_defocus_map_as_second_input(exported):
    from bggan.export.runners import tflite_inputs, tflite_interpreter

    folder, _, result, lines = exported
    hops = ["export graph (pool norm, no concat)", "onnx (onnxruntime)", "saved_model", "model_float32.tflite",
            "model_float16.tflite"]
    assert [p.hop for p in result.parity] == hops and all(p.passed for p in result.parity)
    assert all(p.psnr > 100 for p in result.parity[:4])  # float32: rounding only, at every f-number
    assert "each with its defocus map at no blur, f/8, f/2.8, f/1.4" in lines[0]
    assert result.zero_defocus_max_abs == {"model_float32.tflite": 0.0, "model_float16.tflite": 0.0}
    for name, check in result.tflite.items():
        assert check.ops_allowed, name
        assert {"DEPTHWISE_CONV_2D", "RESIZE_BILINEAR", "MAX_POOL_2D", "POW"} <= set(check.ops)
    if result.gpu.status == "ran":
        runs = {(run.file, run.precision): run for run in result.gpu.runs}
        assert all(run.passed and run.fully_accelerated for run in runs.values())
        assert runs["model_float32.tflite", "fp32"].parity.psnr > 100
    image, second = tflite_inputs(tflite_interpreter(folder / "out" / "model_float32.tflite"))
    assert list(image["shape"]) == [1, H, W, 3] and list(second["shape"]) == [1, H, W, 1]
    assert "its second input, `defocus`" in (folder / "out" / "report.md").read_text()


@pytest.mark.parametrize("backend", ["onnx", "tflite", "tflite-gpu"])
def test_bggan_render_takes_the_depth_on_every_exported_backend(exported, tmp_path, backend, capsys):
    from bggan.cli.common import run_command
    from bggan.cli.render import main

    if backend == "tflite-gpu" and exported[2].gpu.status != "ran":
        pytest.skip("no GPU runtime")
    folder, _, _, _ = exported
    photo = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    depth = np.where(np.arange(W)[None, :] < W // 2, 2.0, 20.0).repeat(H, 0).astype(np.float32)
    np.save(tmp_path / "depth.npy", depth)

    def render(weights, out, *extra):
        args = [tmp_path / "photo.png", "--weights", weights, "--depth", tmp_path / "depth.npy", "--focus", "2",
                "--focal-length", "85", "--out", tmp_path / out, *extra]
        assert run_command("bggan-render", main, [str(a) for a in args]) == 0
        return np.asarray(Image.open(tmp_path / out / "photo.png")).astype(int)

    exported_out = render(folder / "out", "exported", "--backend", backend, "--aperture", "1.4",
                          *(["--gpu-precision", "fp32"] if backend == "tflite-gpu" else []))
    torch_out = render(folder / "g.safetensors", "torch", "--aperture", "1.4")
    assert np.abs(exported_out - torch_out).max() <= 1  # the same picture, to 8-bit rounding
    assert not (exported_out[:, W // 2 + 5:] == photo[:, W // 2 + 5:]).all()  # behind the focus: blurred
    assert "depth-aware" in capsys.readouterr().out
    if backend == "tflite":  # no blur is the photo, exactly; and a photo larger than the export renders in tiles
        assert (render(folder / "out", "sharp", "--backend", backend, "--aperture", "inf") == photo).all()
        big = np.random.default_rng(4).integers(0, 256, (2 * H, 2 * W, 3), dtype=np.uint8)
        Image.fromarray(big).save(tmp_path / "photo.png")
        np.save(tmp_path / "depth.npy", np.repeat(np.repeat(depth, 2, 0), 2, 1))
        tiled = render(folder / "out", "tiled", "--backend", backend, "--aperture", "inf")
        assert (tiled == big).all()


def test_a_size_the_generator_cannot_take_is_refused_before_any_work(tmp_path):
    import subprocess

    from tests.conftest import console_script

    save_generator(trained_looking(stack=[1.0, 2.0, 128.0]), tmp_path / "g.safetensors")
    run = subprocess.run([console_script("bggan-export"), f"weights={tmp_path / 'g.safetensors'}", "size=[40,80]",
                          f"out={tmp_path / 'out'}"], check=False, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "multiples of 16 for this generator" in run.stderr
    assert not (tmp_path / "out").exists()


def test_reciprocal_takes_only_four_channel_maps():
    from bggan.export.depth_graph import reciprocal

    four = torch.full((1, 4, 2, 2), 4.0)
    assert torch.allclose(reciprocal(four), torch.full_like(four, 0.25))
    with pytest.raises(ValueError, match="4 channels"):
        reciprocal(torch.ones(1, 3, 2, 2))


class RsqrtThenConv(torch.nn.Module):
    """``conv1x1(rsqrt(conv1x1(x)))`` through ``channels`` channels; input and output ``(1, 3, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.height, self.width, self.condition, self.channels = H, W, None, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from bggan.export.depth_graph import affine

        y = torch.rsqrt(affine(x, torch.full((self.channels, 3), 0.1), [0.5] * self.channels))
        return affine(y, torch.full((3, self.channels), 0.3), [0.1] * 3)


def test_why_rsqrt_takes_four_channels_on_the_gpu(tmp_path, tf, gpu_runtime):
    """The hazard :func:`reciprocal` avoids, on LiteRT's GPU accelerator: RSQRT of a 5-channel map, then a
    convolution, is NaN (the unused channels of the second 4-channel slice hold 0, rsqrt(0) = inf, times a zero
    weight); of a 4-channel map it is right. Should a LiteRT release fix it, this fails and the rule can go."""
    from bggan.export.onnx_file import write_onnx
    from bggan.export.runners import run_torch
    from bggan.export.tf_model import onnx2tf_samples, onnx_to_keras, save_saved_model, write_tflite
    from bggan.litert_gpu import GpuModel

    x = np.random.default_rng(0).uniform(-1, 1, (1, H, W, 3)).astype(np.float32)
    errors = {}
    for channels in (4, 5):
        model, work = RsqrtThenConv(channels), tmp_path / str(channels)
        replacements = write_onnx(model, work / "m.onnx") if work.mkdir() is None else None
        keras = onnx_to_keras(work / "m.onnx", replacements, work / "tf",
                              onnx2tf_samples([((x[0] + 1) * 127.5).astype(np.uint8)]))
        save_saved_model(keras, work / "saved_model", H, W)
        write_tflite(work / "saved_model", work / "m.tflite", "float32")
        with GpuModel(work / "m.tflite", "fp32", gpu_runtime) as gpu:
            assert gpu.fully_accelerated
            (y,) = gpu.run(x).values()
        errors[channels] = float(np.abs(y - run_torch(model, x)).max())
    assert errors[4] < 1e-5
    assert not errors[5] < 1e-3  # NaN, or wrong
