import math

import numpy as np
import pytest
import torch

from bggan import evaluate as ev
from bggan.images import to_tensor
from bggan.models import GlassNet
from bggan.models.winograd import to_winograd
from tests.evaluate.common import Pairs, image, save


def test_score_pairs_skips_bad_pairs_and_keeps_panels(tmp_path):
    a, b = image(seed=5), image(seed=6)
    save(tmp_path / "pred" / "1.png", a)
    save(tmp_path / "target" / "1.png", b)
    save(tmp_path / "pred" / "2.png", a[:, :50])  # size differs from its target
    save(tmp_path / "target" / "2.png", b)
    (tmp_path / "pred" / "3.png").write_bytes(b"not a png")
    save(tmp_path / "target" / "3.png", b)
    save(tmp_path / "pred" / "4.png", b)
    save(tmp_path / "target" / "4.png", b)
    pairing = ev.pair_folders(tmp_path / "pred", tmp_path / "target")
    scores, skipped = ev.score_pairs(pairing.pairs, ev.Scorer(), keep=1)
    assert [s.name for s in scores] == ["1", "4"] and [s.name for s in skipped] == ["2", "3"]
    assert "sizes differ: pred 40x50, target 40x56" in skipped[0].reason
    assert "not a readable image" in skipped[1].reason
    assert scores[0].identity is None and scores[0].seconds is None
    assert len(scores[0].panels) == 3 and scores[1].panels is None  # pred | target | error, first image only
    assert math.isinf(scores[1].model.psnr)


def test_score_pairs_with_a_model_times_it_and_scores_the_identity_baseline():
    torch.manual_seed(0)
    model = GlassNet(c1=4, c2=4, n_res=1, init="he")
    items = [{"name": str(i), "input": image(20, 28, seed=i), "target": image(20, 28, seed=10 + i)} for i in range(3)]
    pairs = Pairs(items)
    scores, skipped = ev.score_pairs(pairs, ev.Scorer(), model, keep=2)
    assert not skipped and [s.name for s in scores] == ["0", "1", "2"]
    assert all(s.seconds is not None and s.seconds > 0 for s in scores)
    with torch.inference_mode():  # on the CPU with Winograd convolutions, as bggan-render runs a model
        out = to_winograd(model)(to_tensor(items[0]["input"]))[0]
    assert scores[0].model == ev.Scorer()(out, to_tensor(items[0]["target"]))
    assert scores[0].identity == ev.Scorer()(to_tensor(items[0]["input"]), to_tensor(items[0]["target"]))
    assert [len(s.panels or []) for s in scores] == [4, 4, 0]
    assert np.array_equal(scores[0].panels[0], items[0]["input"])


def test_means_skip_missing_lpips():
    scores = [ev.ImageScore("a", ev.Metrics(20.0, 0.5, 0.2), seconds=1.0),
              ev.ImageScore("b", ev.Metrics(30.0, 0.7, None), seconds=3.0)]
    assert ev.mean_metrics(scores) == ev.Metrics(25.0, pytest.approx(0.6), pytest.approx(0.2))
    assert ev.mean_metrics(scores, "identity") is None
    assert ev.mean_seconds(scores) == 2.0
