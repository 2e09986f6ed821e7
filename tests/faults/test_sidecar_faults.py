"""Faults at the sidecar: killed mid-write, a full disk, a frozen sidecar."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import psutil
import pytest

import mosaic_hb
from mosaic_launch.fleet.status import collect, list_records
from tests.support.hb import read_record, record_with, sidecar
from tests.support.procs import pid_exists
from tests.support.wait import wait_for

GENEROUS = 10.0


def heartbeat_state(run_dir: Path, agent: str) -> str:
    rows = {row.name: row for row in collect(run_dir, [])}
    return rows[agent].heartbeat if agent in rows else "missing"


def start(agent, pid, run_dir, interval="0.05", env=None) -> int:
    done = sidecar(agent, str(pid), "--run-dir", str(run_dir), "--interval", interval, env=env)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is needed to stop a write half-way")
def test_sidecar_killed_in_the_middle_of_a_write(spawn_process, run_dir):
    agent = spawn_process(["sleep", "300"])
    first = start("alpha", agent.pid, run_dir)
    os.kill(first, signal.SIGTERM)
    wait_for(lambda: not pid_exists(first), GENEROUS, "the first sidecar to stop")
    good = mosaic_hb.read(run_dir / "alpha.hb")

    # A reader hammers the record the whole time.
    torn: list[BaseException] = []
    reads = [0]
    done_reading = threading.Event()

    def hammer():
        while not done_reading.is_set():
            try:
                mosaic_hb.read(run_dir / "alpha.hb")
                reads[0] += 1
            except mosaic_hb.RecordError as exc:  # a torn record
                torn.append(exc)

    reader = threading.Thread(target=hammer)
    reader.start()
    try:
        # strace kills the sidecar at its 3rd write(): the temp file of the
        # 3rd beat is created and empty, the rename never happens.
        victim = subprocess.run(
            ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=write",
             "-e", "inject=write:signal=SIGKILL:when=3",
             mosaic_hb.sidecar_path(), "alpha", str(agent.pid), "--run-dir", str(run_dir),
             "--interval", "0.05", "--foreground"],
            capture_output=True, timeout=GENEROUS,
        )
        assert victim.returncode != 0
        leftover = run_dir / "alpha.hb.tmp"
        assert leftover.exists(), "the kill should have left a temp file"
        assert [name for name, _ in list_records(run_dir)] == ["alpha"]  # the temp file is not an agent
        record = mosaic_hb.read(run_dir / "alpha.hb")
        assert record.status == "ok" and record.seq >= good.seq  # a whole record, old or new

        # The next sidecar cleans up and carries on.
        second = start("alpha", agent.pid, run_dir)
        assert not leftover.exists()
        wait_for(record_with(run_dir / "alpha.hb", hb_pid=second), GENEROUS, "the new sidecar's record")
    finally:
        done_reading.set()
        reader.join()
    assert torn == [] and reads[0] > 0
    agent.kill()
    wait_for(record_with(run_dir / "alpha.hb", status="dead"), GENEROUS, "status=dead")


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 64 KiB tmpfs, mounted for the test (root only)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_disk_full_keeps_the_last_record_and_recovers(spawn_process, tiny_filesystem):
    run_dir = tiny_filesystem / "run"
    agent = spawn_process(["sleep", "300"])
    hb_pid = start("bravo", agent.pid, run_dir)
    last_good = wait_for(lambda: read_record(run_dir / "bravo.hb"), GENEROUS, "a record")

    filler = tiny_filesystem / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: the disk is full
    finally:
        os.close(fd)
    frozen = mosaic_hb.read(run_dir / "bravo.hb").seq
    assert frozen >= last_good.seq
    # The sidecar keeps running; the record stays whole and does not move on;
    # temp files do not pile up.
    for _ in range(2000):
        record = mosaic_hb.read(run_dir / "bravo.hb")
        assert record.seq <= frozen + 1 and record.status == "ok"
        assert len(os.listdir(run_dir)) <= 3
    assert psutil.Process(hb_pid).status() != psutil.STATUS_ZOMBIE
    wait_for(lambda: not (run_dir / "bravo.hb.tmp").exists(), GENEROUS, "no temp file")

    filler.unlink()
    stuck = mosaic_hb.read(run_dir / "bravo.hb").seq
    wait_for(lambda: mosaic_hb.read(run_dir / "bravo.hb").seq > stuck + 1, GENEROUS, "beats to resume")
    agent.kill()
    wait_for(record_with(run_dir / "bravo.hb", status="dead"), GENEROUS, "status=dead")
    wait_for(lambda: not pid_exists(hb_pid), GENEROUS, "the sidecar to exit")


def test_frozen_sidecar_goes_stale_then_recovers_with_one_writer(spawn_process, run_dir):
    agent = spawn_process(["sleep", "300"])
    hb_pid = start("charlie", agent.pid, run_dir, interval="0.1")
    assert heartbeat_state(run_dir, "charlie") == "ok"
    os.kill(hb_pid, signal.SIGSTOP)
    try:
        wait_for(lambda: heartbeat_state(run_dir, "charlie") == "stale", GENEROUS, "stale")
    finally:
        os.kill(hb_pid, signal.SIGCONT)
    wait_for(lambda: heartbeat_state(run_dir, "charlie") == "ok", GENEROUS, "ok again")
    writers = {mosaic_hb.read(run_dir / "charlie.hb").hb_pid for _ in range(300)}
    assert writers == {hb_pid}
    agent.kill()
    wait_for(record_with(run_dir / "charlie.hb", status="dead"), GENEROUS, "status=dead")


def test_sidecar_killed_9_is_lost_and_a_new_one_takes_over(spawn_process, run_dir):
    agent = spawn_process(["sleep", "300"])
    hb_pid = start("delta", agent.pid, run_dir, interval="0.1")
    os.kill(hb_pid, signal.SIGKILL)
    wait_for(lambda: heartbeat_state(run_dir, "delta") == "lost", GENEROUS, "lost")
    assert agent.poll() is None
    second = start("delta", agent.pid, run_dir, interval="0.1")
    wait_for(lambda: heartbeat_state(run_dir, "delta") == "ok", GENEROUS, "ok after the restart")
    assert mosaic_hb.read(run_dir / "delta.hb").hb_pid == second
    agent.kill()
    wait_for(record_with(run_dir / "delta.hb", status="dead"), GENEROUS, "status=dead")


