"""The mosaic-hb sidecar, run as users run it: real processes, real files."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time

import psutil
import pytest

import mosaic_hb
from tests.support.hb import read_record, record_with, sidecar
from tests.support.procs import pid_exists
from tests.support.wait import wait_for

BEAT = "0.05"
GENEROUS = 5.0  # seconds; bounds for events that normally take milliseconds


@pytest.fixture
def target(spawn_process):
    """A live process to watch."""
    return spawn_process(["sleep", "300"])


def start_sidecar(agent, pid, run_dir, *extra, env=None) -> int:
    done = sidecar(agent, str(pid), "--run-dir", str(run_dir), "--interval", BEAT, *extra, env=env)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def wait_gone(pid: int) -> None:
    wait_for(lambda: not pid_exists(pid), GENEROUS, f"process {pid} to exit")


def test_record_appears_and_refreshes(target, run_dir):
    hb_pid = start_sidecar("alpha", target.pid, run_dir)
    hb_file = run_dir / "alpha.hb"
    first = mosaic_hb.read(hb_file)  # written before spawn returned
    assert (first.status, first.pid, first.agent, first.hb_pid) == ("ok", target.pid, "alpha", hb_pid)
    assert first.pid_start == mosaic_hb.proc_start_time(target.pid)
    assert first.interval == 0.05
    text = hb_file.read_text().splitlines()
    assert [line.split("=")[0] for line in text[:3]] == ["ts", "pid", "status"]  # the seed's order
    later = wait_for(lambda: (r := read_record(hb_file)) and r.seq >= first.seq + 3 and r, GENEROUS,
                     "three more beats")
    assert later.epoch > first.epoch
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    target.kill()
    wait_gone(hb_pid)


def test_kill_9_of_target_writes_dead_and_exits(target, run_dir):
    hb_pid = start_sidecar("bravo", target.pid, run_dir, "--runtime", "claude")
    target.kill()
    record = wait_for(record_with(run_dir / "bravo.hb", status="dead"), GENEROUS, "status=dead")
    assert record.runtime == "claude"
    wait_gone(hb_pid)
    assert sorted(p.name for p in run_dir.iterdir()) == ["bravo.hb", "bravo.hb.lock"]


def test_sigterm_to_sidecar_writes_stopped(target, run_dir):
    hb_pid = start_sidecar("charlie", target.pid, run_dir)
    os.kill(hb_pid, signal.SIGTERM)
    wait_for(record_with(run_dir / "charlie.hb", status="stopped"), GENEROUS, "status=stopped")
    wait_gone(hb_pid)
    assert target.poll() is None  # the agent is untouched


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_other_stop_signals_write_stopped(target, run_dir, signum):
    hb_pid = start_sidecar("delta", target.pid, run_dir)
    os.kill(hb_pid, signum)
    wait_for(record_with(run_dir / "delta.hb", status="stopped"), GENEROUS, "status=stopped")
    wait_gone(hb_pid)


def test_daemon_outlives_its_parent_in_its_own_session(target, run_dir):
    # The parent (mosaic-hb in the caller's role) has exited when spawn returns.
    hb_pid = start_sidecar("echo", target.pid, run_dir)
    daemon = psutil.Process(hb_pid)
    assert os.getsid(hb_pid) != os.getsid(0)
    assert os.getsid(hb_pid) != hb_pid, "the daemon must not be a session leader"
    assert daemon.ppid() != os.getpid()
    assert daemon.cwd() == "/"
    assert daemon.exe().endswith("mosaic-hb")  # no Python interpreter
    null = os.stat("/dev/null")
    for fd in (0, 1, 2):
        st = os.stat(f"/proc/{hb_pid}/fd/{fd}")
        assert (st.st_dev, st.st_ino) == (null.st_dev, null.st_ino)
    open_files = {os.readlink(f"/proc/{hb_pid}/fd/{fd}") for fd in os.listdir(f"/proc/{hb_pid}/fd")}
    assert str(run_dir) in open_files
    assert str(run_dir / "echo.hb.lock") in open_files
    assert len(open_files) <= 5  # /dev/null, run dir, lock, pidfd
    target.kill()
    wait_gone(hb_pid)


def test_second_sidecar_replaces_the_first(target, run_dir):
    first = start_sidecar("foxtrot", target.pid, run_dir)
    second = start_sidecar("foxtrot", target.pid, run_dir)
    assert first != second
    wait_gone(first)
    record = wait_for(record_with(run_dir / "foxtrot.hb", hb_pid=second), GENEROUS, "the new writer")
    assert record.status == "ok"
    writers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"]
               and "foxtrot" in p.info["cmdline"] and str(run_dir) in p.info["cmdline"]]
    assert [p.pid for p in writers] == [second]
    # The replaced sidecar hands over silently: no "stopped" from it.
    seen = {mosaic_hb.read(run_dir / "foxtrot.hb").hb_pid for _ in range(200)}
    assert seen == {second}
    target.kill()
    wait_gone(second)


def test_reader_never_sees_a_partial_record(target, run_dir):
    hb_pid = start_sidecar("golf", target.pid, run_dir)
    hb_file = run_dir / "golf.hb"
    seqs = set()
    for _ in range(20_000):
        seqs.add(mosaic_hb.read(hb_file).seq)  # raises RecordError on a torn file
    assert len(seqs) > 1, "the sidecar should have beaten during the reads"
    target.kill()
    wait_gone(hb_pid)


def test_run_dir_removed_mid_run_is_created_again(target, run_dir):
    hb_pid = start_sidecar("hotel", target.pid, run_dir)
    for child in run_dir.iterdir():
        child.unlink()
    run_dir.rmdir()
    record = wait_for(lambda: read_record(run_dir / "hotel.hb"), GENEROUS, "the record to come back")
    assert record.hb_pid == hb_pid
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert (run_dir / "hotel.hb.lock").exists()
    target.kill()
    wait_for(record_with(run_dir / "hotel.hb", status="dead"), GENEROUS, "status=dead")
    wait_gone(hb_pid)


def test_leftover_temp_file_is_cleaned_up(target, run_dir):
    run_dir.mkdir(mode=0o700)
    (run_dir / "india.hb.tmp").write_text("ts=half a rec")
    hb_pid = start_sidecar("india", target.pid, run_dir)
    assert not (run_dir / "india.hb.tmp").exists()
    target.kill()
    wait_gone(hb_pid)


def test_zombie_target_counts_as_dead(spawn_process, run_dir):
    child = spawn_process(["sleep", "300"])
    hb_pid = start_sidecar("juliet", child.pid, run_dir)
    os.kill(child.pid, signal.SIGKILL)  # not reaped: a zombie until the fixture waits
    wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, GENEROUS, "a zombie")
    wait_for(record_with(run_dir / "juliet.hb", status="dead"), GENEROUS, "status=dead")
    wait_gone(hb_pid)
    assert not mosaic_hb.alive(child.pid)
    done = sidecar("juliet", str(child.pid), "--run-dir", str(run_dir))
    assert done.returncode == 1 and "no such process" in done.stderr


def test_kill0_fallback_detects_death(target, run_dir):
    env = dict(os.environ, MOSAIC_HB_WATCH="poll")
    hb_pid = start_sidecar("kilo", target.pid, run_dir, env=env)
    open_files = [os.readlink(f"/proc/{hb_pid}/fd/{fd}") for fd in os.listdir(f"/proc/{hb_pid}/fd")]
    assert not any("pidfd" in name for name in open_files)
    target.kill()
    wait_for(record_with(run_dir / "kilo.hb", status="dead"), GENEROUS, "status=dead")
    wait_gone(hb_pid)


def _fork_with_pid(wanted: int) -> subprocess.Popen | None:
    """Start a process that gets pid WANTED (root only: ns_last_pid)."""
    try:
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(wanted - 1))
    except OSError:
        return None
    proc = subprocess.Popen(["sleep", "300"])
    if proc.pid != wanted:
        proc.kill()
        proc.wait()
        return None
    return proc


def test_pid_start_mismatch_is_dead(spawn_process):
    proc = spawn_process(["sleep", "300"])
    start = mosaic_hb.proc_start_time(proc.pid)
    assert mosaic_hb.alive(proc.pid, start)
    assert mosaic_hb.alive(proc.pid)  # 0: identity not checked
    assert not mosaic_hb.alive(proc.pid, start + 1)  # same pid, another process


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                    reason="reusing a chosen pid needs root (ns_last_pid)")
def test_real_pid_reuse_gives_dead(run_dir):
    # The polling fallback wakes every 250 ms; reuse the pid between wake-ups.
    victim = subprocess.Popen(["sleep", "300"])
    env = dict(os.environ, MOSAIC_HB_WATCH="poll")
    done = sidecar("lima", str(victim.pid), "--run-dir", str(run_dir), "--interval", "5", env=env)
    assert done.returncode == 0, done.stderr
    hb_pid = int(done.stdout)
    pid = victim.pid
    impostor = None
    try:
        # Start times count clock ticks (10 ms): let a few pass, or the
        # impostor would start in the same tick and look identical.
        start = mosaic_hb.proc_start_time(pid)
        ticks = os.sysconf("SC_CLK_TCK")
        wait_for(lambda: time.clock_gettime(time.CLOCK_BOOTTIME) * ticks > start + 3, GENEROUS, "ticks")
        victim.kill()
        victim.wait()
        for _ in range(20):
            impostor = _fork_with_pid(pid)
            if impostor:
                break
        if impostor is None:
            pytest.skip("could not get the pid back (another process took it)")
        record = wait_for(record_with(run_dir / "lima.hb", status="dead"), GENEROUS, "status=dead")
        assert record.pid == pid
        wait_gone(hb_pid)
        assert impostor.poll() is None  # the impostor is alive, and was not mistaken for the agent
    finally:
        if impostor:
            impostor.kill()
            impostor.wait()


def test_write_failure_keeps_old_record_and_recovers(target, run_dir):
    hb_pid = start_sidecar("mike", target.pid, run_dir)
    hb_file = run_dir / "mike.hb"
    daemon = psutil.Process(hb_pid)
    before = wait_for(lambda: read_record(hb_file), GENEROUS, "a record")
    daemon.rlimit(psutil.RLIMIT_FSIZE, (16, psutil.RLIM_INFINITY))  # every write now fails with EFBIG
    frozen = wait_for(lambda: (r := read_record(hb_file)) and r.seq >= before.seq and r, GENEROUS, "a record")
    # The record stops changing, stays whole, and no temp file piles up.
    for _ in range(50):
        record = mosaic_hb.read(hb_file)
        assert record.seq <= frozen.seq + 1
        assert sorted(p.name for p in run_dir.iterdir()) in (
            ["mike.hb", "mike.hb.lock"], ["mike.hb", "mike.hb.lock", "mike.hb.tmp"])
    wait_for(lambda: not (run_dir / "mike.hb.tmp").exists(), GENEROUS, "no temp file")
    assert daemon.is_running()
    daemon.rlimit(psutil.RLIMIT_FSIZE, (psutil.RLIM_INFINITY, psutil.RLIM_INFINITY))
    stuck = mosaic_hb.read(hb_file).seq
    wait_for(lambda: mosaic_hb.read(hb_file).seq > stuck + 1, GENEROUS, "beats to resume")
    target.kill()
    wait_gone(hb_pid)


def test_planted_symlinks_never_redirect_a_write(target, run_dir, tmp_path):
    run_dir.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (run_dir / "november.hb.tmp").symlink_to(victim)
    (run_dir / "november.hb").symlink_to(victim)
    hb_pid = start_sidecar("november", target.pid, run_dir)
    assert victim.read_text() == "precious\n"
    assert not (run_dir / "november.hb").is_symlink()
    assert mosaic_hb.read(run_dir / "november.hb").hb_pid == hb_pid
    target.kill()
    wait_gone(hb_pid)
    assert victim.read_text() == "precious\n"


def test_foreground_runs_in_the_calling_process(target, run_dir):
    proc = subprocess.Popen([mosaic_hb.sidecar_path(), "oscar", str(target.pid), "--run-dir", str(run_dir),
                             "--interval", BEAT, "--foreground"])
    try:
        record = wait_for(lambda: read_record(run_dir / "oscar.hb"), GENEROUS, "a record")
        assert record.hb_pid == proc.pid
        target.kill()
        assert proc.wait(timeout=GENEROUS) == 0
        assert mosaic_hb.read(run_dir / "oscar.hb").status == "dead"
    finally:
        proc.kill()
        proc.wait()


def test_defaults_come_from_the_environment(target, home, tmp_path):
    env = dict(os.environ)
    env.pop("MOSAIC_HEARTBEAT_RUN_DIR", None)
    done = sidecar("papa", str(target.pid), env=env)
    assert done.returncode == 0, done.stderr
    record = mosaic_hb.read(home / ".config/mosaic/fleet/run/papa.hb")
    assert record.interval == 15
    os.kill(int(done.stdout), signal.SIGTERM)
    wait_gone(int(done.stdout))
    custom = tmp_path / "custom"
    env.update(MOSAIC_HEARTBEAT_RUN_DIR=str(custom), MOSAIC_HEARTBEAT_INTERVAL="0.5")
    done = sidecar("papa", str(target.pid), env=env)
    assert done.returncode == 0, done.stderr
    assert mosaic_hb.read(custom / "papa.hb").interval == 0.5
    os.kill(int(done.stdout), signal.SIGTERM)
    wait_gone(int(done.stdout))


def test_version_and_help():
    done = sidecar("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"mosaic-hb {mosaic_hb.__version__}"
    done = sidecar("--help")
    assert done.returncode == 0 and "usage: mosaic-hb AGENT PID" in done.stdout


def test_in_process_run_releases_the_gil(target, run_dir):
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(end=mosaic_hb.run("quebec", target.pid, run_dir, 0.05)))
    runner.start()
    wait_for(lambda: read_record(run_dir / "quebec.hb"), GENEROUS, "a record")
    # While the loop waits in C, this thread keeps running Python.
    counted = sum(1 for _ in range(200_000))
    assert counted == 200_000
    target.kill()
    runner.join(GENEROUS)
    assert outcome == {"end": "dead"}
    record = mosaic_hb.read(run_dir / "quebec.hb")
    assert (record.status, record.hb_pid) == ("dead", os.getpid())


def test_beat_writes_one_record(target, run_dir):
    mosaic_hb.beat("romeo", target.pid, run_dir, status="stopped", interval=2, seq=7, runtime="pi")
    record = mosaic_hb.read(run_dir / "romeo.hb")
    assert (record.status, record.seq, record.interval, record.runtime) == ("stopped", 7, 2.0, "pi")
    assert record.pid_start == mosaic_hb.proc_start_time(target.pid)
    assert sorted(p.name for p in run_dir.iterdir()) == ["romeo.hb"]


def test_wait_exit_uses_the_sidecars_notifier(spawn_process):
    child = spawn_process(["sleep", "300"])
    start = mosaic_hb.proc_start_time(child.pid)
    assert mosaic_hb.wait_exit(child.pid, start, 0.05) is False  # still running: the time runs out
    os.kill(child.pid, signal.SIGKILL)  # not reaped: a zombie counts as ended
    assert mosaic_hb.wait_exit(child.pid, start, GENEROUS) is True
    assert mosaic_hb.wait_exit(child.pid, start + 1, 0.0) is True  # another process's start: gone
