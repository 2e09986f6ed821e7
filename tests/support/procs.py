"""Processes: what one runs (argv, environment, cwd), command lines for a
test's children, and which processes carry the test's leak token."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import psutil

# conftest's isolated_env sets it to a fresh token per test; every process the
# test starts inherits it, which is how the leak guard finds them.
LEAK_TOKEN_VAR = "MOSAIC_TEST_TOKEN"


def processes_with_token(token: str | None) -> list[psutil.Process]:
    """Processes started under this test: they inherited its token.

    /proc/PID/environ holds the environment a process was exec'ed with, so
    the test runner itself (whose os.environ was patched later) never
    matches, while every child, tmux server, pane and sidecar does."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(LEAK_TOKEN_VAR) == token:
                found.append(proc)
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or not ours
    return found


def live_token_processes() -> list[int]:
    """Live (not zombie) processes that carry this test's leak token."""
    return [proc.pid for proc in processes_with_token(os.environ.get(LEAK_TOKEN_VAR))]


def running(proc: psutil.Process) -> bool:
    # A zombie has exited; an orphaned daemon's zombie waits for whatever
    # reaps orphans, which on some hosts takes a second or more.
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pid_exists(pid: int) -> bool:
    """True while PID runs. A zombie has exited: it only waits for its parent
    (for a daemon, whatever reaps orphans, which may take a while)."""
    try:
        return running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def wait_exited(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait, bounded, until every process in PROCS has exited; return the rest."""
    deadline = time.monotonic() + timeout
    alive = [proc for proc in procs if running(proc)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)
        alive = [proc for proc in alive if running(proc)]
    return alive


def describe(procs: list[psutil.Process]) -> str:
    parts = []
    for proc in procs:
        try:
            parts.append(f"{proc.pid}:{' '.join(proc.cmdline())[:80]}")
        except psutil.Error:
            parts.append(f"{proc.pid}:?")
    return "; ".join(parts)


def environ_of(pid: int) -> dict[str, str]:
    data = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="surrogateescape").partition("=") for item in data.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def cmdline_of(pid: int) -> list[str]:
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]


def cwd_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/cwd")


def runs(pid: int, argv: list[str]) -> bool:
    """True once process PID runs ARGV (argv[0] may be given as a basename)."""
    try:
        got = cmdline_of(pid)
    except OSError:
        return False
    return bool(got) and os.path.basename(got[0]) == os.path.basename(argv[0]) and got[1:] == argv[1:]


def py_command(code: str, *args: str) -> str:
    """A shell command line running CODE with this Python."""
    return shlex.join([sys.executable, "-c", code, *args])


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path
