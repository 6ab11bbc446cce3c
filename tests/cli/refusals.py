"""How the battery of bad inputs runs a command and judges what it did (tests/cli/test_bad_inputs.py).

A command is run as its console script runs it: ``cli()`` with ``sys.argv`` set, in this process for the argparse
commands (fast: nothing is imported twice), or as a subprocess for the Hydra ones (``@hydra.main`` reads the real
command line). An exception that escapes ``cli()`` is what the interpreter would print: its traceback, exit code 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import console_script

#: The most lines a refusal may print on stderr.
MAX_LINES = 3


@dataclass
class Outcome:
    """What a command did: exit code, stdout, stderr, wall seconds."""

    code: int
    out: str
    err: str
    seconds: float


def run_in_process(module: str, prog: str, argv: list[str]) -> Outcome:
    """``module.cli()`` with ``sys.argv = [prog, *argv]``, its output captured; an escaping exception becomes its
    traceback on stderr and exit code 1, as the interpreter would make it."""
    cli = importlib.import_module(module).cli
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = [prog, *argv]
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
            except Exception:  # noqa: BLE001 (what escapes is the finding)
                print(traceback.format_exc(), file=sys.stderr)
                code = 1
    finally:
        sys.argv = saved
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def run_process(command: list[str], cwd: Path, timeout: float = 120) -> Outcome:
    """``command`` (its first word a console script, or ``python``) as a subprocess in ``cwd``."""
    exe = sys.executable if command[0] == "python" else console_script(command[0])
    start = time.perf_counter()
    run = subprocess.run([exe, *command[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    return Outcome(run.returncode, run.stdout, run.stderr, time.perf_counter() - start)


def assert_refused(outcome: Outcome, code: int, message: str) -> None:
    """A refusal: exit ``code`` (non-zero), no traceback, 1 to :data:`MAX_LINES` lines on stderr, ``message`` in
    them."""
    err = outcome.err.strip()
    shown = f"exit {outcome.code}, stderr:\n{outcome.err[-3000:]}"
    assert "Traceback" not in outcome.err, shown
    assert code != 0 and outcome.code == code, shown
    assert 1 <= len(err.splitlines()) <= MAX_LINES, shown
    assert message in err, f"{message!r} not in: {shown}"


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its content's hash (folders: ``dir``), to show nothing changed."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}
