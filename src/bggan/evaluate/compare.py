"""Several outputs on the same held-out synthetic pairs, in one table: the identity baseline, the classical
renderer (the same thin lens, given the true depth map), and generators; and the criteria a model must meet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bggan.data.defocus import Lens
from bggan.errors import RunFailed
from bggan.evaluate.metrics import Metrics, Scorer
from bggan.evaluate.reports import comparison_table
from bggan.evaluate.scoring import ImageScore, mean_metrics, mean_seconds, score_pairs


@dataclass(frozen=True)
class Criteria:
    """What a model that renders bokeh must do on held-out pairs, against the identity baseline.

    Args:
        min_gain: dB of PSNR over the identity baseline (output = input).
        min_detail_in_focus: detail kept in focus (:mod:`bggan.evaluate.bands`): the subject stays sharp.
        out_of_focus: the range the out-of-focus detail kept should fall in: blurred like the lens, neither
            left sharp (above) nor washed out (below). Reported, not required.
    """

    min_gain: float = 3.0
    min_detail_in_focus: float = 0.7
    out_of_focus: tuple[float, float] = (0.5, 2.0)

    def check(self, model: Metrics, identity: Metrics) -> tuple[list[str], list[str]]:
        """``(failures, notes)``: one line per criterion missed, one per expectation only reported."""
        failures, notes = [], []
        gain = model.psnr - identity.psnr
        if gain < self.min_gain:
            failures.append(f"PSNR gain over the identity baseline {gain:+.2f} dB < {self.min_gain:g} dB")
        detail = model.bands.get("in_focus") if model.bands else None
        if detail is None or detail.detail is None:
            failures.append("no in-focus detail could be measured")
        elif detail.detail < self.min_detail_in_focus:
            failures.append(f"in-focus detail kept {detail.detail:.2f} < {self.min_detail_in_focus:g} "
                            "(the subject is not kept sharp)")
        far = model.bands.get("out_of_focus") if model.bands else None
        low, high = self.out_of_focus
        if far is not None and far.detail is not None and not low <= far.detail <= high:
            notes.append(f"out-of-focus detail kept {far.detail:.2f} is outside [{low:g}, {high:g}] "
                         f"({'not blurred enough' if far.detail > high else 'blurred more than the lens'})")
        return failures, notes


def classical_renders(held_out: list[dict], lens: Lens) -> list[dict]:
    """``held_out`` with each item's ``"pred"``: the classical layered renderer
    (:func:`bggan.data.depth_bokeh.render_with_depth`) given the pair's true depth map, focus and ``lens``.

    What a phone's portrait mode could do with a perfect depth sensor; it cannot see behind near objects.
    """
    from bggan.data.depth_bokeh import render_with_depth

    return [{**item, "pred": render_with_depth(item["input"], item["depth"], item["focus_m"], lens)}
            for item in held_out]


@dataclass
class Comparison:
    """The rows of a comparison (name, mean metrics, seconds per image or ``None``) and the identity's metrics."""

    rows: list[tuple[str, Metrics, float | None]]
    identity: Metrics
    scores: dict[str, list[ImageScore]]

    def table(self) -> str:
        return comparison_table(self.rows)

    def metrics(self, name: str) -> Metrics:
        return next(m for n, m, _ in self.rows if n == name)


def compare(held_out: list[dict], generators: dict[str, str | os.PathLike], lens: Lens | None = None,
            scorer: Scorer | None = None) -> Comparison:
    """Score the identity, the classical renderer (when ``lens`` is given and the items carry ``depth`` and
    ``focus_m``) and each generator (a weights file) on ``held_out`` (``{"name", "input", "target", "coc"?}``).

    Raises:
        RunFailed: a pair could not be scored.
    """
    from bggan.models.weights import load_generator

    scorer = scorer or Scorer()
    identity = mean_metrics(_scored("identity", [{**item, "pred": item["input"]} for item in held_out], scorer)[0])
    rows = [("identity (output = input)", identity, None)]
    if lens is not None and all("depth" in item and "focus_m" in item for item in held_out):
        scores, _ = _scored("classical", classical_renders(held_out, lens), scorer)
        rows.append(("classical renderer (true depth)", mean_metrics(scores), None))
    results = {name: _scored(name, held_out, scorer, load_generator(Path(path))) for name, path in generators.items()}
    rows += [(name, mean_metrics(scores), seconds) for name, (scores, seconds) in results.items()]
    return Comparison(rows, identity, {name: scores for name, (scores, _) in results.items()})


def _scored(name: str, items: list[dict], scorer: Scorer, model=None) -> tuple[list[ImageScore], float | None]:
    scores, skipped = score_pairs(items, scorer, model, desc=name)
    if skipped:
        raise RunFailed(f"scoring {name}: {skipped[0].name}: {skipped[0].reason}")
    return scores, mean_seconds(scores)
