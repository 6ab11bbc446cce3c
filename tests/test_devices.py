import pytest
import torch

from bggan.devices import pick_device
from bggan.errors import BgganError


def test_auto_picks_cuda_only_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == pick_device(None) == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")


def test_bad_names_and_missing_cuda_are_one_line_errors(monkeypatch):
    with pytest.raises(BgganError, match="not a device name"):
        pick_device("nonsense")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BgganError, match="CUDA is not available"):
        pick_device("cuda:1")


def test_render_and_eval_share_the_choice(monkeypatch, tmp_path):
    from bggan.models import GlassNet, save_generator
    from bggan.render.backends import TorchBackend

    weights = save_generator(GlassNet(c1=4, c2=4, n_res=1), tmp_path / "g.safetensors")
    with pytest.raises(BgganError, match="not a device name"):
        TorchBackend(weights, "nonsense")
    assert TorchBackend(weights, "cpu").device == torch.device("cpu")
