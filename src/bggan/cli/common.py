"""What every command shares: one-line errors and exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bggan.errors import BgganError


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one :class:`BgganError` line (exit code 2), like every other bad input
    (argparse's own prints the whole usage block first)."""

    def error(self, message: str):
        raise BgganError(f"{message} (see --help)")


def run_command(prog: str, main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; a :class:`BgganError` becomes ``prog: error: ...`` on stderr and its exit code
    (2 for bad input, 1 for a run that failed)."""
    try:
        return main(argv)
    except BgganError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """``"512x768"`` -> ``(512, 768)`` (H, W); anything else, or a side under 8 px, is a BgganError."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BgganError(f"{flag} must look like 512x768 (HxW), got {text!r}") from None
    if h < 8 or w < 8:
        raise BgganError(f"{flag} must be at least 8x8, got {text!r}")
    return h, w
