"""The lifecycle fleet ps shows: stopped on purpose (hidden unless --all,
never a problem), dead (listed until relaunched or cleared), lost (the
sidecar is gone: at once, not after 3 intervals), and a beat in the future
(never fresh). Real tmux, real sidecars, real records."""

from __future__ import annotations

import json
import os
import signal
import time

import mosaic_hb
import psutil

from mosaic_launch.fleet import status
from mosaic_launch.fleet.proctable import ProcessTable
from tests.support.run import mosaic_proc
from tests.support.wait import wait_for


# The interval of a sidecar whose record a test rewrites: no beat of its own
# overwrites the rewrite while the test runs.
SLOW = "600"


def where(tmux, run_dir):
    return ["--socket", tmux.socket_name, "--run-dir", run_dir]


def launch(tmux, run_dir, name, interval="15"):
    done = mosaic_proc("launch", name, "--command", "sleep 1000", "--interval", interval, "--json",
                      *where(tmux, run_dir))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ps(tmux, run_dir, *args, code=0):
    done = mosaic_proc("fleet", "ps", *args, *where(tmux, run_dir))
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def ps_rows(tmux, run_dir, *args):
    return {row["name"]: row for row in json.loads(ps(tmux, run_dir, "--json", *args).stdout)["agents"]}


