"""The errors of the launcher, each with the exit status the CLI gives it.

Everything the launcher raises for a user mistake or an environment problem
is a ``MosaicError``; ``cli_support.reporting()`` prints it as one line,
``mosaic: error: MESSAGE``, and exits with ``exit_code``. Any other
exception is a bug.
"""

from __future__ import annotations

import math
import re


class MosaicError(Exception):
    """A failure that ends a command with a one-line message."""

    exit_code = 1


class UsageError(MosaicError):
    """Bad input: an argument, option or MOSAIC_* variable. Nothing was created."""

    exit_code = 2


class NotRunning(MosaicError):
    """The named agent has no tmux session."""

    exit_code = 1


_DECIMAL = re.compile(r"[0-9.eE+-]+")


def ascii_digits(text: str) -> bool:
    """TEXT is all ASCII digits, as the core writes and reads numbers.
    str.isdigit alone also takes '²' and '١' (from a record, or a tmux user
    option anyone in the session can set), on which int() fails or reads
    another number."""
    return text.isascii() and text.isdigit()


def one_line(text: object) -> str:
    """TEXT with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


def show(value: str, limit: int = 80) -> str:
    """VALUE quoted for a one-line message (control characters escaped)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def seconds(value: str, subject: str, *, low: float = 0.0, high: float = math.inf,
            include_low: bool = False) -> float:
    """VALUE as a finite number of seconds, greater than LOW (at least LOW
    with INCLUDE_LOW) and at most HIGH: the one parser of every seconds
    option and variable. Otherwise UsageError ``invalid SUBJECT: expected
    ...``, where SUBJECT names the value and where it came from."""
    try:
        # Decimal ASCII only, as the C core reads an interval: float() would
        # also take "1_0" and other scripts' digits ("１").
        number = float(value) if _DECIMAL.fullmatch(str(value).strip()) else math.nan
    except ValueError:
        number = math.nan
    above = low <= number if include_low else low < number
    if not (above and number <= high and math.isfinite(number)):  # also rejects nan
        if math.isfinite(high):
            expected = f"seconds from {low:g} to {high:g}"
        elif include_low:
            expected = f"a finite number of seconds, {low:g} or more"
        else:
            expected = f"a finite number of seconds greater than {low:g}"
        raise UsageError(f"invalid {subject}: expected {expected}")
    return number
