import json
import os

import pytest
import torch
from safetensors.torch import save_file

from bggan.errors import BgganError
from bggan.files import atomic_output
from bggan.models import GlassNet
from bggan.models.weights import load_generator, read_generator_config, save_generator


def test_round_trip_keeps_weights_config_and_outputs(tmp_path, tiny_glassnet):
    model = GlassNet(c1=4, c2=6, n_res=2, norm="instance", init="he").eval()
    path = save_generator(model, tmp_path / "g.safetensors", metadata={"source": "test"})
    loaded = load_generator(path)
    assert not loaded.training
    assert loaded.config == model.config
    x = torch.rand(1, 3, 24, 32) * 2 - 1
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    assert read_generator_config(path)["norm"] == "instance"


def test_refuses_to_overwrite_unless_asked(tmp_path, tiny_glassnet):
    path = tmp_path / "g.safetensors"
    path.write_bytes(b"precious")
    with pytest.raises(BgganError, match="exists; pass --overwrite"):
        save_generator(tiny_glassnet, path)
    assert path.read_bytes() == b"precious"
    save_generator(tiny_glassnet, path, overwrite=True)
    assert load_generator(path).config == tiny_glassnet.config


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_output(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_clear_error(tmp_path, tiny_glassnet):
    with pytest.raises(BgganError, match="does not exist"):
        save_generator(tiny_glassnet, tmp_path / "nope" / "g.safetensors")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BgganError, match="does not exist"):
        save_generator(tiny_glassnet, tmp_path / "file" / "g.safetensors")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder_is_a_clear_error(tmp_path, tiny_glassnet):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(BgganError, match="not writable"):
            save_generator(tiny_glassnet, tmp_path / "g.safetensors")
    finally:
        tmp_path.chmod(0o700)


def test_bad_files_are_clear_errors(tmp_path, tiny_glassnet):
    with pytest.raises(BgganError, match="no such file"):
        load_generator(tmp_path / "missing.safetensors")
    text = tmp_path / "text.safetensors"
    text.write_text("hello, not weights")
    with pytest.raises(BgganError, match="not a safetensors file"):
        load_generator(text)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, bare)
    with pytest.raises(BgganError, match="not a bggan generator file"):
        load_generator(bare)


def test_tensors_that_do_not_fit_the_config_are_rejected(tmp_path, tiny_glassnet):
    state = {k: v.contiguous() for k, v in tiny_glassnet.state_dict().items()}
    lying = {"format": "bggan.glassnet", "config": json.dumps({**tiny_glassnet.config, "c2": 8})}
    path = tmp_path / "lying.safetensors"
    save_file(state, path, metadata=lying)
    with pytest.raises(BgganError, match="weights do not match"):
        load_generator(path)
