"""Faults of a running fleet, end to end through the real ``mosaic`` command
(a process of its own, as a user runs it) on the test's tmux socket and run dir.

1. A sidecar killed with SIGKILL: ``fleet ps`` says stale 3 intervals after
   the last beat; a relaunch restarts the heartbeat and leaves the agent alone.
2. The tmux server killed with SIGKILL: every sidecar records dead within 1 s
   and exits; nothing is left running.
3. A sidecar stopped (SIGSTOP), then continued: stale, then ok, one writer;
   also when a relaunch comes while it is stopped.
6. The run dir deleted under running agents: the next beats make it again.
7. 100 agents at once, by ``fleet up`` and by 200 parallel ``launch``
   processes: one session and one sidecar each, every heartbeat ok; ``fleet
   down`` leaves nothing running.

The sidecar-level faults (1, 3, 4, 5, 8) are in test_sidecar_faults.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

import mosaic_hb
from mosaic_launch import tmux as tmux_mod
from tests.support.hb import record_with
from tests.support.procs import live_token_processes, pid_exists
from tests.support.run import mosaic_argv, mosaic_proc
from tests.support.tmux import sessions
from tests.support.wait import wait_for

GENEROUS = 15.0  # a bound for events that normally take milliseconds
FAST = "0.2"  # heartbeat interval, seconds: stale after 0.6 s without a beat
FLEET_SIZE = 100


# Every test here runs a fleet on the test's tmux server; see support.wait.settle.
pytestmark = pytest.mark.usefixtures("settled")


class Fleet:
    """``mosaic`` commands on the test's socket and run dir."""

    def __init__(self, tmux, run_dir: Path):
        self.tmux = tmux
        self.run_dir = run_dir
        self.where = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]

    def launch_args(self, name: str, interval: str = FAST) -> list[str]:
        return ["launch", name, *self.where, "--interval", interval, "--command", "sleep 300"]

    def launch(self, name: str, interval: str = FAST) -> dict:
        done = mosaic_proc(*self.launch_args(name, interval), "--json")
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        result = json.loads(done.stdout)
        assert result["outcome"] == "launched" and result["sidecar_pid"], result
        return result

    def relaunch(self, name: str) -> tuple[str, int | None]:
        """``mosaic launch NAME`` again: its one line, and the sidecar pid it names."""
        done = mosaic_proc(*self.launch_args(name))
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        found = re.search(r"sidecar pid (\d+)", done.stdout)
        return done.stdout, int(found.group(1)) if found else None

    def ps(self, *args: str, code: int | None = 0) -> dict[str, dict]:
        """``fleet ps --json``: its rows by name."""
        done = mosaic_proc("fleet", "ps", "--json", *self.where, *args)
        if code is not None:
            assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        return {row["name"]: row for row in json.loads(done.stdout)["agents"]}

    def row(self, name: str, *args: str) -> dict | None:
        return self.ps(*args, code=None).get(name)

    def row_with(self, name: str, *args: str, **expected):
        """A wait_for condition: NAME's row has the EXPECTED values."""

        def check():
            row = self.row(name, *args)
            return row if row and all(row.get(k) == v for k, v in expected.items()) else None

        return check


def sidecars_by_agent(run_dir: Path) -> dict[str, list[int]]:
    """Live mosaic-hb processes writing to RUN_DIR, by agent name."""
    found: dict[str, list[int]] = defaultdict(list)
    for proc in psutil.process_iter(["cmdline", "status"]):
        argv = proc.info["cmdline"] or []
        if (len(argv) > 2 and os.path.basename(argv[0]) == "mosaic-hb" and os.fspath(run_dir) in argv
                and proc.info["status"] != psutil.STATUS_ZOMBIE):
            found[argv[1]].append(proc.pid)
    return dict(found)


def writers(hb_file: Path, beats: int = 3) -> set[int]:
    """The hb_pid of every record read while BEATS more beats are written."""
    seen = set()
    first = mosaic_hb.read(hb_file).seq

    def more_beats():
        record = mosaic_hb.read(hb_file)
        seen.add(record.hb_pid)
        return record.seq >= first + beats

    wait_for(more_beats, GENEROUS, f"{beats} more beats in {hb_file.name}")
    return seen


def born(pid: int) -> float:
    return psutil.Process(pid).create_time()


