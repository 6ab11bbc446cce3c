import numpy as np
import torch

from bggan.data.defocus import Lens
from bggan.data.synthetic import SyntheticPairs
from bggan.evaluate import BandMetrics, Metrics
from bggan.evaluate.compare import Criteria, classical_renders, compare
from bggan.models import GlassNet, save_generator


def _metrics(psnr, in_focus, out_of_focus):
    return Metrics(psnr, 0.9, None, {"in_focus": BandMetrics(0.3, 30.0, in_focus),
                                     "out_of_focus": BandMetrics(0.5, 25.0, out_of_focus)})


def test_criteria_need_the_gain_and_a_sharp_subject_and_report_the_background():
    identity = _metrics(20.0, 1.0, 50.0)
    assert Criteria().check(_metrics(23.5, 0.8, 1.2), identity) == ([], [])
    failures, notes = Criteria().check(_metrics(22.0, 0.3, 5.0), identity)
    assert failures == ["PSNR gain over the identity baseline +2.00 dB < 3 dB",
                        "in-focus detail kept 0.30 < 0.7 (the subject is not kept sharp)"]
    assert notes == ["out-of-focus detail kept 5.00 is outside [0.5, 2] (not blurred enough)"]
    blurry = Criteria().check(_metrics(24.0, 0.9, 0.1), identity)
    assert blurry[0] == [] and "blurred more than the lens" in blurry[1][0]
    assert Criteria().check(Metrics(24.0, 0.9), identity)[0] == ["no in-focus detail could be measured"]


def test_the_comparison_has_the_identity_the_classical_renderer_and_each_model(tmp_path):
    pairs = SyntheticPairs(n=3, size=(64, 96), holdout=2, cache=False, focal_mm=85.0)
    val = pairs.split()[1]
    held_out = [val[i] for i in range(len(val))]
    torch.manual_seed(0)
    weights = save_generator(GlassNet(c1=4, c2=4, n_res=1), tmp_path / "g.safetensors")
    result = compare(held_out, {"a model": weights}, pairs.lens)
    names = [name for name, _, _ in result.rows]
    assert names == ["identity (output = input)", "classical renderer (true depth)", "a model"]
    classical = result.metrics("classical renderer (true depth)")
    assert classical.psnr > result.identity.psnr  # the lens itself, given the depth: close to the target
    assert result.metrics("a model").bands and result.rows[2][2] > 0  # timed
    table = result.table()
    assert "| classical renderer (true depth) |" in table and "out of focus: PSNR, detail" in table
    renders = classical_renders(held_out[:1], Lens(focal_mm=85.0))
    assert renders[0]["pred"].shape == held_out[0]["input"].shape and renders[0]["pred"].dtype == np.uint8
    without_lens = compare(held_out, {}, None)
    assert [name for name, _, _ in without_lens.rows] == ["identity (output = input)"]


def test_criteria_defaults():
    assert Criteria() == Criteria(3.0, 0.7, (0.5, 2.0))
