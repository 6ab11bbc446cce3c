"""Proof of fidelity: released-layout TF checkpoint -> PyTorch, checked against a tf.nn forward pass."""

import numpy as np
import pytest
import torch

from bggan.errors import BgganError
from bggan.models.tf_checkpoint import import_tf_checkpoint
from tests.tf_reference import glassnet_tf, random_weights, released_layers, write_checkpoint

pytestmark = pytest.mark.export


@pytest.fixture(scope="module")
def released_weights():
    return random_weights(released_layers(16, 24, 9), seed=1)


def _photo_like(h, w, seed=0):
    """Smooth colour fields plus edges and a little noise: more like a photo than white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in (0.0, 1.0, 2.0)], -1) * 0.6
    img[h // 3: 2 * h // 3, w // 4: w // 2] = [0.8, -0.5, 0.1]
    return (img + rng.normal(0, 0.05, img.shape)).clip(-1, 1).astype(np.float32)[None]


@pytest.mark.parametrize("scheme", ["keras2", "keras3"])
def test_imported_model_matches_independent_tensorflow_forward(tf, tmp_path, released_weights, scheme):
    ckpt = write_checkpoint(tf, str(tmp_path), released_weights, scheme)
    imported = import_tf_checkpoint(tmp_path)
    assert imported.n_variables == 59
    assert imported.key_scheme == ("layer_with_weights" if scheme == "keras2" else "_operations")
    assert imported.model.config["c2"] == 24
    assert import_tf_checkpoint(ckpt).n_variables == 59  # a checkpoint prefix works as well as its folder

    for h, w in [(64, 96), (40, 56)]:  # even sizes: every stride-2 conv pads asymmetrically
        x = _photo_like(h, w)
        tf_final, tf_rough = glassnet_tf(tf, x, released_weights, n_res=9)
        with torch.no_grad():
            final, rough = imported.model(torch.from_numpy(x).permute(0, 3, 1, 2))
        final, rough = final.permute(0, 2, 3, 1).numpy(), rough.permute(0, 2, 3, 1).numpy()
        assert tf_final.std() > 0.1 and tf_rough.std() > 0.1  # outputs with a realistic spread
        assert np.abs(final - tf_final).max() < 1e-4
        assert np.abs(rough - tf_rough).max() < 1e-4


def test_pytorch_default_padding_would_be_caught(tf, tmp_path, released_weights):
    """The reference is sensitive to the trap this port avoids: symmetric padding shifts the output."""
    write_checkpoint(tf, str(tmp_path), released_weights)
    model = import_tf_checkpoint(tmp_path).model
    for conv in model.released_layer_order():
        if isinstance(conv, torch.nn.Conv2d) and conv.stride == (2, 2):
            conv.forward = lambda x, c=conv: torch.nn.functional.conv2d(x, c.weight, c.bias, 2, 1)
    x = _photo_like(64, 96)
    tf_final, _ = glassnet_tf(tf, x, released_weights, n_res=9)
    with torch.no_grad():
        final, _ = model(torch.from_numpy(x).permute(0, 3, 1, 2))
    assert np.abs(final.permute(0, 2, 3, 1).numpy() - tf_final).max() > 1e-2


def test_paper_variant_is_inferred_from_shapes(tf, tmp_path):
    write_checkpoint(tf, str(tmp_path), random_weights(released_layers(16, 32, 9)), "keras3")
    model = import_tf_checkpoint(tmp_path).model
    assert model.config["c2"] == 32
    assert sum(p.numel() for p in model.parameters()) == 16_027_856


def test_generator_under_another_name(tf, tmp_path):
    weights = random_weights(released_layers(4, 6, 1))
    write_checkpoint(tf, str(tmp_path), weights, prefix="g_ema")
    with pytest.raises(BgganError, match=r"no 'generator/' layer variables \(top-level objects: g_ema\)"):
        import_tf_checkpoint(tmp_path)
    assert import_tf_checkpoint(tmp_path, prefix="g_ema").model.config["n_res"] == 1


def _broken(kind):
    weights = random_weights(released_layers(4, 6, 1))
    if kind == "missing layer":
        del weights[5]
    elif kind == "extra layer":
        weights.append(weights[-1])
    elif kind == "missing bias":
        weights[-4] = (weights[-4][0], None)
    elif kind == "extra bias":
        weights[0] = (weights[0][0], np.zeros(3, np.float32))
    elif kind == "shape":
        weights[5] = (weights[5][0][:, :, :5], None)
    elif kind == "3-D kernel":
        weights[3] = (weights[3][0][..., 0], None)
    elif kind == "bias shape":
        weights[-4] = (weights[-4][0], np.zeros(7, np.float32))
    return weights


@pytest.mark.parametrize(("kind", "message"), [
    ("missing layer", r"found 20 layers with weights; a Glass-Net has 17 \+ 4 \* n_res"),
    ("extra layer", "found 22 layers"),
    ("missing bias", r"layer_with_weights-17/kernel \(a transposed conv\) has no bias variable"),
    ("extra bias", r"unexpected variable generator/layer_with_weights-0/bias"),
    ("shape", r"layer_with_weights-5/kernel has shape \[3, 3, 5, 32\], expected \[3, 3, 32, 32\]"),
    ("bias shape", r"layer_with_weights-17/bias has shape \[7\], expected \[24\]"),
    ("3-D kernel", r"the kernel of layer 3 has shape \[3, 3, 16\], expected 4-D"),
])
def test_mismatched_checkpoints_are_rejected(tf, tmp_path, kind, message):
    write_checkpoint(tf, str(tmp_path), _broken(kind))
    with pytest.raises(BgganError, match=message):
        import_tf_checkpoint(tmp_path)


def test_not_a_checkpoint(tf, tmp_path):
    with pytest.raises(BgganError, match="no such file or folder"):
        import_tf_checkpoint(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BgganError, match="a folder without a TensorFlow checkpoint"):
        import_tf_checkpoint(tmp_path)
    with pytest.raises(BgganError, match="notes.txt is a text file, not a TensorFlow checkpoint"):
        import_tf_checkpoint(tmp_path / "notes.txt")
    (tmp_path / "ckpt-1.index").write_text("not an index")  # looks like one by its name: TensorFlow reads it
    with pytest.raises(BgganError, match="not a readable TensorFlow checkpoint"):
        import_tf_checkpoint(tmp_path / "ckpt-1")