# ---- 1. a sidecar killed with SIGKILL ------------------------------------------------


@pytest.mark.parametrize("relaunch", ["after 3 intervals", "at once"])
def test_sidecar_killed_9_is_lost_and_a_relaunch_restarts_the_heartbeat(tmux, run_dir, relaunch):
    fleet = Fleet(tmux, run_dir)
    first = fleet.launch("kilo")
    agent, old = first["pane_pid"], first["sidecar_pid"]
    started = born(agent)
    assert mosaic_hb.read(run_dir / "kilo.hb").hb_pid == old
    assert fleet.row("kilo")["heartbeat"] == "ok"

    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not pid_exists(old), GENEROUS, "the sidecar to die")
    row = fleet.row("kilo")  # the first look after the death already knows
    assert (row["heartbeat"], row["pane"], row["healthy"]) == ("lost", "alive", False)
    if relaunch == "after 3 intervals":
        last = mosaic_hb.read(run_dir / "kilo.hb")  # nobody writes it any more
        # Stale is due 3 intervals after the last beat: one look just after that.
        due = last.epoch + 3 * last.interval
        wait_for(lambda: time.time() > due + 0.05, GENEROUS, "3 intervals since the last beat")
        row = fleet.row("kilo")
        assert (row["heartbeat"], row["pane"], row["healthy"]) == ("lost", "alive", False)
        assert (row["pid"], row["hb_pid"]) == (agent, old)
        fleet.ps("--check", code=1)
    # "at once": the record is still fresh, but its sidecar is gone.

    line, new = fleet.relaunch("kilo")
    # Lost, as fleet ps said, however old the last beat: not "stale".
    assert line.startswith("kilo already running, heartbeat restarted (it was without a sidecar): "
                           f"pane pid {agent}, sidecar pid {new}; ")
    assert new not in (None, old)
    row = fleet.row("kilo")
    assert (row["heartbeat"], row["healthy"], row["pid"], row["hb_pid"]) == ("ok", True, agent, new)
    assert sidecars_by_agent(run_dir) == {"kilo": [new]}
    # The agent was not touched: the same process in the same single pane.
    assert pid_exists(agent) and born(agent) == started
    assert sessions(tmux) == ["kilo"]
    assert [p.pid for p in tmux_mod.session_panes(tmux.socket_name, "kilo")] == [agent]


# ---- 2. the tmux server killed with SIGKILL ---------------------------------------------


def test_tmux_server_killed_9_every_sidecar_records_dead_within_1s(tmux, run_dir):
    fleet = Fleet(tmux, run_dir)
    names = [f"oscar{i}" for i in range(5)]
    launched = {name: fleet.launch(name, interval="5") for name in names}
    assert all(row["healthy"] for row in fleet.ps("--check").values())

    server = tmux.server_pid()
    killed_at = time.time()
    os.kill(server, signal.SIGKILL)
    for name, out in launched.items():
        record = wait_for(record_with(run_dir / f"{name}.hb", status="dead"), GENEROUS, f"{name}: dead")
        assert (record.pid, record.hb_pid) == (out["pane_pid"], out["sidecar_pid"])
        late = record.epoch - killed_at
        assert late < 1.0, f"{name} was recorded dead {late:.3f}s after the kill"
    for out in launched.values():
        wait_for(lambda pid=out["sidecar_pid"]: not pid_exists(pid), GENEROUS, "the sidecar to exit")
    wait_for(lambda: not live_token_processes(), GENEROUS, "every process of the test to exit")
    assert {(row["heartbeat"], row["pane"]) for row in fleet.ps().values()} == {("dead", "gone")}


# ---- 3. a sidecar stopped, then continued ---------------------------------------------------


def test_stopped_sidecar_is_stale_then_ok_again_with_one_writer(tmux, run_dir):
    fleet = Fleet(tmux, run_dir)
    out = fleet.launch("papa")
    hb_pid = out["sidecar_pid"]
    os.kill(hb_pid, signal.SIGSTOP)
    try:
        row = wait_for(fleet.row_with("papa", heartbeat="stale"), GENEROUS, "stale while stopped")
        assert row["age_s"] >= 3 * float(FAST) and row["pane"] == "alive" and row["hb_pid"] == hb_pid
        assert fleet.row("papa", "--stale-after", "3600")["heartbeat"] == "ok"  # a longer limit
        fleet.ps("--check", code=1)
    finally:
        os.kill(hb_pid, signal.SIGCONT)
    wait_for(fleet.row_with("papa", heartbeat="ok", hb_pid=hb_pid), GENEROUS, "ok after SIGCONT")
    assert writers(run_dir / "papa.hb") == {hb_pid}
    assert sidecars_by_agent(run_dir) == {"papa": [hb_pid]}
    fleet.ps("--check")


