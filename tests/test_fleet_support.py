"""Helpers shared by the fleet tests (this module holds no tests)."""

from __future__ import annotations

import json

import mosaic_hb

from tests.helpers import mosaic, run_mosaic  # noqa: F401 (re-exported)


SLEEPER = ("sleep", "1000")


def one_line_error(result, code: int) -> str:
    """The single stderr line of a command that failed with exit status CODE."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaic: error: "), lines[0]
    return lines[0]


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


def new_session(tmux, name: str, argv=SLEEPER) -> int:
    """A detached session NAME running ARGV (two or more words: tmux execs
    it, no shell in between), kept when it exits (remain-on-exit, as launch
    sets it); the pane pid."""
    done = tmux.cmd("new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name, *argv,
                    ";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on")
    return int(done.stdout.split()[0])


def start_agent(tmux, run_dir, name: str, *, interval: float = 2.0, runtime: str | None = "pi",
                argv=SLEEPER) -> tuple[int, int]:
    """A session plus a real sidecar watching its pane: (pane pid, sidecar pid).
    spawn() returns once the first beat is on disk."""
    pane_pid = new_session(tmux, name, argv)
    hb_pid = mosaic_hb.spawn(name, pane_pid, run_dir, interval, runtime=runtime)
    return pane_pid, hb_pid
