import json
import os

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from safetensors.torch import save_file

from bggan.errors import BgganError
from bggan.files import atomic_output
from bggan.lit import AdversarialModule, AtomicCheckpointIO, PretrainModule
from bggan.losses import GeneratorLoss
from bggan.models import GlassNet
from bggan.models.weights import load_generator, read_generator_config, read_generator_state, save_generator
from tests.lit.common import LIGHTNING_NOISE, loader, make_trainer, tiny_critic, tiny_generator


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
    with pytest.raises(BgganError, match="cannot be written: .*file is a file"):
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
    with pytest.raises(BgganError, match="is a text file, not a generator .safetensors"):
        load_generator(text)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, bare)
    with pytest.raises(BgganError, match="a safetensors file, but not a bggan generator"):
        load_generator(bare)
    cut = tmp_path / "cut.safetensors"
    save_generator(tiny_glassnet, cut)
    cut.write_bytes(cut.read_bytes()[:-100])  # a download that stopped early
    with pytest.raises(BgganError, match="damaged safetensors file"):
        load_generator(cut)


def test_a_generator_file_is_read_by_its_bytes_not_its_name(tmp_path, tiny_glassnet, trained_checkpoints):
    save_generator(tiny_glassnet, tmp_path / "g.bin")
    assert load_generator(tmp_path / "g.bin").config == tiny_glassnet.config
    ckpt = trained_checkpoints[False][1]
    (tmp_path / "g.pt").write_bytes(ckpt.read_bytes())
    assert read_generator_config(tmp_path / "g.pt") == read_generator_config(ckpt) == tiny_generator().config
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.safetensors", format="PNG")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07\x12\x07pytorch")
    (tmp_path / "folder.ckpt").mkdir()
    (tmp_path / "empty.safetensors").touch()
    for name, kind in (("photo.safetensors", "a PNG image"), ("model.onnx", "an ONNX model"),
                       ("folder.ckpt", "a folder"), ("empty.safetensors", "an empty file")):
        with pytest.raises(BgganError, match=f"{name} is {kind}, not a generator"):
            load_generator(tmp_path / name)


def test_tensors_that_do_not_fit_the_config_are_rejected(tmp_path, tiny_glassnet):
    state = {k: v.contiguous() for k, v in tiny_glassnet.state_dict().items()}
    lying = {"format": "bggan.glassnet", "config": json.dumps({**tiny_glassnet.config, "c2": 8})}
    path = tmp_path / "lying.safetensors"
    save_file(state, path, metadata=lying)
    with pytest.raises(BgganError, match="weights do not match"):
        load_generator(path)


# ----------------------------------------------------------------- training checkpoints (.ckpt)


@pytest.fixture(scope="module")
def trained_checkpoints(tmp_path_factory):
    """``{ema: (module, last.ckpt)}`` of two tiny pretraining runs, 2 steps each, with and without EMA."""
    runs = {}
    for ema in (True, False):
        root = tmp_path_factory.mktemp(f"run_ema_{ema}")
        module = PretrainModule(tiny_generator(), GeneratorLoss(), lr=1e-2, ema_decay=0.5 if ema else None)
        checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", save_last=True)
        trainer = make_trainer(root, enable_checkpointing=True, callbacks=[checkpoint],
                               plugins=[AtomicCheckpointIO()])
        trainer.fit(module, loader(n=2, batch_size=1))
        runs[ema] = module, root / "checkpoints" / "last.ckpt"
    return runs


def _outputs(model, x):
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.filterwarnings(*LIGHTNING_NOISE)
def test_training_checkpoints_load_the_ema_generator_by_default(trained_checkpoints):
    module, path = trained_checkpoints[True]
    x = torch.rand(1, 3, 24, 40) * 2 - 1
    ema, own = _outputs(module.ema.module, x), _outputs(module.generator, x)
    assert not torch.equal(ema[0], own[0])  # two steps apart: the test can tell them apart
    loaded = load_generator(path)
    assert not loaded.training and loaded.config == module.generator.config
    for a, b in zip(_outputs(loaded, x), ema, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(_outputs(load_generator(path, prefer_ema=False), x), own, strict=True):
        assert torch.equal(a, b)


@pytest.mark.filterwarnings(*LIGHTNING_NOISE)
def test_training_checkpoints_without_ema_load_the_generator(trained_checkpoints):
    module, path = trained_checkpoints[False]
    config, state = read_generator_state(path)
    assert config == module.generator.config
    assert state.keys() == module.generator.state_dict().keys()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    for a, b in zip(_outputs(load_generator(path), x), _outputs(module.generator, x), strict=True):
        assert torch.equal(a, b)


@pytest.mark.filterwarnings(*LIGHTNING_NOISE)
def test_an_ema_never_updated_is_not_exported(tmp_path):
    # n_critic=3 over 2 batches: no generator step, so no EMA update; the generator gets other weights after the
    # EMA copied it, as train.py's init_from does. Validation scores the generator: export must take it too.
    module = AdversarialModule(tiny_generator(), GeneratorLoss(w_adv=1.0), tiny_critic(), n_critic=3, ema_decay=0.9)
    module.generator.load_state_dict(tiny_generator(seed=5).state_dict())
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    make_trainer(tmp_path, enable_checkpointing=True, callbacks=[checkpoint]).fit(module, loader(n=4, batch_size=2))
    assert int(module.ema.n_averaged) == 0 and module.inference_generator is module.generator
    loaded = load_generator(tmp_path / "last.ckpt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                  module.generator.state_dict().values(), strict=True))


def test_other_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(BgganError, match="no such file"):
        read_generator_state(tmp_path / "missing.ckpt")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2)}, "epoch": 0}, foreign)
    with pytest.raises(BgganError, match="a PyTorch checkpoint, but not one bggan-train wrote") as info:
        load_generator(foreign)
    assert "\n" not in str(info.value) and str(foreign) in str(info.value)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BgganError, match="is a text file, not a generator") as info:
        load_generator(garbage)
    assert "\n" not in str(info.value)
    a_list = tmp_path / "list.ckpt"
    torch.save([1, 2], a_list)
    with pytest.raises(BgganError, match="not one bggan-train wrote"):
        read_generator_state(a_list)
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"PK\x03\x04" + bytes(60))  # a zip header and nothing after
    with pytest.raises(BgganError, match="not a readable training checkpoint"):
        read_generator_state(broken)
