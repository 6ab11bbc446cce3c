"""docs/speed_by_cpu.md shows exactly the committed results of bench/cpu_paths.py, each named by its CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture()
def results_table(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import results_table

    return results_table


def test_the_page_holds_the_committed_results_table_with_each_cpu(results_table, monkeypatch):
    results = results_table.load()
    assert results and all(r["machine"]["model"] and r["machine"]["vendor"] for r in results)
    monkeypatch.setattr(sys, "argv", ["results_table.py", "--check"])
    assert results_table.main() == 0
    assert all(results_table.cpu_label(r).split(",")[0] in results_table.PAGE.read_text() for r in results)


def test_a_page_that_drifted_from_the_results_fails_the_check(results_table, monkeypatch, tmp_path, capsys):
    page = tmp_path / "speed_by_cpu.md"
    page.write_text(results_table.PAGE.read_text().replace("| torch-cl | ", "| torch-cl | 9", 1))
    monkeypatch.setattr(results_table, "PAGE", page)
    monkeypatch.setattr(sys, "argv", ["results_table.py", "--check"])
    assert results_table.main() == 1 and "is not the committed results'" in capsys.readouterr().err
