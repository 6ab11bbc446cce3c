import numpy as np
import pytest
import torch

from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import render_with_depth
from bggan.data.synthetic import SyntheticPairs
from bggan.evaluate.depth_aware import (
    DEPTHS,
    given_depth,
    model_renderer,
    real_bands,
    real_scores,
    real_table,
    synthetic_scores,
    synthetic_table,
    transition_gain,
)
from bggan.models import GlassNet


def _samples(n=3):
    pairs = SyntheticPairs(n=8, size=(64, 96), holdout=1, cache=False, focal_mm=85.0, apertures=[1.4, 2.8])
    test = pairs.unseen(n)
    return [test[i] for i in range(n)]


def test_the_depth_given_is_the_true_one_or_one_fixed_corruption_per_scene():
    depth = np.random.default_rng(0).uniform(1, 20, (32, 48)).astype(np.float32)
    assert given_depth(depth, None, 3) is depth
    a, b = given_depth(depth, DEPTHS["phone"], 3), given_depth(depth, DEPTHS["phone"], 3)
    assert np.array_equal(a, b) and not np.allclose(a, depth, rtol=1e-3)
    assert not np.array_equal(a, given_depth(depth, DEPTHS["phone"], 4))
    assert np.array_equal(given_depth(depth, DEPTHS["noisy"], "scene"), given_depth(depth, DEPTHS["noisy"], "scene"))


def test_a_renderer_equal_to_the_classical_one_scores_as_it_does_and_the_identity_worse():
    samples = _samples()
    lens = Lens(focal_mm=85.0)
    by_sample = {id(s["input"]): s for s in samples}

    def classical(photo, defocus):  # the classical renderer, given the true depth of the scene drawn
        s = by_sample[id(photo)]
        return render_with_depth(photo, s["depth"], s["focus_m"], Lens(85.0, s["f_number"]))

    same = synthetic_scores(classical, samples, ("clean",), lens)["clean"]
    assert same["model"].psnr == pytest.approx(same["classical"].psnr)
    assert transition_gain(same) == pytest.approx(0.0)
    worse = synthetic_scores(lambda photo, defocus: photo, samples, ("clean",), lens)["clean"]
    assert worse["model"].psnr < worse["classical"].psnr - 1 and transition_gain(worse) < -1
    table = synthetic_table({"clean": same}, len(samples))
    assert "| clean | model |" in table and "+0.00 dB" in table


def test_real_bands_measure_detail_relative_to_the_photo_and_leave_unknown_depth_out():
    rng = np.random.default_rng(0)
    photo = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    coc = np.zeros((64, 96), np.float32)
    coc[:, 48:] = 20.0  # the right half is far behind the focus
    known = np.ones((64, 96), bool)
    same = real_bands(photo, photo, coc, known)
    assert same.bands["in_focus"] == pytest.approx(1) and same.bands["behind"] == pytest.approx(1)
    assert same.bands["front"] is None  # nothing in front of the focus
    blurred = photo.copy()
    blurred[:, 48:] = photo[:, 48:].mean(axis=(0, 1)).astype(np.uint8)
    score = real_bands(blurred, photo, coc, known)
    assert score.bands["behind"] < 0.01 and score.bands["in_focus"] == pytest.approx(1, abs=0.05)
    assert score.contrast > 100
    known[:, 40:] = False  # no depth measured there: out of every band
    assert real_bands(blurred, photo, coc, known).bands["behind"] is None


def test_real_scores_run_both_renderers_on_each_depth():
    rng = np.random.default_rng(1)
    photo = (rng.random((48, 96, 3)) * 255).astype(np.uint8)
    depth = np.where(np.arange(96)[None, :] < 48, 2.0, 20.0).repeat(48, 0).astype(np.float32)  # far half: 10 px
    torch.manual_seed(0)
    render = model_renderer(GlassNet(4, 12, 1, "instance", condition="defocus", gate=True, stack=[2.0, 4.0, 8.0]))
    scores = real_scores(render, photo, depth, np.ones_like(depth, bool), 2.0, Lens(85.0, 1.4), ("clean", "8_bit"))
    assert set(scores) == {"clean", "8_bit"}
    classical, model = scores["clean"]["classical"][0], scores["clean"]["model"][0]
    assert classical.bands["behind"] < 0.2 and model.bands["behind"] < 0.5  # both blur the far half
    assert "| 8_bit | model |" in real_table(scores, "title")


def _scored(psnr, transition, in_focus=1.0, out=1.0):
    from bggan.evaluate.bands import BandMetrics
    from bggan.evaluate.depth_aware import Scored

    return Scored(psnr, 0.9, {"in_focus": BandMetrics(0.3, 50.0, in_focus), "transition": BandMetrics(0.1, transition,
                                                                                                     1.0),
                              "out_of_focus": BandMetrics(0.6, 25.0, out)})


def test_the_synthetic_aims_need_the_transition_gain_and_detail_in_range():
    from bggan.evaluate.depth_aware import aims_table, synthetic_aims

    good = {"phone": {"classical": _scored(35.0, 36.0), "model": _scored(35.5, 37.6, 1.05, 0.8)}}
    assert all(met for *_, met in synthetic_aims(good))
    for model, missed in ((_scored(35.5, 37.0, 1.05, 0.8), 0), (_scored(34.9, 37.6, 1.05, 0.8), 1),
                          (_scored(35.5, 37.6, 1.3, 0.8), 2), (_scored(35.5, 37.6, 1.0, 0.4), 3)):
        aims = synthetic_aims({"phone": {"classical": _scored(35.0, 36.0), "model": model}})
        assert [i for i, (*_, met) in enumerate(aims) if not met] == [missed]
    assert "| NO |" not in aims_table(synthetic_aims(good)) and "1.6" in aims_table(synthetic_aims(good))


def test_the_real_aims_compare_with_the_classical_renderer():
    from bggan.evaluate.depth_aware import RealScore, real_aims

    def scores(model_clean, model_worse, classical=(0.9, 0.01)):
        as_score = lambda sharp, far: (RealScore({"in_focus": sharp, "front": None, "behind": far}), None)
        return {"clean": {"model": as_score(*model_clean), "classical": as_score(*classical)},
                "8x_8_bit": {"model": as_score(*model_worse), "classical": as_score(*classical)}}

    assert all(met for *_, met in real_aims(scores((0.8, 0.03), (0.7, 0.05))))
    missed = lambda s: [i for i, (*_, met) in enumerate(real_aims(s)) if not met]
    assert missed(scores((0.6, 0.03), (0.7, 0.05))) == [0]  # the subject softened
    assert missed(scores((0.8, 0.2), (0.7, 0.05))) == [1, 2]  # the background kept: 20x the classical's, contrast 4
    assert missed(scores((0.8, 0.09), (0.7, 0.05))) == []  # 9x the classical's, but at most 0.1 itself
    assert missed(scores((0.8, 0.03), (0.5, 0.2))) == [3, 4]
