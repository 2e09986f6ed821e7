"""mosaic fleet ps against a real tmux server, real sidecars and real
processes: every heartbeat state, the JSON schema, --check, garbage in the
run dir, unsafe run dirs and bad options."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import mosaic_hb
import pytest

from mosaic_launch.fleet import render
from mosaic_launch.fleet import status as fleet_status
from mosaic_launch import tmux as tmux_mod
from tests.support.agents import ps, row_of, row_with, rows, start_agent
from tests.support.hb import record_with
from tests.support.procs import pid_exists
from tests.support.run import mosaic, mosaic_argv, mosaic_proc, one_line_error
from tests.support.tmux import SLEEPER_ARGV, new_session
from tests.support.wait import wait_for

ROW_KEYS = {
    "name", "host", "runtime", "pane", "exit_status", "exit_signal", "heartbeat", "detail", "healthy",
    "age_s", "activity_s", "pid", "hb_pid", "uptime_s", "cpu_percent", "rss_bytes",
    "state", "state_source", "state_age_s", "waiting_for",
    "restart", "restarts", "last_exit_status", "last_exit_signal", "last_restart", "restart_at", "gave_up",
}
VALID = (b"ts=2026-01-01T00:00:00+0000\npid=%d\nstatus=ok\nagent=%s\nepoch=%f\nseq=1\n"
         b"interval=15\nhb_pid=%d\npid_start=0\n")


def valid_record(agent: str, pid: int = 1, epoch: float | None = None) -> bytes:
    return VALID % (pid, agent.encode(), time.time() if epoch is None else epoch, pid)


# ---- every state, for real -------------------------------------------------------


def test_ok_agent_has_every_column(tmux, run_dir):
    pane_pid, hb_pid = start_agent(tmux, run_dir, "alpha", runtime="claude")
    doc = ps(tmux, run_dir, "--check")
    (row,) = doc["agents"]
    assert set(row) == ROW_KEYS
    assert row["name"] == "alpha" and row["runtime"] == "claude"
    assert (row["pane"], row["heartbeat"], row["healthy"]) == ("alive", "ok", True)
    assert (row["pid"], row["hb_pid"]) == (pane_pid, hb_pid)
    assert row["exit_status"] is None and row["exit_signal"] is None and row["detail"] is None
    assert row["host"] is None
    assert 0 <= row["age_s"] < 6
    assert row["activity_s"] is not None and row["activity_s"] >= 0
    assert row["uptime_s"] is not None and row["uptime_s"] >= 0
    assert row["cpu_percent"] is not None and row["cpu_percent"] >= 0
    assert row["rss_bytes"] > 100_000  # sleep's resident set, at least


def test_stale_when_the_sidecar_is_frozen_then_ok_again(tmux, run_dir):
    start_agent(tmux, run_dir, "frozen", interval=0.2)
    record = mosaic_hb.read(run_dir / "frozen.hb")
    os.kill(record.hb_pid, signal.SIGSTOP)
    try:
        # 3 intervals of the record: 0.6 s without a beat.
        row = wait_for(row_with(tmux, run_dir, "frozen", heartbeat="stale"), 10, "stale")
        assert row["pane"] == "alive" and row["age_s"] > 0.6 and not row["healthy"]
        assert ps(tmux, run_dir, "--check", code=1)["agents"][0]["heartbeat"] == "stale"
    finally:
        os.kill(record.hb_pid, signal.SIGCONT)
    wait_for(row_with(tmux, run_dir, "frozen", heartbeat="ok"), 10, "ok again after SIGCONT")
    assert ps(tmux, run_dir, "--check", code=0)


def test_stale_after_overrides_the_recorded_interval(tmux, run_dir):
    start_agent(tmux, run_dir, "slow", interval=60)
    # 60 s interval: fine by its own rule, stale by --stale-after 0.3 once the beat is 0.3 s old.
    wait_for(row_with(tmux, run_dir, "slow", "--stale-after", "0.3", heartbeat="stale"), 10, "stale")
    assert row_of(tmux, run_dir, "slow")["heartbeat"] == "ok"


def test_dead_by_kill(tmux, run_dir):
    pane_pid, hb_pid = start_agent(tmux, run_dir, "victim")
    os.kill(pane_pid, signal.SIGKILL)
    # (tmux.list_panes sees to it that tmux reaps the pane: tmux/tmux#311.)
    row = wait_for(row_with(tmux, run_dir, "victim", pane="dead", exit_signal=9), 10, "dead (signal 9)")
    assert row["exit_status"] is None and row["heartbeat"] == "dead"
    assert row["pid"] == pane_pid and not row["healthy"]
    assert row["cpu_percent"] is None and row["rss_bytes"] is None  # nothing left to measure
    result = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert "dead (signal 9)" in result.stdout


def test_dead_with_exit_status(tmux, run_dir):
    pane_pid, _ = start_agent(tmux, run_dir, "quitter", argv=("sh", "-c", "read line; exit 3"))
    tmux.cmd("send-keys", "-t", "=quitter:", "bye", "Enter")
    row = wait_for(row_with(tmux, run_dir, "quitter", pane="dead", exit_status=3), 10, "dead (exit 3)")
    assert row["exit_signal"] is None and row["heartbeat"] == "dead"
    result = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert "dead (exit 3)" in result.stdout


def test_dead_by_pid_reuse(run_dir, tmux, spawn_process):
    """A live process whose start time is not the record's: not our agent."""
    proc = spawn_process(list(SLEEPER_ARGV))
    start = mosaic_hb.proc_start_time(proc.pid)
    assert start
    mosaic_hb.beat("reused", proc.pid, run_dir, interval=60, pid_start=start + 1)
    row = row_of(tmux, run_dir, "reused")
    assert row["heartbeat"] == "dead" and row["pid"] == proc.pid
    assert row["cpu_percent"] is None and row["uptime_s"] is None  # not measured: someone else's process
    # The same process with its true start time is alive.
    mosaic_hb.beat("reused", proc.pid, run_dir, interval=60, pid_start=start)
    assert row_of(tmux, run_dir, "reused")["heartbeat"] == "ok"


