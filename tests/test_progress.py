"""Progress in a log: plain lines at each tenth of the work, never a carriage return (a terminal keeps tqdm's bar)."""

from __future__ import annotations

import io

from tqdm import tqdm

from bggan.progress import LogProgress, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(bar_factory, stream, total=25, **kwargs) -> str:
    with bar_factory(total=total, desc="rendering", unit="photo", file=stream, **kwargs) as bar:
        for i in range(total):
            bar.set_postfix_str(f"p{i}.png", refresh=False)
            bar.update()
    return stream.getvalue()


def test_a_log_gets_a_line_per_tenth_and_no_carriage_return():
    text = run(progress, io.StringIO())
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text
    assert len(lines) == 11 and all(line.startswith("rendering: ") for line in lines)  # the first item, then tenths
    assert lines[-1].startswith("rendering: 100% (25/25 photo, ") and lines[-1].endswith(", p24.png)")
    percents = [int(line.split("%")[0].split()[-1]) for line in lines]
    assert percents == sorted(percents) and len({p // 10 for p in percents}) == 11


def test_a_terminal_keeps_tqdms_bar_and_that_is_what_a_log_is_spared():
    """The negative control: tqdm itself, in a log or a terminal, redraws with carriage returns."""
    assert "\r" in run(tqdm, io.StringIO(), mininterval=0)
    terminal = Terminal()
    assert "\r" in run(progress, terminal, mininterval=0) and not isinstance(progress(file=terminal), LogProgress)


def test_a_bar_that_vanishes_when_done_leaves_nothing_in_a_log():
    assert run(progress, io.StringIO(), total=40, leave=False) == ""


def test_a_reused_bar_reports_each_round_from_its_start():
    stream = io.StringIO()
    bar = LogProgress(total=4, desc="Epoch 0", file=stream)
    for epoch in range(2):
        bar.reset(4)
        bar.set_description(f"Epoch {epoch}")
        for _ in range(4):
            bar.update()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Epoch 0"] * 4 + ["Epoch 1"] * 4
    assert lines[3].startswith("Epoch 0: 100% (4/4") and lines[-1].startswith("Epoch 1: 100% (4/4")
