"""What every command shares: one-line errors and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bggan.errors import BgganError

EXIT_BAD_INPUT = 2


def run_command(prog: str, main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; a :class:`BgganError` becomes ``prog: error: ...`` on stderr and exit code 2."""
    try:
        return main(argv)
    except BgganError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
