"""Helpers shared by the launcher tests (this module holds no tests)."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import psutil

from tests.helpers import mosaic, run_mosaic, wait_for  # noqa: F401 (re-exported)

SLEEPER = "sleep 1000"
FAST = "0.2"  # heartbeat interval for tests, seconds


def launch(tmux, run_dir, name, *args, command: str = SLEEPER, interval: str = FAST, env=None,
           ready: list[str] | None = None):
    """``mosaic launch NAME --json`` on the test's socket and run dir; the
    parsed JSON result (the CliRunner result is in ``["_result"]``).

    tmux prints the pane pid right after its fork, before the child has
    changed directory and exec'ed: for a launch that starts a pane, wait
    until the pane's process runs READY (default: the sleeper's argv), so
    that its cwd, environment and cmdline are the agent's."""
    result = mosaic("launch", name, "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--interval", interval, "--command", command, "--json", *args, env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    data["_result"] = result
    if ready is None and command == SLEEPER:
        ready = ["sleep", "1000"]
    if ready is not None and data["outcome"] == "launched":
        wait_for(lambda: runs(data["pane_pid"], ready), 5, f"pane {data['pane_pid']} to run {ready}")
    return data


def runs(pid: int, argv: list[str]) -> bool:
    """True once process PID runs ARGV (argv[0] may be given as a basename)."""
    try:
        got = cmdline_of(pid)
    except OSError:
        return False
    return bool(got) and os.path.basename(got[0]) == os.path.basename(argv[0]) and got[1:] == argv[1:]


def one_line_error(result) -> str:
    """The single stderr line of a failed command."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaic: error: "), lines[0]
    return lines[0]


def environ_of(pid: int) -> dict[str, str]:
    data = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="surrogateescape").partition("=") for item in data.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def cmdline_of(pid: int) -> list[str]:
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]


def cwd_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/cwd")


def sessions(tmux) -> list[str]:
    done = tmux.cmd("list-sessions", "-F", "#{session_name}", check=False)
    return done.stdout.split() if done.returncode == 0 else []


def server_running(tmux) -> bool:
    return tmux.server_pid() is not None


def sidecars(name: str, run_dir) -> list[psutil.Process]:
    """Running mosaic-hb processes for agent NAME in RUN_DIR."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if (len(argv) > 2 and os.path.basename(argv[0]) == "mosaic-hb" and argv[1] == name
                and os.fspath(run_dir) in argv):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                continue
    return found


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def py_command(code: str, *args: str) -> str:
    """A shell command line running CODE with this Python."""
    return shlex.join([sys.executable, "-c", code, *args])


def find_files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern)] if root.exists() else []


PID_LINE = re.compile(r"pane pid (\d+)")

TOKEN_VAR = "MOSAIC_TEST_TOKEN"  # conftest's leak token


def live_token_processes() -> list[int]:
    """Live (not zombie) processes that carry this test's leak token."""
    token = os.environ.get(TOKEN_VAR)
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(TOKEN_VAR) == token:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or not ours
    return found


def settle(tmux) -> None:
    """Kill the test's tmux server and wait (bounded) until every process the
    test started has *exited*. For a fixture's teardown, before conftest's.

    The conftest guard waits until they are *gone*; a dead daemon (tmux
    server, sidecar, orphaned pane) stays a zombie until init reaps it, and
    on some machines init does that only every couple of seconds. Waiting
    for the exit here keeps that out of every test's run time, and weakens
    nothing: a process still alive after the bound is left to the guard."""
    tmux.kill()
    deadline = time.monotonic() + 5
    while live_token_processes() and time.monotonic() < deadline:
        time.sleep(0.01)