def test_relaunch_while_the_sidecar_is_stopped_leaves_one_writer(tmux, run_dir):
    """`mosaic launch` is the remedy for a stale heartbeat, and a stopped
    sidecar is stale: the new sidecar takes over (the stopped one is
    continued so that it can hand over), and the old one never writes again."""
    fleet = Fleet(tmux, run_dir)
    out = fleet.launch("quebec")
    agent, old = out["pane_pid"], out["sidecar_pid"]
    os.kill(old, signal.SIGSTOP)
    try:
        wait_for(fleet.row_with("quebec", heartbeat="stale"), GENEROUS, "stale while stopped")
        line, new = fleet.relaunch("quebec")  # no warning: the new sidecar got the lock
        assert line.startswith(f"quebec already running, heartbeat restarted (it was stale): pane pid {agent}, "
                               f"sidecar pid {new}; ")
        wait_for(lambda: not pid_exists(old), GENEROUS, "the stopped sidecar to hand over")
    finally:
        try:
            os.kill(old, signal.SIGCONT)
        except ProcessLookupError:
            pass
    wait_for(fleet.row_with("quebec", heartbeat="ok", hb_pid=new), GENEROUS, "ok from the new sidecar")
    assert writers(run_dir / "quebec.hb") == {new}
    assert sidecars_by_agent(run_dir) == {"quebec": [new]}
    os.kill(agent, signal.SIGKILL)
    record = wait_for(record_with(run_dir / "quebec.hb", status="dead"), GENEROUS, "status=dead")
    assert record.hb_pid == new


# ---- 6. the run dir deleted under running agents ----------------------------------------


@pytest.mark.parametrize("removed", ["the run dir", "its parent"])
def test_run_dir_deleted_under_running_agents_is_made_again(tmux, tmp_path, removed):
    run_dir = tmp_path / "state" / "run"
    fleet = Fleet(tmux, run_dir)
    names = ["romeo1", "romeo2", "romeo3"]
    launched = {name: fleet.launch(name) for name in names}
    victim = run_dir if removed == "the run dir" else run_dir.parent

    # rm -rf races the beats (a temp file may appear between its unlinks and
    # its rmdir, which then fails): run it until one run removes the tree.
    def remove():
        return subprocess.run(["rm", "-rf", str(victim)], capture_output=True).returncode == 0

    wait_for(remove, GENEROUS, f"rm -rf to remove {removed}")
    for name, out in launched.items():
        record = wait_for(record_with(run_dir / f"{name}.hb", status="ok", hb_pid=out["sidecar_pid"]),
                          GENEROUS, f"{name}'s record to come back")
        assert record.pid == out["pane_pid"]
    made = [run_dir] if removed == "the run dir" else [run_dir, run_dir.parent]
    for directory in made:
        assert stat.S_IMODE(directory.lstat().st_mode) == 0o700, directory
    for name in names:
        assert (run_dir / f"{name}.hb.lock").is_file()  # each sidecar locked again
    rows = fleet.ps("--check")
    assert {name: (row["heartbeat"], row["pid"], row["hb_pid"]) for name, row in rows.items()} == {
        name: ("ok", out["pane_pid"], out["sidecar_pid"]) for name, out in launched.items()}
    assert sidecars_by_agent(run_dir) == {name: [out["sidecar_pid"]] for name, out in launched.items()}
    line, _ = fleet.relaunch("romeo1")  # healthy again: nothing to restart
    assert line.startswith("romeo1 already running: ")


# ---- 7. 100 agents at once ----------------------------------------------------------------


