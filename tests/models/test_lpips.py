import copy
import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import bggan.models.lpips as lp
from bggan.errors import BgganError
from bggan.models.lpips import LPIPS, fetch_alexnet_weights, find_lin_weights, find_lpips, load_lpips

CHANNELS = [64, 192, 384, 256, 256]


def _backbone_file(path, seed=0):
    """Shaped like torchvision's alexnet file: features.* and classifier.*, random values."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in lp.alexnet_features().state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(2, 2)
    torch.save(state, path)
    return state


def _lin_file(path, seed=1, ones=False):
    """Shaped like lpips' weights/v0.1/alex.pth: non-negative (1, C, 1, 1) weights."""
    gen = torch.Generator().manual_seed(seed)
    state = {f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1) if ones else torch.rand(1, c, 1, 1, generator=gen)
             for i, c in enumerate(CHANNELS)}
    torch.save(state, path)
    return state


@pytest.fixture
def files(tmp_path):
    backbone, lin = tmp_path / "alexnet.pth", tmp_path / "alex.pth"
    return backbone, _backbone_file(backbone), lin, _lin_file(lin)


@pytest.fixture
def model(files):
    return load_lpips(files[2], files[0])


def _images(n=2, size=64, seed=3):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_layout_matches_torchvision_alexnet():
    features = lp.alexnet_features()
    assert [i for i, m in enumerate(features) if isinstance(m, torch.nn.Conv2d)] == [0, 3, 6, 8, 10]
    assert sum(p.numel() for p in features.parameters()) == 2_469_696  # torchvision's alexnet().features
    assert all(isinstance(features[i], torch.nn.ReLU) for i in lp.TAPS)
    taps = LPIPS().taps(_images(2, 64))
    assert [tuple(t.shape) for t in taps] == [(2, 64, 15, 15), (2, 192, 7, 7), (2, 384, 3, 3), (2, 256, 3, 3),
                                              (2, 256, 3, 3)]
    assert LPIPS().taps(_images(1, 224))[0].shape[-1] == 55  # torchvision's AlexNet: 55x55 after conv1 at 224


def test_loads_files_by_key_frozen(files, model):
    _, backbone, _, lin = files
    assert torch.equal(model.features[10].weight, backbone["features.10.weight"])
    assert torch.equal(model.features[3].bias, backbone["features.3.bias"])
    assert torch.equal(model.lins[2].weight, lin["lin2.model.1.weight"])
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert set(model.state_dict()) == {f"features.{i}.{w}" for i in (0, 3, 6, 8, 10) for w in ("weight", "bias")} \
        | {f"lins.{i}.weight" for i in range(5)}


