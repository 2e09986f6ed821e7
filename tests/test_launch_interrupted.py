"""A launch ended by a signal (Ctrl-C, kill, a closed terminal) right after
tmux made an agent's session: the agent gets its sidecar all the same.

A SIGINT, SIGTERM or SIGHUP between the session and the sidecar ended
``mosaic launch`` and ``mosaic fleet up`` with the agents running unwatched
('missing' in fleet ps; 'stopped by ...' under the record of an earlier
stop). The signal now waits until each created session's sidecar has been
started, and then takes effect as before (exit 130 and one line for SIGINT,
death by the signal for the others)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from tests.support.agents import FAST, SLEEPER, row_with, rows, ps
from tests.support.run import mosaic_argv
from tests.support.tmux import sessions
from tests.support.wait import wait_for

GENEROUS = 20.0
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


@pytest.fixture
def signalling_tmux(tmp_path):
    """A PATH whose tmux is the real one, except that once a call that makes
    sessions returns, it sends $SIGNAL to its caller (mosaic): the signal
    comes exactly between the session and its sidecar."""
    real = shutil.which("tmux")
    assert real
    bin_dir = tmp_path / "signalling-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "tmux"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"'{real}' \"$@\"; rc=$?\n"
        'case " $* " in *" new-session "*) kill -s "$SIGNAL" "$PPID";; esac\n'
        "exit $rc\n")
    wrapper.chmod(0o755)
    return str(bin_dir)


def _run(argv, bin_dir: str, signame: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "SIGNAL": signame[3:]}
    # A handled SIGINT is reset on exec; an ignored one would stay ignored.
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _check_ended(done: subprocess.CompletedProcess, signame: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    if signame == "SIGINT":
        assert (done.returncode, done.stderr) == (130, "mosaic: error: interrupted\n")
    else:
        assert done.returncode == -SIGNALS[signame], (done.returncode, done.stderr)


@pytest.mark.parametrize("signame", sorted(SIGNALS))
def test_a_launch_signalled_after_the_session_still_starts_its_sidecar(tmux, run_dir, signalling_tmux,
                                                                      signame, settled):
    argv = mosaic_argv("launch", "kilo", "--socket", tmux.socket_name, "--run-dir", run_dir,
                       "--command", SLEEPER, "--interval", FAST, "--no-hooks")
    done = _run(argv, signalling_tmux, signame)
    _check_ended(done, signame)
    assert sessions(tmux) == ["kilo"]
    row = wait_for(row_with(tmux, run_dir, "kilo", heartbeat="ok", pane="alive"), GENEROUS,
                   "the agent's heartbeat")
    assert row["healthy"] and row["hb_pid"]


@pytest.mark.parametrize("signame", sorted(SIGNALS))
def test_fleet_up_signalled_after_the_sessions_still_starts_their_sidecars(tmux, run_dir, tmp_path,
                                                                          signalling_tmux, signame, settled):
    names = ["alpha", "bravo", "charlie"]
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = {FAST}\n' + "".join(
        f'[[agent]]\nname = "{name}"\ncommand = "{SLEEPER}"\nhooks = false\n' for name in names))
    done = _run(mosaic_argv("fleet", "up", "-f", fleet), signalling_tmux, signame)
    _check_ended(done, signame)
    assert sessions(tmux) == names

    def all_ok():
        found = rows(ps(tmux, run_dir, code=None))
        return found if all(found.get(n, {}).get("heartbeat") == "ok" for n in names) else None

    found = wait_for(all_ok, GENEROUS, "every agent's heartbeat")
    assert all(found[n]["healthy"] for n in names)
