"""Agents for a test, on its tmux socket and run dir: launched through
``mosaic launch``, or started by hand (a session plus a real sidecar), and
read back through ``mosaic fleet ps``."""

from __future__ import annotations

import json

import mosaic_hb

from tests.support.procs import runs
from tests.support.run import mosaic
from tests.support.tmux import SLEEPER_ARGV, new_session
from tests.support.wait import wait_for

SLEEPER = "sleep 1000"  # the agent's command line (SLEEPER_ARGV as words)
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
        ready = list(SLEEPER_ARGV)
    if ready is not None and data["outcome"] == "launched":
        wait_for(lambda: runs(data["pane_pid"], ready), 5, f"pane {data['pane_pid']} to run {ready}")
    return data


def start_agent(tmux, run_dir, name: str, *, interval: float = 2.0, runtime: str | None = "pi",
                argv=SLEEPER_ARGV) -> tuple[int, int]:
    """A session plus a real sidecar watching its pane: (pane pid, sidecar pid).
    spawn() returns once the first beat is on disk."""
    pane_pid = new_session(tmux, name, argv)
    hb_pid = mosaic_hb.spawn(name, pane_pid, run_dir, interval, runtime=runtime)
    return pane_pid, hb_pid


def ps(tmux, run_dir, *args, code: int | None = 0, env: dict | None = None) -> dict:
    """``mosaic fleet ps --json`` on the test's socket and run dir: the
    document; the result is in ``["_result"]``."""
    result = mosaic("fleet", "ps", "--json", "--socket", tmux.socket_name, "--run-dir", run_dir, *args, env=env)
    if code is not None:
        assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    doc["_result"] = result
    return doc


def rows(doc: dict) -> dict[str, dict]:
    return {row["name"]: row for row in doc["agents"]}


def row_of(tmux, run_dir, name: str, *args) -> dict | None:
    return rows(ps(tmux, run_dir, *args, code=None)).get(name)


def row_with(tmux, run_dir, name: str, *args, **expected):
    """A wait_for condition: NAME's row has the EXPECTED values."""

    def check():
        row = row_of(tmux, run_dir, name, *args)
        if row and all(row.get(key) == value for key, value in expected.items()):
            return row
        return None

    return check
