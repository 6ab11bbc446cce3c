"""Seconds and peak resident memory of each step of the export."""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Step:
    name: str
    seconds: float = 0.0
    peak_rss_gb: float = 0.0


class Meter:
    """``with meter.step("onnx"):`` records wall seconds and the peak RSS sampled every 20 ms inside."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def step(self, name: str) -> _Measure:
        step = Step(name)
        self.steps.append(step)
        return _Measure(step)


class _Measure:
    def __init__(self, step: Step) -> None:
        self.step, self._stop = step, threading.Event()
        self._peak = 0

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, rss_bytes())

    def __enter__(self) -> Step:
        self._peak, self._start = rss_bytes(), time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self.step

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.step.seconds = round(time.perf_counter() - self._start, 2)
        self.step.peak_rss_gb = round(max(self._peak, rss_bytes()) / 2**30, 2)
