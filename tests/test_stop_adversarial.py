"""`mosaic stop` and `fleet down` against a hostile environment: a sidecar
that cannot record the death in time, odd files at the record's name,
stops racing each other. Real tmux, real sidecars, real records."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import mosaic_hb
import psutil
import pytest

from tests.support.agents import launch, row_of
from tests.support.hb import read_record
from tests.support.run import mosaic_argv, mosaic_proc
from tests.support.tmux import sessions
from tests.support.wait import wait_for


def where(tmux, run_dir):
    return ["--socket", tmux.socket_name, "--run-dir", run_dir]


def test_a_frozen_sidecar_does_not_turn_a_deliberate_stop_into_a_death(tmux, run_dir):
    # A sidecar stopped (SIGSTOP, a starved machine) cannot record the death
    # within the timeout; if it lived on, it would write "dead" over the stop
    # once it runs again, and a cron check would page for an agent the
    # operator stopped on purpose.
    agent = launch(tmux, run_dir, "frozen")
    hb_pid = agent["sidecar_pid"]
    hb_start = mosaic_hb.proc_start_time(hb_pid)
    os.kill(hb_pid, signal.SIGSTOP)
    try:
        done = mosaic_proc("stop", "frozen", "--timeout", "1", *where(tmux, run_dir))
    finally:
        if mosaic_hb.alive(hb_pid, hb_start):
            os.kill(hb_pid, signal.SIGCONT)
    assert done.returncode == 0, done.stderr
    assert "heartbeat: stopped" in done.stdout, done.stdout
    wait_for(lambda: not mosaic_hb.alive(hb_pid, hb_start), 5, "the frozen sidecar to be gone")
    record = read_record(run_dir / "frozen.hb")
    assert record is not None and record.status == "stopped", record
    assert row_of(tmux, run_dir, "frozen", "--all")["heartbeat"] == "stopped"


SLOW_EXIT = 'trap "sleep 3; exit 0" HUP TERM; while :; do sleep 1; done'


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_fleet_down_interrupted_midway_still_records_deliberate_stops(tmux, run_dir, tmp_path, signum):
    # Ctrl-C (or a supervisor's SIGTERM) while fleet down waits for slow agents:
    # their sessions are already hung up, so they are going on purpose; their
    # sidecars must not record a death once they exit.
    names = [f"slow{i}" for i in range(3)]
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 0.5\n' + "".join(
        f'\n[[agent]]\nname = "{name}"\ncommand = {json.dumps(SLOW_EXIT)}\n' for name in names))
    assert mosaic_proc("fleet", "up", "-f", fleet).returncode == 0
    pids = [launched["pid"] for launched in map(lambda n: row_of(tmux, run_dir, n), names)]
    # the trap is set once the loop runs: its `sleep 1` child is there
    wait_for(lambda: all(psutil.Process(pid).children() for pid in pids), 10, "the agents' traps to be set")

    down = subprocess.Popen(mosaic_argv("fleet", "down", "-f", fleet), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: not sessions(tmux), 10, "fleet down to hang up every session")
        down.send_signal(signum)
        out, err = down.communicate(timeout=20)
    finally:
        if down.poll() is None:
            down.kill()
            down.communicate()
    assert down.returncode == 130, (down.returncode, out, err)
    assert "Traceback" not in err and "interrupted" in err, err

    wait_for(lambda: all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
                         for pid in pids), 15, "the slow agents to exit on their own")
    for name in names:
        record = read_record(run_dir / f"{name}.hb")
        assert record is not None and record.status == "stopped", (name, record)
    check = mosaic_proc("fleet", "ps", "--check", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert check.returncode == 0, check.stdout
