"""`mosaic stop` and `fleet down` against a hostile environment: a sidecar
that cannot record the death in time, odd files at the record's name,
stops racing each other. Real tmux, real sidecars, real records."""

from __future__ import annotations

import os
import signal

import mosaic_hb

from tests.support.agents import launch, row_of
from tests.support.hb import read_record
from tests.support.run import mosaic_proc
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
