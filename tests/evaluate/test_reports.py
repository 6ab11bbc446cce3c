import csv
import io

import pytest

from bggan import evaluate as ev
from bggan.errors import BgganError


def test_csv_has_one_row_per_image_and_identity_columns_when_known(tmp_path):
    scores = [ev.ImageScore("a", ev.Metrics(20.0, 0.5, 0.25), ev.Metrics(18.0, 0.4), 0.5),
              ev.ImageScore("b", ev.Metrics(30.0, 0.75))]
    path = ev.write_csv(tmp_path / "m.csv", scores)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == [*ev.CSV_COLUMNS, *ev.IDENTITY_COLUMNS] and len(rows) == 2
    assert float(rows[0]["psnr"]) == 20.0 and float(rows[0]["lpips"]) == 0.25 and float(rows[0]["seconds"]) == 0.5
    assert float(rows[0]["identity_psnr"]) == 18.0 and rows[0]["identity_lpips"] == ""
    assert rows[1]["lpips"] == rows[1]["seconds"] == rows[1]["identity_psnr"] == ""
    assert ev.csv_rows(scores[1:])[0] == list(ev.CSV_COLUMNS)  # no identity at all: no identity columns
    with pytest.raises(BgganError, match="exists"):
        ev.write_csv(tmp_path / "m.csv", scores)


def test_markdown_states_conventions_lpips_error_scale_and_skips():
    scores = [ev.ImageScore("a", ev.Metrics(20.0, 0.5), ev.Metrics(18.0, 0.4), 0.5)]
    text = ev.metrics_markdown(scores, ev.Scorer(crop_border=2, lpips_note="LPIPS off (--no-lpips)"), "model (g)",
                               "weights: g", [ev.SkippedPair("x", "unreadable")], ["Timing: forward only"])
    assert "| model (g) | 1 | 20.00 | 0.5000 | - | 0.5000 |" in text
    assert "| identity (output = input) | 1 | 18.00 | 0.4000 | - | - |" in text
    assert "2 px cropped from every side" in text and "11x11 Gaussian window (sigma 1.5)" in text
    assert "LPIPS off (--no-lpips)." in text and "full brightness at 0.25 of the [0, 1] range" in text
    assert "- x: unreadable" in text and "- Timing: forward only." in text and "1 images scored, 1 pairs skipped" in text
