"""The exception types that command-line tools turn into a one-line message and an exit code."""


class BgganError(Exception):
    """Bad input from a user (a path, a file, a size, a config value): shown as one line, exit code 2."""

    exit_code = 2


class RunFailed(BgganError):
    """A job that started with good input and could not finish: one line, exit code 1."""

    exit_code = 1


class TrainingFailed(RunFailed):
    """A training run that could not go on (e.g. a loss became NaN)."""


class ExportFailed(RunFailed):
    """An export whose converted model misses a parity threshold or an op rule (the message names the hop)."""
