"""The exception types that command-line tools turn into a one-line message and an exit code."""


class BgganError(Exception):
    """Bad input from a user (a path, a file, a size, a config value): shown as one line, exit code 2."""

    exit_code = 2


class TrainingFailed(BgganError):
    """A run that started and could not go on (e.g. a loss became NaN): one line, exit code 1."""

    exit_code = 1


class ExportFailed(BgganError):
    """An export whose converted model misses a parity threshold or an op rule: one line naming the hop, exit code 1."""

    exit_code = 1
