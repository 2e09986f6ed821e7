"""`mosaic-hb state` signals the record's hb_pid, and SIGUSR2's default
action kills. A record whose hb_pid names a live process that started
before the last beat but does not handle SIGUSR2 (a record written by
mosaic_hb.beat() from a long-lived Python process, or a hand-made one)
must not cost that process its life. Real processes; waits are bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import mosaic_hb
from mosaic_hb.record import Record, format_record

# A process that handles SIGUSR2 (as a sidecar does) and says so on stdout.
CATCHER = r"""
import signal, sys
def on_usr2(signum, frame):
    print("usr2", flush=True)
    sys.exit(0)
signal.signal(signal.SIGUSR2, on_usr2)
print("ready", flush=True)
signal.pause()
"""


def hook(agent: str, run_dir) -> subprocess.CompletedProcess:
    env = dict(os.environ, MOSAIC_AGENT_NAME=agent, MOSAIC_HEARTBEAT_RUN_DIR=str(run_dir))
    return subprocess.run([mosaic_hb.sidecar_path(), "state", "working"], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=10)


def record_naming(run_dir, agent: str, hb_pid: int, *, age: float = -2.0, hb_start: int | None = None) -> None:
    """A record with status ok whose last beat was AGE seconds ago (by default
    2 s from now: HB_PID started before it), naming its writer's start time
    HB_START if given."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    record = Record(ts=time.strftime("%Y-%m-%dT%H:%M:%S%z"), pid=os.getpid(), status="ok", agent=agent,
                    epoch=time.time() - age, seq=1, interval=15.0, hb_pid=hb_pid, pid_start=0,
                    hb_start=hb_start)
    (run_dir / f"{agent}.hb").write_bytes(format_record(record))


def start_catcher(spawn_process) -> subprocess.Popen:
    catcher = spawn_process([sys.executable, "-c", CATCHER], stdout=subprocess.PIPE, text=True)
    assert catcher.stdout.readline() == "ready\n"
    return catcher


# A process that handles SIGUSR2 but keeps it blocked, and says on each
# line of stdin whether one is pending. The hook's kill() has queued it by
# the time the hook exits, so the answer does not hang on scheduling: a
# SIGTERM sent right after a SIGUSR2 can end CATCHER before its Python
# handler runs, and a signalled catcher then looks untouched.
HOLDER = r"""
import signal, sys
signal.signal(signal.SIGUSR2, lambda *args: None)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
print("ready", flush=True)
for line in sys.stdin:
    print("usr2" if signal.SIGUSR2 in signal.sigpending() else "none", flush=True)
"""


def start_holder(spawn_process) -> subprocess.Popen:
    holder = spawn_process([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "ready\n"
    return holder


def signalled(holder: subprocess.Popen) -> bool:
    holder.stdin.write("\n")
    holder.stdin.flush()
    return holder.stdout.readline() == "usr2\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
def test_a_process_that_does_not_handle_sigusr2_is_not_signalled(spawn_process, run_dir):
    bystander = spawn_process(["sleep", "300"])
    record_naming(run_dir, "bystander", bystander.pid)
    done = hook("bystander", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / "bystander.state").state == "working"
    # A SIGUSR2 sent by the hook would be delivered before this SIGTERM.
    bystander.send_signal(signal.SIGTERM)
    assert bystander.wait(timeout=10) == -signal.SIGTERM


def test_a_process_that_handles_sigusr2_is_signalled(spawn_process, run_dir):
    catcher = start_catcher(spawn_process)
    record_naming(run_dir, "catcher", catcher.pid)
    done = hook("catcher", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert catcher.stdout.readline() == "usr2\n"
    assert catcher.wait(timeout=10) == 0


def test_a_writer_named_by_its_start_time_is_signalled_whatever_the_wall_clock_did(spawn_process, run_dir):
    """hb_start names the writer exactly: a last beat that reads as an hour
    before the writer started (the wall clock stepped) does not hide it."""
    catcher = start_catcher(spawn_process)
    record_naming(run_dir, "stepped", catcher.pid, age=3600, hb_start=mosaic_hb.proc_start_time(catcher.pid))
    done = hook("stepped", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert catcher.stdout.readline() == "usr2\n"
    assert catcher.wait(timeout=10) == 0


def test_a_pid_whose_start_time_is_not_the_writers_is_not_signalled(spawn_process, run_dir):
    """The same pid with another start time is another process (a reused
    pid), even one that started before the last beat and handles SIGUSR2."""
    holder = start_holder(spawn_process)
    record_naming(run_dir, "reused", holder.pid, hb_start=mosaic_hb.proc_start_time(holder.pid) + 1)
    done = hook("reused", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert not signalled(holder)
    record_naming(run_dir, "reused", holder.pid, hb_start=mosaic_hb.proc_start_time(holder.pid))
    (run_dir / "reused.state").unlink()  # a repeated state signals no one
    assert hook("reused", run_dir).returncode == 0  # the holder tells a signal apart
    assert signalled(holder)


def test_a_python_process_that_wrote_its_own_beat_survives_the_hook(spawn_process, run_dir):
    """The documented one-shot API: mosaic_hb.beat() records the caller as
    hb_pid. A hook for that agent must leave the caller alone."""
    script = ("import mosaic_hb, os, sys, signal\n"
              f"mosaic_hb.beat('selfbeat', os.getpid(), {str(run_dir)!r})\n"
              "print('ready', flush=True)\n"
              "sys.stdin.readline()\n"
              "print('alive', flush=True)\n")
    writer = spawn_process([sys.executable, "-c", script], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "ready\n"
    done = hook("selfbeat", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    writer.stdin.write("go\n")
    writer.stdin.flush()
    assert writer.stdout.readline() == "alive\n"
    assert writer.wait(timeout=10) == 0


@pytest.mark.parametrize("hb_start", ["0", "duplicated", "21 digits"])
def test_a_record_whose_hb_start_the_readers_call_corrupt_names_no_one(spawn_process, run_dir, hb_start):
    """record.py calls these records corrupt (hb_start 0, a key twice, more
    than 20 digits); the hook read them as an older record without
    hb_start, or took the second hb_start, and signalled the process the
    record names."""
    holder = start_holder(spawn_process)
    start = mosaic_hb.proc_start_time(holder.pid)
    record_naming(run_dir, "odd", holder.pid, hb_start=start)
    text = (run_dir / "odd.hb").read_text()
    line = f"hb_start={start}\n"
    forged = {"0": "hb_start=0\n", "duplicated": f"hb_start={start + 1}\n{line}",
              "21 digits": f"hb_start={start:021d}\n"}[hb_start]
    (run_dir / "odd.hb").write_text(text.replace(line, forged))
    with pytest.raises(mosaic_hb.RecordError):
        mosaic_hb.read(run_dir / "odd.hb")
    done = hook("odd", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert not signalled(holder)
