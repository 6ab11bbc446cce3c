"""Progress bars that read well in a terminal and in a log file.

In a terminal, :func:`progress` is tqdm's bar. When stderr is not a terminal (a log file, CI, a pipe), tqdm would
still redraw its bar with a carriage return at every update, thousands of them in one line of the log; there it is
:class:`LogProgress` instead: one plain line at every tenth of the work and one at the end.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

#: A log line: ``rendering: 40% (2/5 photo, 00:03 elapsed, 1.50s/photo, a.png)``.
LOG_FORMAT = "{desc}: {percentage:3.0f}% ({n_fmt}/{total_fmt} {unit}, {elapsed} elapsed, {rate_fmt}{postfix})"


class LogProgress(tqdm):
    """tqdm for a log: a line each time the work passes a tenth (with a total), else every 10 updates, and a last
    line when it closes if the work moved since. Never a carriage return, a cursor move or a cleared line. A bar
    that would vanish from a terminal when done (``leave=False``, e.g. one photo's tiles) prints nothing."""

    def __init__(self, *args, **kwargs) -> None:
        self._shown: tuple[int, int] | None = None  # (step, n) of the last line
        if kwargs.get("leave") is False:
            kwargs["disable"] = True
        super().__init__(*args, **kwargs)

    def _step(self) -> int:
        return int(10 * self.n / self.total) if self.total else self.n // 10

    def _line(self) -> None:
        meter = {**self.format_dict, "bar_format": LOG_FORMAT}
        meter["prefix"] = (meter.get("prefix") or "").removesuffix(": ")  # set_description() adds one
        self.fp.write(self.format_meter(**meter).replace(", )", ")") + "\n")
        self.fp.flush()
        self._shown = self._step(), self.n

    def update(self, n: float = 1) -> bool | None:
        done = super().update(n)
        if not self.disable and self.n and (self._shown is None or self._step() != self._shown[0]):
            self._line()  # tqdm redraws at most every 0.1 s; a tenth passed between two draws still gets its line
        return done

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "" or self.n == 0:  # tqdm clearing its bar, or nothing done yet: nothing to say in a log
            return False
        if self._shown is None or self._step() != self._shown[0]:
            self._line()
        return True

    def reset(self, total: float | None = None) -> None:  # Lightning reuses its bar every epoch
        self._shown = None
        super().reset(total)

    def clear(self, nolock: bool = False) -> None:  # tqdm.write() clears every bar before it prints
        pass

    def moveto(self, n: int) -> None:  # nested bars move the cursor
        pass

    def close(self) -> None:
        if not self.disable and self.n and (self._shown is None or self.n != self._shown[1]):
            self._line()
        self.leave = False
        super().close()


def progress(*args, **kwargs) -> tqdm:
    """tqdm's bar on a terminal, :class:`LogProgress` elsewhere (same arguments)."""
    stream = kwargs.get("file") or sys.stderr
    is_terminal = getattr(stream, "isatty", lambda: False)()
    return tqdm(*args, **kwargs) if is_terminal else LogProgress(*args, **kwargs)