def test_dead_when_the_pid_is_gone(run_dir, tmux, spawn_process):
    proc = spawn_process(["true"])
    proc.wait()
    mosaic_hb.beat("gone", proc.pid, run_dir, interval=60, pid_start=12345)
    assert row_of(tmux, run_dir, "gone")["heartbeat"] == "dead"


def test_stopped_sidecar(tmux, run_dir):
    pane_pid, hb_pid = start_agent(tmux, run_dir, "halted")
    os.kill(hb_pid, signal.SIGTERM)
    wait_for(record_with(run_dir / "halted.hb", status="stopped"), 10, "status=stopped")
    wait_for(lambda: not pid_exists(hb_pid), 10, "the sidecar to exit")
    row = row_of(tmux, run_dir, "halted")
    assert (row["heartbeat"], row["pane"], row["healthy"]) == ("stopped", "alive", False)
    assert row["rss_bytes"]  # the agent itself still runs


def test_missing_record(tmux, run_dir):
    pane_pid = new_session(tmux, "norecord")
    row = row_of(tmux, run_dir, "norecord")
    assert (row["heartbeat"], row["pane"], row["pid"], row["hb_pid"]) == ("missing", "alive", pane_pid, None)
    assert row["age_s"] is None and row["rss_bytes"]


def test_record_without_session_has_pane_gone(tmux, run_dir, spawn_process):
    proc = spawn_process(list(SLEEPER_ARGV))
    mosaic_hb.beat("orphan", proc.pid, run_dir, interval=60)
    row = row_of(tmux, run_dir, "orphan")
    assert (row["heartbeat"], row["pane"], row["healthy"]) == ("ok", "gone", False)


def test_the_first_pane_is_the_agents(tmux, run_dir):
    pane_pid, _ = start_agent(tmux, run_dir, "split")
    tmux.cmd("split-window", "-d", "-t", "=split:", *SLEEPER_ARGV)
    tmux.cmd("new-window", "-d", "-t", "=split:", *SLEEPER_ARGV)
    panes = [p for p in tmux_mod.list_panes(tmux.socket_name) if p.session == "split"]
    assert len(panes) == 3 and panes[0].pid == pane_pid
    (row,) = ps(tmux, run_dir)["agents"]
    assert (row["pid"], row["pane"], row["heartbeat"]) == (pane_pid, "alive", "ok")


