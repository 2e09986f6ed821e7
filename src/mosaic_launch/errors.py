"""The errors of the launcher, each with the exit status the CLI gives it.

Everything the launcher raises for a user mistake or an environment problem
is a ``MosaicError``; ``cli_support.reporting()`` prints it as one line,
``mosaic: error: MESSAGE``, and exits with ``exit_code``. Any other
exception is a bug.
"""

from __future__ import annotations


class MosaicError(Exception):
    """A failure that ends a command with a one-line message."""

    exit_code = 1


class UsageError(MosaicError):
    """Bad input: an argument, option or MOSAIC_* variable. Nothing was created."""

    exit_code = 2


class NotRunning(MosaicError):
    """The named agent has no tmux session."""

    exit_code = 1


def one_line(text: object) -> str:
    """TEXT with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())
