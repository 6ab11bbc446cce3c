import hashlib

import pytest
import torch

from bggan.errors import BgganError
from bggan.models.vgg import RELU5_4, fetch_vgg19_weights, load_vgg19_features, vgg19_features

# torchvision's vgg19().features: a conv at each of these indices, 20,024,384 parameters in all
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def _torchvision_like_file(path):
    """A state dict shaped like torchvision's vgg19 file: features.* and classifier.*, random values."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg19_features(36).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, path)
    return state


def test_layout_matches_torchvision_up_to_relu5_4():
    full = vgg19_features(36)
    assert sum(p.numel() for p in full.parameters()) == 20_024_384
    assert [i for i, m in enumerate(full) if isinstance(m, torch.nn.Conv2d)] == CONV_INDICES
    assert isinstance(full[RELU5_4], torch.nn.ReLU) and isinstance(full[36], torch.nn.MaxPool2d)
    assert len(vgg19_features()) == RELU5_4 + 1
    assert vgg19_features()(torch.rand(1, 3, 32, 32)).shape == (1, 512, 2, 2)  # 4 pools before relu5_4


def test_loads_a_local_file_by_key_frozen(tmp_path):
    state = _torchvision_like_file(tmp_path / "vgg19.pth")
    features = load_vgg19_features(tmp_path / "vgg19.pth")
    assert torch.equal(features[34].weight, state["features.34.weight"])
    assert not features.training and not any(p.requires_grad for p in features.parameters())


def test_bad_local_files_are_one_clear_error(tmp_path):
    with pytest.raises(BgganError, match="no such file"):
        load_vgg19_features(tmp_path / "none.pth")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(BgganError, match="not a PyTorch weights file"):
        load_vgg19_features(tmp_path / "text.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(BgganError, match="missing features.0.bias"):
        load_vgg19_features(tmp_path / "partial.pth")
    state = {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}
    state["features.34.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(BgganError, match="features.34.weight has shape"):
        load_vgg19_features(tmp_path / "shape.pth")


def test_hub_cache_is_used_and_its_hash_checked(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    (hub / "checkpoints").mkdir(parents=True)
    staging = tmp_path / "vgg.pth"
    _torchvision_like_file(staging)
    prefix = hashlib.sha256(staging.read_bytes()).hexdigest()[:8]
    name = f"vgg19-{prefix}.pth"
    url = f"http://127.0.0.1:9/{name}"  # nothing listens there: any download attempt fails at once
    with pytest.raises(BgganError, match="could not be downloaded.*loss.vgg_weights="):
        fetch_vgg19_weights(url)
    cached = hub / "checkpoints" / name
    staging.rename(cached)
    assert fetch_vgg19_weights(url) == cached
    cached.write_bytes(cached.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BgganError, match=f"SHA-256 does not start with {prefix}"):
        fetch_vgg19_weights(url)