def gone(pid: int) -> bool:
    """PID has exited (a zombie waiting for init counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_deliberate_stop_is_hidden_and_never_a_problem(tmux, run_dir):
    launch(tmux, run_dir, "keep")
    launch(tmux, run_dir, "done")
    assert mosaic_proc("stop", "done", *where(tmux, run_dir)).returncode == 0

    assert set(ps_rows(tmux, run_dir)) == {"keep"}
    text = ps(tmux, run_dir, "--check").stdout
    assert "1 agent: 1 ok" in text and "1 stopped on purpose, not listed (--all lists them)" in text
    assert "not healthy" not in text

    rows = ps_rows(tmux, run_dir, "--all")
    assert (rows["done"]["heartbeat"], rows["done"]["pane"], rows["done"]["healthy"]) == ("stopped", "gone", False)
    assert rows["done"]["detail"].startswith("stopped by ")
    ps(tmux, run_dir, "--all", "--check")  # listed, and still not a problem

    assert mosaic_proc("stop", "keep", *where(tmux, run_dir)).returncode == 0
    text = ps(tmux, run_dir, "--check").stdout
    assert text.startswith("no agents running; 2 stopped on purpose")


def test_a_death_stays_listed_and_unhealthy_until_cleared(tmux, run_dir):
    out = launch(tmux, run_dir, "crash")
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(lambda: ps_rows(tmux, run_dir).get("crash", {}).get("heartbeat") == "dead", 10, "dead")
    ps(tmux, run_dir, "--check", code=1)
    assert mosaic_proc("stop", "crash", *where(tmux, run_dir)).returncode == 0  # clears it
    assert ps_rows(tmux, run_dir, "--all") == {}
    ps(tmux, run_dir, "--check")


def test_a_killed_sidecar_is_lost_at_once(tmux, run_dir):
    out = launch(tmux, run_dir, "orphan", interval="30")  # stale would take 90 s
    os.kill(out["sidecar_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to exit")
    row = ps_rows(tmux, run_dir)["orphan"]  # the first look after its death
    assert (row["heartbeat"], row["healthy"]) == ("lost", False)
    assert row["detail"] == f"its sidecar (pid {out['sidecar_pid']}) is gone"
    ps(tmux, run_dir, "--check", code=1)
    # launch repairs it: a new sidecar for the same agent
    again = launch(tmux, run_dir, "orphan", interval="30")
    assert again["outcome"] == "heartbeat restarted"
    assert ps_rows(tmux, run_dir)["orphan"]["heartbeat"] == "ok"


def test_a_sidecar_pid_that_names_a_newer_process_is_lost(tmux, run_dir, spawn_process):
    newer = sidecar_pid_reused(tmux, run_dir, "reused", spawn_process)
    row = ps_rows(tmux, run_dir)["reused"]
    assert row["heartbeat"] == "lost"
    assert row["detail"] == f"its sidecar's pid {newer.pid} now names another process"


def test_a_wall_clock_step_never_makes_a_live_sidecar_look_lost(tmux, run_dir):
    """The record names its sidecar by pid and start time (hb_start): a last
    beat that reads as a minute before the sidecar started, as after the
    wall clock stepped forward, still names the live sidecar. fleet ps says
    ok, and a relaunch leaves the heartbeat alone."""
    out = launch(tmux, run_dir, "steady", interval=SLOW)
    path = run_dir / "steady.hb"
    record = mosaic_hb.read(path)
    assert record.hb_start == mosaic_hb.proc_start_time(out["sidecar_pid"])
    rewrite(path, record, epoch=record.epoch - 60)
    assert psutil.Process(out["sidecar_pid"]).create_time() > record.epoch - 60 + status.START_SLACK_S
    row = ps_rows(tmux, run_dir)["steady"]
    assert (row["heartbeat"], row["healthy"]) == ("ok", True), row
    again = launch(tmux, run_dir, "steady", interval=SLOW)
    assert (again["outcome"], again["sidecar_pid"], again["heartbeat_was"]) == (
        "already running", out["sidecar_pid"], None)


def test_a_wall_clock_set_back_or_forward_leaves_the_beats_age_alone(tmux, run_dir):
    """The beat's age is read on the boot clock (since_boot), which never
    steps: a last beat that reads as an hour ahead or two hours behind (the
    wall clock set back, or forward, since) is still the beat of a moment
    ago, and a beat the boot clock puts 3 intervals back is stale, whatever
    the wall clock says."""
    out = launch(tmux, run_dir, "clock", interval=SLOW)
    path = run_dir / "clock.hb"
    record = mosaic_hb.read(path)
    assert 0 <= mosaic_hb.boot_clock() - record.since_boot < float(SLOW)
    for step in (3600, -7200):
        rewrite(path, record, epoch=record.epoch + step)
        row = ps_rows(tmux, run_dir)["clock"]
        assert (row["heartbeat"], row["healthy"]) == ("ok", True), (step, row)
        assert row["age_s"] < float(SLOW), (step, row)
        again = launch(tmux, run_dir, "clock", interval=SLOW)
        assert (again["outcome"], again["sidecar_pid"]) == ("already running", out["sidecar_pid"]), step
    rewrite(path, record, epoch=time.time(), since_boot=record.since_boot - 3 * float(SLOW) - 1)
    row = ps_rows(tmux, run_dir)["clock"]
    assert row["heartbeat"] == "stale" and row["age_s"] > 3 * float(SLOW), row


def test_the_age_of_a_beat_whose_sidecar_is_gone_is_read_on_the_wall_clock(tmux, run_dir):
    """A since_boot is a time on its own boot's clock. A record left from an
    earlier boot (its sidecar gone) whose since_boot this boot's clock has
    passed read as a few seconds old, though its beat was two days ago:
    the boot clock counts only for a sidecar found running."""
    out = launch(tmux, run_dir, "rebooted", interval=SLOW)
    path = run_dir / "rebooted.hb"
    record = mosaic_hb.read(path)
    os.kill(out["sidecar_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to exit")
    two_days = 2 * 86400
    rewrite(path, record, epoch=time.time() - two_days, since_boot=max(0.0, mosaic_hb.boot_clock() - 5))
    row = ps_rows(tmux, run_dir)["rebooted"]
    assert row["heartbeat"] == "lost" and two_days <= row["age_s"] < two_days + 60, row
    os.kill(out["pane_pid"], signal.SIGKILL)  # and the agent gone with it: dead
    wait_for(lambda: gone(out["pane_pid"]), 10, "the agent to exit")
    row = ps_rows(tmux, run_dir)["rebooted"]
    assert row["heartbeat"] == "dead" and two_days <= row["age_s"] < two_days + 60, row


def test_a_process_table_taken_before_the_sidecar_got_its_pid_does_not_make_it_lost(tmux, run_dir):
    """fleet ps takes one process table, then reads the records. A sidecar
    started in between (a launch beside fleet ps) may have a pid that the
    table holds as the process that had it before: the table's no is
    checked afresh, and the live sidecar is ok."""
    out = launch(tmux, run_dir, "fresh", interval="30")
    record = mosaic_hb.read(run_dir / "fresh.hb")
    table = ProcessTable.take()
    before = table.processes[record.hb_pid]._replace(start_ticks=record.hb_start - 1)
    table.processes[record.hb_pid] = before  # as the pid's previous holder was
    assert status.sidecar_problem(record, table) is None
    os.kill(out["sidecar_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to exit")
    assert status.sidecar_problem(record, table) == f"its sidecar (pid {record.hb_pid}) is gone"


def test_a_record_without_hb_start_is_matched_on_its_last_beat(tmux, run_dir, spawn_process):
    """An older sidecar's record has no hb_start: its live writer is ok, and
    a pid that names a process started after the last beat is lost."""
    out = launch(tmux, run_dir, "older", interval=SLOW)
    path = run_dir / "older.hb"
    record = mosaic_hb.read(path)
    rewrite(path, record, hb_start=None)
    assert mosaic_hb.read(path).hb_start is None
    assert ps_rows(tmux, run_dir)["older"]["heartbeat"] == "ok"
    newer = sidecar_pid_reused(tmux, run_dir, "older-reused", spawn_process, hb_start=None)
    row = ps_rows(tmux, run_dir)["older-reused"]
    assert row["detail"] == f"its sidecar's pid {newer.pid} now names another process"
    assert out["sidecar_pid"] != newer.pid


def sidecar_pid_reused(tmux, run_dir, name, spawn_process, **changes):
    """Launch NAME, kill its sidecar, and make its record name a process
    started a minute after the last beat, as a reused pid would (with
    CHANGES to the record besides): that process (a Popen)."""
    out = launch(tmux, run_dir, name, interval="30")
    record = mosaic_hb.read(run_dir / f"{name}.hb")
    os.kill(out["sidecar_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to exit")
    newer = spawn_process(["sleep", "1000"])
    rewrite(run_dir / f"{name}.hb", record, hb_pid=newer.pid, epoch=record.epoch - 60, **changes)
    assert psutil.Process(newer.pid).create_time() > record.epoch - 60 + status.START_SLACK_S
    return newer


def rewrite(path, record, **changes) -> None:
    """Write RECORD with CHANGES to PATH (as a forged or damaged file would be)."""
    path.write_bytes(mosaic_hb.record.format_record(mosaic_hb.Record(**{**record.__dict__, **changes})))


def test_a_beat_in_the_future_is_never_fresh(tmux, run_dir):
    """A record without the boot clock's time (an older sidecar's) whose
    beat lies an hour ahead, as after the wall clock was set back: stale,
    not fresh for an hour; lost once its sidecar is gone."""
    launch(tmux, run_dir, "future", interval=SLOW)
    record = mosaic_hb.read(run_dir / "future.hb")
    path = run_dir / "future.hb"
    future = time.time() + 3600
    record = mosaic_hb.Record(**{**record.__dict__, "since_boot": None})
    rewrite(path, record, epoch=future)
    row = ps_rows(tmux, run_dir)["future"]
    assert (row["heartbeat"], row["healthy"]) == ("stale", False)
    assert "in the future" in row["detail"]
    ps(tmux, run_dir, "--check", code=1)

    os.kill(record.hb_pid, signal.SIGKILL)  # and its sidecar gone: lost, not ok forever
    wait_for(lambda: gone(record.hb_pid), 10, "the sidecar to exit")
    rewrite(path, record, epoch=future)
    assert ps_rows(tmux, run_dir)["future"]["heartbeat"] == "lost"


def test_stop_of_an_agent_whose_sidecar_pid_was_reused_does_not_wait_on_it(tmux, run_dir, spawn_process):
    bystander = sidecar_pid_reused(tmux, run_dir, "victim", spawn_process)
    done = mosaic_proc("stop", "victim", "--timeout", "30", *where(tmux, run_dir))
    assert done.returncode == 0, done.stderr
    assert "no sidecar was watching" in done.stdout
    assert bystander.poll() is None  # left alone
    assert mosaic_hb.read(run_dir / "victim.hb").status == "stopped"