def test_distance_properties(model):
    a, b = _images(3, 64, seed=3), _images(3, 64, seed=4)
    d = model(a, b)
    assert d.shape == (3,) and bool((d > 0).all())
    assert torch.equal(model(a, a), torch.zeros(3))
    torch.testing.assert_close(model(b, a), d)
    batch_alone = torch.cat([model(a[i:i + 1], b[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch_alone, d)
    noise = torch.randn(a.shape, generator=torch.Generator().manual_seed(5))
    by_level = [model(a, a + s * noise).mean().item() for s in (0.02, 0.1, 0.4)]
    assert 0 < by_level[0] < by_level[1] < by_level[2]


def test_gradients_reach_the_inputs_only(model):
    a = _images(1, 48).requires_grad_(True)
    model(a, _images(1, 48, seed=9)).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_rejects_bad_shapes(model):
    assert model(_images(1, 31), _images(1, 31, seed=4)).shape == (1,)
    for a, b in [(_images(1, 30), _images(1, 30)), (_images(1, 64), _images(2, 64)),
                 (torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64))]:
        with pytest.raises(ValueError, match="LPIPS takes two"):
            model(a, b)


def _reference(backbone, lin, a, b):
    """LPIPS written out with torch.nn.functional, straight from the two state dicts."""
    def conv(x, i, **kw):
        return F.relu(F.conv2d(x, backbone[f"features.{i}.weight"], backbone[f"features.{i}.bias"], **kw))

    def taps(x):
        x = (x - torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)) / torch.tensor([0.458, 0.448, 0.450]).view(
            1, 3, 1, 1)
        t1 = conv(x, 0, stride=4, padding=2)
        t2 = conv(F.max_pool2d(t1, 3, 2), 3, padding=2)
        t3 = conv(F.max_pool2d(t2, 3, 2), 6, padding=1)
        t4 = conv(t3, 8, padding=1)
        return [t1, t2, t3, t4, conv(t4, 10, padding=1)]

    total = torch.zeros(a.shape[0], dtype=torch.float64)
    for k, (fa, fb) in enumerate(zip(taps(a), taps(b))):
        na = fa.double() / (fa.double().norm(dim=1, keepdim=True) + 1e-10)
        nb = fb.double() / (fb.double().norm(dim=1, keepdim=True) + 1e-10)
        w = lin[f"lin{k}.model.1.weight"].double().view(1, -1, 1, 1)
        total += (w * (na - nb) ** 2).sum(dim=1).mean(dim=(1, 2))
    return total


def test_matches_a_straightforward_computation(tmp_path, files):
    backbone = files[1]
    for ones in (True, False):
        lin = _lin_file(tmp_path / "lin.pth", seed=7, ones=ones)
        model = load_lpips(tmp_path / "lin.pth", files[0])
        a, b = _images(2, 40, seed=11), _images(2, 40, seed=12)
        torch.testing.assert_close(model(a, b).double(), _reference(backbone, lin, a, b), rtol=1e-5, atol=1e-7)


def test_matches_torchmetrics_copy_of_the_lpips_code(monkeypatch, files, model):
    """torchmetrics' _LPIPS is lpips' code; its torchvision backbone is swapped for ours (same weights)."""
    tm = pytest.importorskip("torchmetrics.functional.image.lpips")
    monkeypatch.setattr(tm, "_get_tv_model_features", lambda net, pretrained=False: copy.deepcopy(model.features))
    reference = tm._LPIPS(pretrained=True, net="alex", model_path=str(files[2])).eval()
    a, b = _images(3, 64, seed=21), _images(3, 64, seed=22)
    # torchmetrics puts its eps (1e-8) under the square root where lpips adds 1e-10 outside: a tiny difference
    torch.testing.assert_close(model(a, b), reference(a, b).flatten(), rtol=1e-4, atol=1e-6)
    assert "torchvision" not in sys.modules


def test_bad_files_are_one_clear_error(tmp_path, files):
    backbone, backbone_state, lin, lin_state = files
    with pytest.raises(BgganError, match=f"{tmp_path / 'none.pth'}: no such file"):
        load_lpips(tmp_path / "none.pth", backbone)
    with pytest.raises(BgganError, match=f"{tmp_path / 'none.pth'}: no such file"):
        load_lpips(lin, tmp_path / "none.pth")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(BgganError, match="text.pth: not a PyTorch weights file"):
        load_lpips(tmp_path / "text.pth", backbone)
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(BgganError, match="list.pth: not a state dict"):
        load_lpips(lin, tmp_path / "list.pth")
    torch.save({k: v for k, v in lin_state.items() if "lin3" not in k}, tmp_path / "lin3.pth")
    with pytest.raises(BgganError, match=r"lin3.pth: not LPIPS .* \(missing lin3.model.1.weight\)"):
        load_lpips(tmp_path / "lin3.pth", backbone)
    torch.save(lin_state | {"lin1.model.1.weight": torch.ones(1, 64, 1, 1)}, tmp_path / "shape.pth")
    with pytest.raises(BgganError, match=r"shape.pth: lin1.model.1.weight has shape \(1, 64, 1, 1\), expected "
                                         r"\(1, 192, 1, 1\)"):
        load_lpips(tmp_path / "shape.pth", backbone)
    torch.save(lin_state | {"lin0.model.1.weight": -torch.ones(1, 64, 1, 1)}, tmp_path / "neg.pth")
    with pytest.raises(BgganError, match="neg.pth: negative lin weights"):
        load_lpips(tmp_path / "neg.pth", backbone)
    torch.save({k: v for k, v in backbone_state.items() if k != "features.8.bias"}, tmp_path / "alex8.pth")
    with pytest.raises(BgganError, match=r"alex8.pth: not AlexNet .* \(missing features.8.bias\)"):
        load_lpips(lin, tmp_path / "alex8.pth")
    # a VGG-like first conv: right key, wrong shape
    torch.save(backbone_state | {"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "vgg.pth")
    with pytest.raises(BgganError, match="vgg.pth: features.0.weight has shape"):
        load_lpips(lin, tmp_path / "vgg.pth")


def test_hub_cache_is_used_and_its_hash_checked(tmp_path, monkeypatch, files):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    prefix = hashlib.sha256(files[0].read_bytes()).hexdigest()[:8]
    name = f"alexnet-owt-{prefix}.pth"
    # nothing listens on port 9: any download attempt fails at once
    monkeypatch.setattr(lp, "ALEXNET_URL", f"http://127.0.0.1:9/{name}")
    cached = hub / "checkpoints" / name
    with pytest.raises(BgganError, match=f"not in torch.hub's cache \\({cached}\\)"):
        fetch_alexnet_weights(download=False)
    with pytest.raises(BgganError, match="could not be downloaded"):
        fetch_alexnet_weights()
    model, note = find_lpips(files[2])
    assert model is None and note.startswith("LPIPS skipped: the AlexNet weights are not in torch.hub's cache")
    files[0].rename(cached)
    assert fetch_alexnet_weights() == cached
    assert torch.equal(load_lpips(files[2]).features[0].weight, files[1]["features.0.weight"])
    model, note = find_lpips(files[2])
    assert isinstance(model, LPIPS) and "torch.hub's cache" in note and str(files[2]) in note
    cached.write_bytes(cached.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BgganError, match=f"SHA-256 does not start with {prefix}"):
        load_lpips(files[2])


def test_lin_weights_found_in_the_lpips_package_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "site" / "lpips"
    (package / "weights" / "v0.1").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('lpips was imported')\n")  # as if it pulled torchvision
    _lin_file(package / "weights" / "v0.1" / "alex.pth")
    monkeypatch.delitem(sys.modules, "lpips", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert find_lin_weights() == package / "weights" / "v0.1" / "alex.pth"
    assert "lpips" not in sys.modules


def test_find_lpips_without_any_lin_weights(tmp_path, monkeypatch, files):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    assert find_lin_weights() is None
    model, note = find_lpips(backbone_weights=files[0])
    assert model is None and note.startswith("LPIPS skipped:") and "pip install lpips" in note
    with pytest.raises(BgganError, match="lin weights were not found"):
        load_lpips(backbone_weights=files[0])
    model, note = find_lpips(files[2], files[0])  # explicit paths need no package
    assert isinstance(model, LPIPS) and str(files[2]) in note and str(files[0]) in note
    model, note = find_lpips(tmp_path / "gone.pth", files[0])
    assert model is None and note == f"LPIPS skipped: {tmp_path / 'gone.pth'}: no such file"


def test_the_lin_weights_torchmetrics_ships_load(tmp_path, files):
    """The real, released lin file (torchmetrics' copy of lpips' v0.1 alex.pth, saved from CUDA tensors)."""
    folders = importlib.util.find_spec("torchmetrics").submodule_search_locations
    real = Path(folders[0]) / "functional/image/lpips_models/alex.pth"
    if not real.is_file():
        pytest.skip("this torchmetrics does not ship alex.pth")
    model = load_lpips(real, files[0])
    weights = [lin.weight for lin in model.lins]
    assert [w.shape[1] for w in weights] == CHANNELS and all(bool((w >= 0).all()) for w in weights)
    assert all(w.sum() > 0 for w in weights)
