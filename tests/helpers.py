"""Helpers shared by the tests: waiting on a condition, running mosaic-hb."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import psutil

import mosaic_hb

T = TypeVar("T")

POLL_SECONDS = 0.005


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


def read_record(path: Path) -> mosaic_hb.Record | None:
    """The record at PATH, or None if it is missing or not (yet) valid."""
    try:
        return mosaic_hb.read(path)
    except (FileNotFoundError, mosaic_hb.RecordError):
        return None


def record_with(path: Path, **expected) -> Callable[[], mosaic_hb.Record | None]:
    """A condition: the record at PATH has all the EXPECTED field values."""

    def check():
        record = read_record(path)
        if record and all(getattr(record, key) == value for key, value in expected.items()):
            return record
        return None

    return check


def sidecar(*args: str, env: dict | None = None, timeout: float = 10) -> subprocess.CompletedProcess:
    """Run the packaged mosaic-hb with ARGS and capture its output."""
    return subprocess.run(
        [mosaic_hb.sidecar_path(), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def python_child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def pid_exists(pid: int) -> bool:
    """True while PID runs. A zombie has exited: it only waits for its parent
    (for a daemon, whatever reaps orphans, which may take a while)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def mosaic(*args, env: dict | None = None):
    """``mosaic ARGS`` in-process, through Typer's CliRunner; fails on any
    traceback. Imported lazily: the core tests need no CLI."""
    from typer.testing import CliRunner

    from mosaic_launch.cli import app

    try:  # Click < 8.2 mixes stderr into stdout unless told not to
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(app, [os.fspath(a) if isinstance(a, os.PathLike) else a for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output, result.output
    return result


def run_mosaic(*args, env: dict | None = None, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    """``python -m mosaic_launch ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "mosaic_launch", *map(os.fspath, args)],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs,
    )
