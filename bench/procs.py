"""Starting, watching, reaping and sweeping the processes the bench runs.

Every process the bench starts inherits MARKER_VAR=<token> in its
environment, and so do their descendants (tmux servers, panes, detached
sidecars), since nothing on the way clears the environment. sweep() finds
them by that marker in /proc/PID/environ and kills them, so a failed or
interrupted measurement leaves nothing behind, even what was detached with
setsid.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MARKER_VAR = "MOSAIC_BENCH_RUN"
SCOPE_VAR = "MOSAIC_BENCH_SCOPE"

# How long a process we killed may take to vanish before we give up on it.
SWEEP_TIMEOUT_S = 5.0


class BenchError(RuntimeError):
    """A measurement could not be made; the message says why."""


def child_env(marker: str, scope: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a child: ours, plus the markers that sweep() finds."""
    env = dict(os.environ)
    env[MARKER_VAR] = marker
    if scope is not None:
        env[SCOPE_VAR] = scope
    env.update(extra)
    return env


def spawn(argv: list[str], env: dict[str, str], *, output: Path | None = None) -> subprocess.Popen:
    """Start ARGV with no stdin; its stdout and stderr go to OUTPUT (or nowhere)."""
    sink = open(output, "ab") if output is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    finally:
        if output is not None:
            sink.close()


def tail(path: Path, limit: int = 300) -> str:
    """The end of a log, on one line, for an error message."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " ".join(text[-limit:].split())


@dataclass
class Exit:
    status: int          # as from os.waitpid
    cpu_s: float         # user + system of the process and all it reaped


def try_reap(proc: subprocess.Popen) -> Exit | None:
    """Reap PROC if it has exited, keeping its rusage (Popen.wait would lose it)."""
    if proc.returncode is not None:
        return None
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Exit(status, usage.ru_utime + usage.ru_stime)


def wait_exit(proc: subprocess.Popen, timeout_s: float) -> Exit:
    """Block until PROC exits (a pidfd makes this exact, with no polling)."""
    deadline = time.monotonic() + timeout_s
    pidfd = _pidfd_open(proc.pid)
    try:
        while True:
            reaped = try_reap(proc)
            if reaped is not None:
                return reaped
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{Path(proc.args[0]).name} did not exit within {timeout_s:g} s")
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.0005))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def kill_and_reap(proc: subprocess.Popen | None) -> None:
    """SIGKILL PROC if it still runs, and reap it. Safe to call twice."""
    if proc is None or proc.returncode is not None:
        return
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=SWEEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:   # unkillable (D state): leave it to sweep()
        pass


def _marked_pids(marker_entry: bytes) -> list[int]:
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        # A zombie's environ reads as empty: it no longer counts as running.
        if marker_entry in environ.split(b"\0"):
            found.append(int(entry))
    return found


def sweep(marker: str, scope: str | None = None) -> int:
    """Kill every process carrying MARKER, or only those carrying SCOPE (a
    name that includes the marker), and wait until none is left. Returns how
    many were found."""
    entry = (f"{SCOPE_VAR}={scope}" if scope is not None else f"{MARKER_VAR}={marker}").encode()
    killed: set[int] = set()
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while True:
        alive = _marked_pids(entry)
        if not alive:
            return len(killed)
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed.add(pid)
            try:   # our own children would stay zombies until reaped
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        if time.monotonic() > deadline:
            raise BenchError(f"processes {sorted(alive)} survived SIGKILL")
        time.sleep(0.01)


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(USS, PSS) of PID in KB from /proc/PID/smaps_rollup, or None where the
    kernel has no smaps_rollup. USS counts private pages, clean and dirty."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            fields[parts[0][:-1]] = int(parts[1])
    if "Pss" not in fields:
        return None
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return uss, fields["Pss"]