def test_activity_tells_a_busy_agent_from_an_idle_one(tmux, run_dir):
    new_session(tmux, "idle")
    new_session(tmux, "busy", ("sh", "-c", "while :; do echo tick; sleep 0.1; done"))
    # tmux keeps activity in whole seconds; the idle one's is its creation.
    # One snapshot must show both: on a loaded machine the busy one's output
    # may reach tmux late, so that snapshot is waited for (bounded).
    def told_apart():
        both = rows(ps(tmux, run_dir))
        return both["busy"]["activity_s"] < 1.5 and both["idle"]["activity_s"] >= 2.0

    wait_for(told_apart, 20, "a snapshot with the busy agent fresh and the idle one aged")


# ---- garbage in the run dir ------------------------------------------------------------


def test_garbage_records_are_corrupt_and_leftovers_are_not_agents(tmux, run_dir):
    run_dir.mkdir(mode=0o700)
    junk = {
        "empty": b"",
        "truncated": valid_record("truncated")[:-1],
        "binary": bytes(range(256)) * 4,
        "huge": b"x=y\n" * (10 * 1024 * 1024 // 4),
        "unknownkeys": b"".join(b"k%d=v\n" % i for i in range(50)),
        "missingkeys": b"ts=2026-01-01T00:00:00+0000\npid=1\nstatus=ok\n",
        "duplicate": valid_record("duplicate") + b"pid=2\n",
        "badstatus": valid_record("badstatus").replace(b"status=ok", b"status=maybe"),
        "nul": valid_record("nul").replace(b"seq=1", b"seq=\x001"),
    }
    for name, data in junk.items():
        (run_dir / f"{name}.hb").write_bytes(data)
    (run_dir / "adir.hb").mkdir()
    os.mkfifo(run_dir / "fifo.hb")
    (run_dir / "target").write_bytes(valid_record("link"))
    (run_dir / "link.hb").symlink_to(run_dir / "target")
    # Not agents: temp and lock files, names that are not agent names.
    for leftover in ("alpha.hb.tmp", "alpha.hb.lock", ".hb", "bad name.hb", "dot.ted.hb", "-dash.hb", "x" * 65 + ".hb"):
        (run_dir / leftover).write_bytes(valid_record("alpha"))
    junk["renamed"] = valid_record("someone-else")
    (run_dir / "renamed.hb").write_bytes(junk["renamed"])
    # Many unknown keys beside the required ones are fine (newer sidecars add keys).
    (run_dir / "extra.hb").write_bytes(valid_record("extra", pid=os.getpid()) + b"future_key=1\nother=2\n")

    started = time.monotonic()
    doc = ps(tmux, run_dir)
    assert time.monotonic() - started < 10  # the 10 MB file was not read whole (nor the fifo waited on)
    got = rows(doc)
    corrupt = set(junk) | {"adir", "fifo", "link"}
    assert set(got) == corrupt | {"extra"}
    for name in corrupt:
        assert got[name]["heartbeat"] == "corrupt", name
        assert got[name]["detail"], name
        assert got[name]["pane"] == "gone"
    assert got["extra"]["heartbeat"] == "ok"
    assert "larger than" in got["huge"]["detail"]
    assert "duplicate" in got["duplicate"]["detail"]
    assert "someone-else" in got["renamed"]["detail"]
    # The table shows them too, and survives them.
    result = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0 and result.stdout.count("corrupt") >= len(corrupt)


def test_corrupt_record_of_a_running_agent(tmux, run_dir):
    pane_pid = new_session(tmux, "mangled")
    run_dir.mkdir(mode=0o700)
    (run_dir / "mangled.hb").write_bytes(b"\xff\xfe garbage")
    row = row_of(tmux, run_dir, "mangled")
    assert (row["heartbeat"], row["pane"], row["pid"]) == ("corrupt", "alive", pane_pid)
    assert ps(tmux, run_dir, "--check", code=1)


# ---- --check, empty fleets, the JSON document -------------------------------------------


def test_check_exit_codes(tmux, run_dir):
    assert ps(tmux, run_dir, "--check", code=0)["agents"] == []  # an empty fleet is fine
    start_agent(tmux, run_dir, "good")
    ps(tmux, run_dir, "--check", code=0)
    new_session(tmux, "nohb")
    ps(tmux, run_dir, "--check", code=1)
    ps(tmux, run_dir, "--check", "good", code=0)  # only what the filter selects counts
    ps(tmux, run_dir, "--check", "no*", code=1)
    table = mosaic("fleet", "ps", "--check", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert table.exit_code == 1 and "nohb" in table.stdout and table.stderr == ""


def test_empty_fleet_without_run_dir_or_server(tmux, run_dir):
    assert not run_dir.exists()
    result = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0
    assert result.stdout.startswith("no agents:") and "does not exist" in result.stdout
    assert "no tmux server" in result.stdout
    doc = ps(tmux, run_dir)
    assert doc["agents"] == []
    assert tmux.server_pid() is None  # ps started no server


def test_json_document(tmux, run_dir):
    start_agent(tmux, run_dir, "b-agent")
    new_session(tmux, "a-agent")
    doc = ps(tmux, run_dir)
    result = doc.pop("_result")
    assert set(doc) == {"schema", "socket", "run_dir", "agents"}
    assert (doc["schema"], doc["socket"], doc["run_dir"]) == (1, tmux.socket_name, str(run_dir))
    assert [row["name"] for row in doc["agents"]] == ["a-agent", "b-agent"]
    types = {
        "name": str, "runtime": (str, type(None)), "pane": str, "heartbeat": str, "healthy": bool,
        "age_s": (float, type(None)), "activity_s": (float, int), "pid": int, "hb_pid": (int, type(None)),
        "uptime_s": float, "cpu_percent": float, "rss_bytes": int,
    }
    for row in doc["agents"]:
        assert set(row) == ROW_KEYS
        for key, kind in types.items():
            assert isinstance(row[key], kind), (key, row[key])
        assert row["pane"] in fleet_status.PANE_STATES
        assert row["heartbeat"] in fleet_status.HEARTBEAT_STATES
    assert json.loads(result.stdout)["schema"] == 1 and result.stderr == ""


def test_problems_first_and_glob_filter(tmux, run_dir, spawn_process):
    start_agent(tmux, run_dir, "a-ok")
    new_session(tmux, "b-missing")
    start_agent(tmux, run_dir, "c-ok")
    mosaic_hb.beat("d-dead", 1 << 22, run_dir, interval=60, pid_start=1)
    names = [row["name"] for row in ps(tmux, run_dir)["agents"]]
    assert names == ["a-ok", "b-missing", "c-ok", "d-dead"]
    names = [row["name"] for row in ps(tmux, run_dir, "--problems")["agents"]]
    assert names == ["b-missing", "d-dead", "a-ok", "c-ok"]
    names = [row["name"] for row in ps(tmux, run_dir, "*-ok", "d-*")["agents"]]
    assert names == ["a-ok", "c-ok", "d-dead"]
    assert ps(tmux, run_dir, "zzz*")["agents"] == []
    result = mosaic("fleet", "ps", "zzz*", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0 and result.stdout.startswith("no agents match zzz*")
    table = mosaic("fleet", "ps", "--problems", "--socket", tmux.socket_name, "--run-dir", run_dir).stdout
    lines = table.splitlines()
    assert lines[0].split() == list(render.COLUMNS)
    assert [line.split()[0] for line in lines[1:5]] == ["b-missing", "d-dead", "a-ok", "c-ok"]
    assert lines[5] == "4 agents: 2 ok, 1 dead, 1 missing; 2 not healthy"
    assert "\x1b[" not in table  # not a terminal: no colour


def test_one_tmux_call(tmux, run_dir, monkeypatch):
    start_agent(tmux, run_dir, "one")
    new_session(tmux, "two")
    calls = []
    real_run = tmux_mod._run

    def counting(socket, args, **options):
        calls.append(list(args))
        return real_run(socket, args, **options)

    monkeypatch.setattr(tmux_mod, "_run", counting)
    assert len(ps(tmux, run_dir)["agents"]) == 2
    assert [call[:2] for call in calls] == [["list-panes", "-a"]]


# ---- refusals and bad input ---------------------------------------------------------------


def test_unsafe_run_dirs_are_refused(tmux, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (real / "a.hb").write_bytes(valid_record("a"))
    link = tmp_path / "link"
    link.symlink_to(real)
    line = one_line_error(mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", link), 1)
    assert str(link) in line and "symlink" in line

    shared = tmp_path / "shared"
    shared.mkdir()
    for mode in (0o770, 0o707, 0o777):
        shared.chmod(mode)
        line = one_line_error(mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", shared), 1)
        assert "writable" in line, line
    shared.chmod(0o1777)  # sticky, as /tmp: accepted
    assert ps(tmux, shared)["agents"] == []

    afile = tmp_path / "afile"
    afile.write_text("")
    line = one_line_error(mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", afile), 1)
    assert "Not a directory" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_run_dir_of_another_user_is_refused(tmux, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    line = one_line_error(mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", theirs), 1)
    assert "owned by" in line or "owner" in line, line


@pytest.mark.parametrize("option", ["--stale-after", "--watch"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "abc", "", "1e999"])
def test_bad_seconds_are_usage_errors(tmux, run_dir, option, value):
    line = one_line_error(mosaic("fleet", "ps", option, value, "--socket", tmux.socket_name,
                                 "--run-dir", run_dir), 2)
    assert option in line


def test_bad_settings_are_usage_errors(tmux, run_dir):
    one_line_error(mosaic("fleet", "ps", "--run-dir", run_dir, env={"MOSAIC_TMUX_SOCKET": ""}), 2)
    one_line_error(mosaic("fleet", "ps", "--socket", tmux.socket_name, env={"MOSAIC_HEARTBEAT_RUN_DIR": ""}), 2)
    one_line_error(mosaic("fleet", "ps", "--socket", "no/slash", "--run-dir", run_dir), 2)
    one_line_error(mosaic("fleet", "ps", "--watch", "1", "--check", "--socket", tmux.socket_name,
                          "--run-dir", run_dir), 2)


@pytest.mark.parametrize("args", [
    ["fleet", "ps", "--bogus"], ["fleet", "ps", "--watch"], ["fleet", "ps", "--stale-after"],
    ["fleet", "nosuchcommand"], ["fleet", "up", "--bogus"], ["fleet", "down", "-f"],
])
def test_click_usage_errors_are_one_line(args):
    line = one_line_error(mosaic(*args), 2)
    assert "Usage:" not in line


def test_socket_and_run_dir_from_the_environment(tmux, run_dir, home):
    start_agent(tmux, run_dir, "fromenv")
    result = mosaic("fleet", "ps", "--json", env={"MOSAIC_TMUX_SOCKET": tmux.socket_name,
                                                   "MOSAIC_HEARTBEAT_RUN_DIR": str(run_dir)})
    doc = json.loads(result.stdout)
    assert (doc["socket"], doc["run_dir"]) == (tmux.socket_name, str(run_dir))
    assert rows(doc)["fromenv"]["heartbeat"] == "ok"
    # The defaults: mosaic-factory and ~/.config/mosaic/fleet/run, under the test's HOME.
    doc = json.loads(mosaic("fleet", "ps", "--json").stdout)
    assert (doc["socket"], doc["run_dir"]) == ("mosaic-factory", str(home / ".config/mosaic/fleet/run"))


def test_unreadable_run_dir_is_one_line(tmux, run_dir, monkeypatch):
    run_dir.mkdir(mode=0o700)

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fleet_status.os, "scandir", refuse)
    line = one_line_error(mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir), 1)
    assert "Permission denied" in line


# ---- a real process: the terminal, --watch, no traceback -------------------------------------


def _read_pty(fd: int, proc: subprocess.Popen, timeout: float = 20) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


@pytest.mark.parametrize("no_color", [None, "1"])
def test_real_process_on_a_terminal_colours_unless_no_color(tmux, run_dir, no_color):
    start_agent(tmux, run_dir, "tty")
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    if no_color:
        env["NO_COLOR"] = no_color
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        mosaic_argv("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", str(run_dir)),
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
    )
    os.close(slave)
    try:
        output = _read_pty(master, proc)
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"tty" in output and b"Traceback" not in output
    assert (b"\x1b[" in output) == (no_color is None)


def test_real_process_json_and_check(tmux, run_dir):
    start_agent(tmux, run_dir, "proc")
    done = mosaic_proc("fleet", "ps", "--json", "--check", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert done.returncode == 0, done.stderr
    assert rows(json.loads(done.stdout))["proc"]["heartbeat"] == "ok"
    new_session(tmux, "unwatched")
    done = mosaic_proc("fleet", "ps", "--check", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert done.returncode == 1 and "unwatched" in done.stdout and done.stderr == ""
    done = mosaic_proc("fleet", "ps", "--stale-after", "nan", "--socket", tmux.socket_name)
    assert done.returncode == 2 and done.stderr.startswith("mosaic: error: ") and done.stderr.count("\n") == 1


def test_watch_refreshes_until_interrupted(tmux, run_dir):
    start_agent(tmux, run_dir, "watched")
    proc = subprocess.Popen(
        mosaic_argv("fleet", "ps", "--watch", "0.1", "--json",
                    "--socket", tmux.socket_name, "--run-dir", str(run_dir)),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        documents = [json.loads(proc.stdout.readline()) for _ in range(3)]
        assert all(rows(doc)["watched"]["heartbeat"] == "ok" for doc in documents)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_watch_on_a_terminal_redraws_in_place(tmux, run_dir):
    start_agent(tmux, run_dir, "screen")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        mosaic_argv("fleet", "ps", "--watch", "0.1",
                    "--socket", tmux.socket_name, "--run-dir", str(run_dir)),
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env={**os.environ, "TERM": "xterm"},
    )
    os.close(slave)
    output = b""
    try:
        deadline = time.monotonic() + 20
        while output.count(b"\x1b[H") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                output += os.read(master, 65536)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        output += _read_pty(master, proc, timeout=2)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert output.count(b"\x1b[H") >= 3  # cursor home: each refresh draws over the last
    assert b"screen" in output and b"Traceback" not in output
    assert output.rstrip().endswith(b"\x1b[?25h")  # the cursor is shown again


# ---- formatting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [
    (None, "-"), (0, "0ms"), (0.85, "850ms"), (12.7, "12s"), (250, "4m10s"), (3 * 3600 + 125, "3h02m"),
    (2 * 86400 + 4 * 3600 + 59, "2d04h"), (-3, "0ms"),
])
def test_durations(seconds, text):
    assert render.duration(seconds) == text


@pytest.mark.parametrize("nbytes, text", [
    (None, "-"), (0, "0B"), (999, "999B"), (1000, "1.0K"), (12_900_000, "12.3M"), (512 * 1024, "512K"),
    (3 * 1024 ** 3, "3.0G"),
])
def test_sizes(nbytes, text):
    assert render.size(nbytes) == text


def test_colour_never_shifts_columns():
    rows_ = [fleet_status.AgentStatus(name="a", pane="alive", heartbeat="ok"),
             fleet_status.AgentStatus(name="bb", pane="dead", exit_status=1, heartbeat="dead")]
    plain = render.render_table(rows_)
    coloured = render.render_table(rows_, color=True)
    strip = __import__("re").compile(r"\x1b\[[0-9;?]*[a-zA-Z]").sub
    assert [strip("", line) for line in coloured] == plain
    assert "dead (exit 1)" in plain[2]


def test_without_tmux_the_records_are_still_shown(run_dir, spawn_process, monkeypatch):
    from mosaic_launch.fleet import snapshot as fleet

    monkeypatch.setattr(fleet, "_warned_no_tmux", [])
    proc = spawn_process(list(SLEEPER_ARGV))
    mosaic_hb.beat("notmux", proc.pid, run_dir, interval=60)
    result = mosaic("fleet", "ps", "--json", "--run-dir", run_dir, env={"PATH": str(run_dir)})
    assert result.exit_code == 0
    assert result.stderr.startswith("mosaic: warning: tmux not found on PATH")
    assert rows(json.loads(result.stdout))["notmux"]["heartbeat"] == "ok"


def test_sessions_not_named_like_agents_are_not_agents(tmux, run_dir):
    new_session(tmux, "not an agent")
    new_session(tmux, "agent-1")
    assert [row["name"] for row in ps(tmux, run_dir)["agents"]] == ["agent-1"]
