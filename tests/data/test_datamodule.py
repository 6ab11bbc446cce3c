from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from bggan.data import BokehDataModule, PairedImages, SyntheticPairs
from bggan.data.paired import write_pair
from bggan.data.synthetic import render_pair
from bggan.errors import BgganError

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"


def _data_config(name, overrides=()):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def test_synthetic_batches_are_cropped_pairs_mapped_to_minus1_1_on_the_device():
    dm = BokehDataModule(SyntheticPairs(n=6, size=(48, 64), seed=3, holdout=2), crop=(32, 40), batch_size=2,
                         num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == batch["target"].shape == (2, 3, 32, 40)
    assert batch["input"].dtype == torch.uint8 and all(name in "3456" for name in batch["name"])
    batch = dm.on_after_batch_transfer(batch, 0)
    assert batch["input"].dtype == torch.float32 and -1 <= batch["input"].min() < batch["input"].max() <= 1
    val = list(dm.val_dataloader())
    assert [b["name"] for b in val] == [["7"], ["8"]] and val[0]["input"].shape == (1, 3, 48, 64)
    assert not torch.equal(val[0]["input"], val[0]["target"])  # a sharp and a defocused image


def test_batches_carry_each_pair_s_aperture_as_a_strength():
    from bggan.data.synthetic import aperture_for

    dm = BokehDataModule(SyntheticPairs(n=6, size=(32, 48), holdout=2, apertures=(1.4, 22.0)), crop=(16, 24),
                         batch_size=2, num_workers=0, flip=False)
    dm.setup("fit")
    batch = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    expected = [1.8 / aperture_for(int(name), (1.4, 22.0)) for name in batch["name"]]
    assert batch["strength"].dtype == torch.float32 and batch["strength"].shape == (1,)
    torch.testing.assert_close(batch["strength"], torch.tensor(expected))


def test_synthetic_pairs_are_deterministic_and_split_by_seed():
    train, val = SyntheticPairs(n=5, size=(32, 48), seed=10, holdout=2).split()
    assert [train[i]["name"] for i in range(3)] == ["10", "11", "12"] and len(val) == 2
    again, _ = SyntheticPairs(n=5, size=(32, 48), seed=10, holdout=2).split()
    assert (train[1]["target"] == again[1]["target"]).all()
    lazy, _ = SyntheticPairs(n=5, size=(32, 48), seed=10, holdout=2, cache=False).split()
    assert lazy.rendered is None and (lazy[1]["input"] == train[1]["input"]).all()
    with pytest.raises(BgganError, match="holdout"):
        SyntheticPairs(n=3, holdout=3)


def test_both_configs_build_the_same_datamodule(tmp_path, monkeypatch):
    for seed in range(4):
        write_pair(tmp_path, str(seed), *render_pair(seed, 40, 56))
    monkeypatch.setenv("BGGAN_EBB_ROOT", str(tmp_path))
    ebb = instantiate(_data_config("ebb", ["pairs.holdout=1", "crop=[32,48]", "num_workers=0"]))
    synthetic = instantiate(_data_config("synthetic", ["pairs.n=4", "pairs.size=[40,56]", "pairs.holdout=1",
                                                       "crop=[32,48]", "batch_size=1", "num_workers=0"]))
    assert type(ebb) is type(synthetic) is BokehDataModule
    assert isinstance(ebb.pairs, PairedImages) and isinstance(synthetic.pairs, SyntheticPairs)
    assert ebb.crop == synthetic.crop == (32, 48)
    for dm in (ebb, synthetic):
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))
        assert batch["input"].shape == (1, 3, 32, 48)
    # the same seed through a JPEG file and in memory: the same picture, up to JPEG's loss
    from_file, in_memory = ebb.val_set[0]["target"].float(), synthetic.val_set[0]["target"].float()
    other_seed = torch.from_numpy(synthetic.train_set.pairs[0]["target"]).permute(2, 0, 1).float()
    assert (from_file - in_memory).abs().mean() < 6 < (other_seed - in_memory).abs().mean()


def test_ebb_config_has_no_path_and_says_which_key_to_set(monkeypatch):
    monkeypatch.delenv("BGGAN_EBB_ROOT", raising=False)
    cfg = _data_config("ebb")
    assert cfg.pairs.root is None and cfg.crop == [1024, 1408] and cfg.pairs.holdout == 294
    with pytest.raises(Exception, match="data.pairs.root=") as info:
        instantiate(cfg)
    assert isinstance(info.value.__cause__ or info.value, BgganError) or "BgganError" in str(info.value)


def test_whole_image_validation_with_batches_over_one_is_refused():
    dm = BokehDataModule(SyntheticPairs(n=3, size=(32, 32), holdout=1), crop=None, batch_size=2, num_workers=0)
    with pytest.raises(BgganError, match="batch_size=1"):
        dm.setup()
    with pytest.raises(BgganError, match="at least 8"):
        BokehDataModule(SyntheticPairs(n=3, holdout=1), crop=(4, 8))


def test_loader_workers_share_the_read_failure_count(tmp_path):
    for seed in range(6):
        write_pair(tmp_path, str(seed), *render_pair(seed, 32, 48))
    dm = BokehDataModule(PairedImages(tmp_path, holdout=0), crop=(32, 48), batch_size=1, num_workers=2)
    dm.setup("fit")
    (tmp_path / "bokeh" / "2.jpg").write_bytes(b"broken later")
    names = [b["name"][0] for b in dm.train_dataloader()]
    assert len(names) == 6 and "2" not in names
    assert 1 <= dm.train_set.pairs.failures <= 2  # once per worker that met it


@pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader`", "ignore:The .*does not have many workers")
def test_a_lightning_trainer_gets_float_batches_from_it(tmp_path):
    import pytorch_lightning as pl

    class Probe(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Conv2d(3, 3, 1)
            self.seen = []

        def training_step(self, batch, batch_idx):
            self.seen.append((batch["input"].dtype, float(batch["input"].min()), float(batch["input"].max())))
            return (self.layer(batch["input"]) - batch["target"]).abs().mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = BokehDataModule(SyntheticPairs(n=5, size=(32, 48), holdout=1), crop=(16, 24), batch_size=2, num_workers=0)
    probe = Probe()
    pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=0).fit(probe, dm)
    assert len(probe.seen) == 2
    assert all(dtype == torch.float32 and -1 <= lo < hi <= 1 for dtype, lo, hi in probe.seen)
