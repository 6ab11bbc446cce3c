"""The one exception type that command-line tools turn into a one-line message."""


class BgganError(Exception):
    """Bad input from a user (a path, a file, a size): the message is shown as one line."""