@contextmanager
def descriptors(wanted: int = 4096):
    """Raise the soft limit on open files for the processes started inside
    (the tmux server holds a pty per agent and a socket per waiting client;
    macOS starts at 256)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    raise_it = soft != resource.RLIM_INFINITY and soft < target
    if raise_it:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    try:
        yield
    finally:
        if raise_it:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def check_one_session_and_one_sidecar_each(fleet: Fleet, names: list[str]) -> None:
    assert sorted(sessions(fleet.tmux)) == sorted(names)
    panes = defaultdict(list)
    for pane in tmux_mod.list_panes(fleet.tmux.socket_name):
        panes[pane.session].append(pane)
    assert all(len(found) == 1 and not found[0].dead for found in panes.values())
    by_agent = sidecars_by_agent(fleet.run_dir)
    assert sorted(by_agent) == sorted(names)
    assert {name: pids for name, pids in by_agent.items() if len(pids) != 1} == {}
    rows = fleet.ps("--check")
    assert sorted(rows) == sorted(names)
    for name, row in rows.items():
        assert (row["heartbeat"], row["healthy"]) == ("ok", True), row
        assert (row["pid"], row["hb_pid"]) == (panes[name][0].pid, by_agent[name][0]), row


def check_nothing_running(fleet: Fleet, names: list[str]) -> None:
    assert sessions(fleet.tmux) == []
    wait_for(lambda: not sidecars_by_agent(fleet.run_dir), GENEROUS, "every sidecar to exit")
    statuses = {mosaic_hb.read(fleet.run_dir / f"{name}.hb").status for name in names}
    assert statuses == {"stopped"}  # fleet down is a deliberate stop, not a death
    wait_for(lambda: not live_token_processes(), GENEROUS, "every process of the test to exit")


def test_fleet_up_of_100_agents_then_fleet_down_leaves_nothing(tmux, run_dir, tmp_path):
    fleet = Fleet(tmux, run_dir)
    names = [f"up-{i:03d}" for i in range(FLEET_SIZE)]
    path = tmp_path / "fleet.toml"
    lines = [f"socket = {json.dumps(tmux.socket_name)}", f"run_dir = {json.dumps(str(run_dir))}", "interval = 5"]
    for name in names:
        lines += ["", "[[agent]]", f'name = "{name}"', 'command = "sleep 300"']
    path.write_text("\n".join(lines) + "\n")

    with descriptors():
        done = mosaic_proc("fleet", "up", "-f", path, timeout=180)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == f"fleet up: {FLEET_SIZE} launched, 0 already running, 0 failed"
    check_one_session_and_one_sidecar_each(fleet, names)

    done = mosaic_proc("fleet", "down", "-f", path, timeout=180)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == f"fleet down: {FLEET_SIZE} stopped, 0 not running, 0 failed"
    check_nothing_running(fleet, names)


def test_100_agents_each_launched_twice_in_parallel_run_once(tmux, run_dir, tmp_path):
    """200 `mosaic launch` processes at once, two per agent: each agent gets
    one session and one sidecar; one launch of each says launched, the
    other already running."""
    fleet = Fleet(tmux, run_dir)
    names = [f"par-{i:03d}" for i in range(FLEET_SIZE)]
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    procs: list[tuple[str, Path, Path, subprocess.Popen]] = []
    try:
        with descriptors():
            for name in names:
                for copy in (1, 2):  # back to back: the two race each other
                    out, err = outputs / f"{name}.{copy}.out", outputs / f"{name}.{copy}.err"
                    with open(out, "w") as stdout, open(err, "w") as stderr:
                        procs.append((name, out, err, subprocess.Popen(
                            mosaic_argv(*fleet.launch_args(name, interval="5")),
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)))
            for *_, proc in procs:
                proc.wait(timeout=180)
    finally:
        for *_, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [(name, proc.returncode, err.read_text()) for name, _, err, proc in procs if proc.returncode] == []
    heads = defaultdict(list)
    for name, out, err, _ in procs:
        assert err.read_text() == "", name
        heads[name].append(out.read_text().split(":")[0])
    assert {name: sorted(found) for name, found in heads.items()} == {
        name: sorted([f"{name} already running", f"launched {name}"]) for name in names}
    check_one_session_and_one_sidecar_each(fleet, names)

    done = mosaic_proc("fleet", "down", "--all", *fleet.where, timeout=180)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == f"fleet down: {FLEET_SIZE} stopped, 0 not running, 0 failed"
    check_nothing_running(fleet, names)
