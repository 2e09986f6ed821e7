"""Waiting on an event with a bound: the tests never sleep to synchronise."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from tests.support.procs import live_token_processes

T = TypeVar("T")

POLL_SECONDS = 0.005
SETTLE_SECONDS = 5.0


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Return the first truthy value of CONDITION(), checked until TIMEOUT
    seconds have passed; fail the test naming WHAT if it never comes.

    This waits on an event with a bound; it is not a sleep standing in for
    synchronisation."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def every(seconds: float, condition: Callable[[], T]) -> Callable[[], T | None]:
    """CONDITION, asked at most every SECONDS (None in between): wait_for
    polls every few ms, which is too often for an HTTP API."""
    last = [float("-inf")]

    def check():
        now = time.monotonic()
        if now - last[0] < seconds:
            return None
        last[0] = now
        return condition()

    return check


def settle(tmux) -> None:
    """Kill the test's tmux server and wait (bounded) until every process the
    test started has *exited*. For a fixture's teardown, before conftest's.

    The conftest guard waits until they are *gone*; a dead daemon (tmux
    server, sidecar, orphaned pane) stays a zombie until init reaps it, and
    on some machines init does that only every couple of seconds. Waiting
    for the exit here keeps that out of every test's run time, and weakens
    nothing: a process still alive after the bound is left to the guard."""
    tmux.kill()
    deadline = time.monotonic() + SETTLE_SECONDS
    while live_token_processes() and time.monotonic() < deadline:
        time.sleep(0.01)
