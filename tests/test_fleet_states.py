"""Agent states in `mosaic fleet ps` (issue 13): from the hook keys of a
record, from the hook's own `.state` file when the sidecar is lost or
absent, and from the pane (a real bell in a real tmux pane, output); how they
combine (the Esc gap), the STATE column, --state, --problems and --host."""

from __future__ import annotations

import os
import time

import mosaic_hb
import pytest
from mosaic_hb.record import Record, format_record

from mosaic_launch import tmux as tmux_mod
from mosaic_launch.fleet import render
from mosaic_launch.fleet import status as fleet_status
from tests.support.agents import launch, ps, row_with, rows
from tests.support.run import mosaic, mosaic_proc, one_line_error
from tests.support.tmux import new_session
from tests.support.wait import wait_for
from tests.support.remote import GOOD_ROW, fake_ssh, strict_json

pytestmark = pytest.mark.usefixtures("settled")

STATE_KEYS = {"state", "state_source", "state_age_s", "waiting_for"}


def write_record(run_dir, agent: str, pane_pid: int, *, hb_pid: int | None = None, **extra: str) -> None:
    """A record of a live agent (pid PANE_PID) written by a live sidecar
    (this test process, unless HB_PID), with EXTRA keys: the state keys the
    sidecar copies from the hook."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    if "state" in extra:  # the sidecar always copies when the state began
        extra.setdefault("state_epoch", f"{time.time():.6f}")
    record = Record(ts="2026-01-01T00:00:00+0000", pid=pane_pid, status="ok", agent=agent, epoch=time.time(),
                    seq=1, interval=60, hb_pid=hb_pid or os.getpid(),
                    pid_start=mosaic_hb.proc_start_time(pane_pid), runtime="claude", extra=extra)
    temp = run_dir / f".{agent}.tmp"
    temp.write_bytes(format_record(record))
    os.replace(temp, run_dir / f"{agent}.hb")


def write_state_file(run_dir, agent: str, state: str, *, epoch: float | None = None, waiting_for=None,
                     owner: str | None = None) -> None:
    """`<agent>.state` in the hook program's format (states.md, section 1)."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    text = f"state={state}\nsource=hook\nepoch={time.time() if epoch is None else epoch:.6f}\nagent={owner or agent}\n"
    if waiting_for:
        text += f"waiting_for={waiting_for}\n"
    (run_dir / f"{agent}.state").write_text(text)


def agent(tmux, run_dir, name: str, **extra: str) -> int:
    """A session running a sleeper, with a record carrying EXTRA; its pane pid."""
    pane_pid = new_session(tmux, name)
    write_record(run_dir, name, pane_pid, **extra)
    return pane_pid


def state_of(row: dict) -> tuple:
    return row["state"], row["state_source"], row["waiting_for"]


# ---- from the hooks ------------------------------------------------------------------------------


def test_each_hook_state_from_the_record(tmux, run_dir):
    began = time.time() - 42
    epoch = f"{began:.6f}"
    agent(tmux, run_dir, "a-start", state="starting", state_source="hook", state_epoch=epoch)
    agent(tmux, run_dir, "b-work", state="working", state_source="hook", state_epoch=epoch)
    agent(tmux, run_dir, "c-perm", state="waiting", state_source="hook", state_epoch=epoch,
          waiting_for="permission")
    agent(tmux, run_dir, "d-ask", state="waiting", state_source="hook", state_epoch=epoch, waiting_for="question")
    agent(tmux, run_dir, "e-idle", state="idle", state_source="hook", state_epoch=epoch)
    # Values no hook writes: an unknown state is no hook state (the pane's guess
    # stands in); a bad epoch has no age; waiting_for only goes with waiting.
    agent(tmux, run_dir, "f-odd", state="dancing", state_source="hook", state_epoch=epoch)
    agent(tmux, run_dir, "g-noepoch", state="idle", state_source="hook", state_epoch="soon",
          waiting_for="permission")
    doc = ps(tmux, run_dir, "--check")
    found = rows(doc)
    for row in found.values():
        assert STATE_KEYS <= set(row)
    assert state_of(found["a-start"]) == ("starting", "hook", None)
    assert state_of(found["b-work"]) == ("working", "hook", None)
    assert state_of(found["c-perm"]) == ("waiting", "hook", "permission")
    assert state_of(found["d-ask"]) == ("waiting", "hook", "question")
    assert state_of(found["e-idle"]) == ("idle", "hook", None)
    assert state_of(found["f-odd"]) == ("working", "pane", None)  # the pane printed within 5 s
    # A state without a valid start is not a hook state either (the sidecar always writes one).
    assert state_of(found["g-noepoch"]) == ("working", "pane", None)
    for name in ("a-start", "b-work", "c-perm", "e-idle"):
        assert 41 <= found[name]["state_age_s"] < 60, found[name]
    # Waiting is not unhealthy: --check passed above.
    table = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir).stdout.splitlines()
    assert table[0].split() == list(render.COLUMNS)
    cells = {line.split()[0]: line.split() for line in table[1:-1]}
    state_column = render.COLUMNS.index("STATE")
    assert {name: c[state_column] for name, c in cells.items()} == {
        "a-start": "starting", "b-work": "working", "c-perm": "waiting:permission", "d-ask": "waiting:question",
        "e-idle": "idle", "f-odd": "working~", "g-noepoch": "working~"}
    assert table[-1] == "7 agents: 7 ok; 2 waiting"


def test_the_state_file_when_the_sidecar_is_lost_or_absent(tmux, run_dir, spawn_process):
    # Lost: the record's sidecar is gone; the hook still writes its own file.
    gone = spawn_process(["true"])
    gone.wait()
    pane_pid = new_session(tmux, "lost")
    write_record(run_dir, "lost", pane_pid, hb_pid=gone.pid, state="idle", state_source="hook",
                 state_epoch=f"{time.time() - 100:.6f}")
    write_state_file(run_dir, "lost", "waiting", waiting_for="permission")
    # Absent: a session without a record.
    new_session(tmux, "norecord")
    write_state_file(run_dir, "norecord", "idle", epoch=time.time() - 7)
    # A sidecar too old to copy states: the record has none, the file has one.
    agent(tmux, run_dir, "oldsidecar")
    write_state_file(run_dir, "oldsidecar", "starting")
    # Files that are not this agent's state: another agent's, a symlink, garbage.
    agent(tmux, run_dir, "copied")
    write_state_file(run_dir, "copied", "waiting", owner="someone-else")
    agent(tmux, run_dir, "linked")
    write_state_file(run_dir, "target", "waiting")
    os.symlink(run_dir / "target.state", run_dir / "linked.state")
    agent(tmux, run_dir, "garbage")
    (run_dir / "garbage.state").write_bytes(b"state=waiting\n\x00\xff")
    agent(tmux, run_dir, "huge")
    (run_dir / "huge.state").write_bytes(b"state=waiting\n" + b"x=" + b"y" * 5000 + b"\n")
    agent(tmux, run_dir, "fifo")
    os.mkfifo(run_dir / "fifo.state")

    found = rows(ps(tmux, run_dir))
    assert found["lost"]["heartbeat"] == "lost"
    assert state_of(found["lost"]) == ("waiting", "hook", "permission")
    assert found["norecord"]["heartbeat"] == "missing"
    assert state_of(found["norecord"]) == ("idle", "hook", None) and 7 <= found["norecord"]["state_age_s"] < 20
    assert state_of(found["oldsidecar"]) == ("starting", "hook", None)
    for name in ("copied", "linked", "garbage", "huge", "fifo"):
        assert state_of(found[name]) == ("working", "pane", None), name  # the pane's guess


def test_no_state_for_a_dead_pane_or_a_stopped_agent(tmux, run_dir):
    pane_pid = agent(tmux, run_dir, "dies", state="working", state_source="hook")
    os.kill(pane_pid, 9)
    wait_for(row_with(tmux, run_dir, "dies", pane="dead"), 10, "the pane to be dead")
    row = rows(ps(tmux, run_dir))["dies"]
    assert state_of(row) == (None, None, None) and row["state_age_s"] is None
    # A record without a session: pane gone, no state either.
    write_record(run_dir, "nosession", pane_pid=os.getpid(), state="idle", state_source="hook")
    row = rows(ps(tmux, run_dir))["nosession"]
    assert row["pane"] == "gone" and row["state"] is None
    # Stopped on purpose while its pane still lives (the sidecar alone was
    # stopped): no state, even with a hook's file there.
    live = new_session(tmux, "halted")
    record = Record(ts="2026-01-01T00:00:00+0000", pid=live, status="stopped", agent="halted", epoch=time.time(),
                    seq=1, interval=60, hb_pid=os.getpid(), pid_start=mosaic_hb.proc_start_time(live),
                    extra={"stopped_by": "test", "state": "working", "state_source": "hook"})
    (run_dir / "halted.hb").write_bytes(format_record(record))
    write_state_file(run_dir, "halted", "waiting")
    row = rows(ps(tmux, run_dir))["halted"]
    assert (row["pane"], row["heartbeat"], row["state"]) == ("alive", "stopped", None)


# ---- the Esc gap ---------------------------------------------------------------------------------


def test_hook_working_with_a_silent_pane_is_idle_from_the_pane(tmux, run_dir, monkeypatch):
    agent(tmux, run_dir, "esc", state="working", state_source="hook", state_epoch=f"{time.time() - 100:.6f}")
    # The pane printed when it started, less than PANE_SILENT_S ago: the hook stands.
    assert state_of(rows(ps(tmux, run_dir))["esc"]) == ("working", "hook", None)
    # Limits small enough for a test: the same pane, silent past them.
    monkeypatch.setattr(fleet_status, "PANE_SILENT_S", 0.0)
    monkeypatch.setattr(fleet_status, "PANE_WORKING_S", 0.0)
    row = wait_for(row_with(tmux, run_dir, "esc", state="idle"), 5, "idle from the pane")
    assert state_of(row) == ("idle", "pane", None)
    assert row["state_age_s"] == pytest.approx(row["activity_s"], abs=0.5)
    # Silent since the hook, not only since the output: a hook newer than the
    # limit stands (a tool that prints nothing for a while).
    monkeypatch.setattr(fleet_status, "PANE_SILENT_S", 3600.0)
    write_record(run_dir, "esc", rows(ps(tmux, run_dir))["esc"]["pid"], state="working", state_source="hook",
                 state_epoch=f"{time.time():.6f}")
    assert state_of(rows(ps(tmux, run_dir))["esc"]) == ("working", "hook", None)
    table = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir).stdout
    assert " working " in table


# ---- the pane fallback, from a real bell ---------------------------------------------------------


BELL_SCRIPT = ("read go; printf '\\a'; read answer; "
               "while :; do echo \"working on $answer\"; sleep 0.2; done")


def test_a_real_bell_is_waiting_from_the_pane_until_the_answer(tmux, run_dir, tmp_path):
    # Another session first, then monitor-bell off for every window, as a
    # user's tmux.conf may say: mosaic's sessions still see their bell.
    new_session(tmux, "other")
    tmux.cmd("set-option", "-g", "-w", "monitor-bell", "off")
    pane_pid = tmux_mod.new_session(tmux.socket_name, "asker", ["sh", "-c", BELL_SCRIPT], workdir=str(tmp_path))
    assert tmux.cmd("show-options", "-w", "-v", "-t", "=asker:", "monitor-bell").stdout.strip() == "on"
    write_record(run_dir, "asker", pane_pid)  # a record without hook states: the pane's guess

    tmux.cmd("send-keys", "-t", "=asker:", "go", "Enter")
    row = wait_for(row_with(tmux, run_dir, "asker", state="waiting"), 10, "the bell to make it waiting")
    assert state_of(row) == ("waiting", "pane", None)
    assert row["state_age_s"] is not None and row["state_age_s"] >= 0
    panes = tmux_mod.session_panes(tmux.socket_name, "asker")
    assert panes[0].bell and panes[0].bell_at > 0
    table = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir).stdout.splitlines()
    line = next(line for line in table if line.startswith("asker "))
    assert line.split()[render.COLUMNS.index("STATE")] == "waiting~"
    assert table[-1].endswith("; 1 waiting")
    # tmux keeps its bell flag until someone looks; the agent's output after
    # the bell (it got its answer and works) ends the wait.
    tmux.cmd("send-keys", "-t", "=asker:", "yes", "Enter")
    row = wait_for(row_with(tmux, run_dir, "asker", state="working"), 10, "output after the bell")
    assert state_of(row) == ("working", "pane", None)
    assert tmux_mod.session_panes(tmux.socket_name, "asker")[0].bell  # the flag alone did not decide
    # A hook state wins over the bell.
    write_record(run_dir, "asker", pane_pid, state="idle", state_source="hook")
    assert state_of(rows(ps(tmux, run_dir))["asker"]) == ("idle", "hook", None)


# ---- --state and --problems ----------------------------------------------------------------------


def fleet_of_states(tmux, run_dir) -> None:
    agent(tmux, run_dir, "a-idle", state="idle", state_source="hook")
    agent(tmux, run_dir, "b-wait", state="waiting", state_source="hook", waiting_for="permission")
    agent(tmux, run_dir, "c-work", state="working", state_source="hook")
    agent(tmux, run_dir, "z-wait", state="waiting", state_source="hook")
    mosaic_hb.beat("d-dead", 1 << 22, run_dir, interval=60, pid_start=1)


def test_state_filter(tmux, run_dir):
    fleet_of_states(tmux, run_dir)
    def names(*args):
        return [row["name"] for row in ps(tmux, run_dir, *args, code=None)["agents"]]

    assert names("--state", "waiting") == ["b-wait", "z-wait"]
    assert names("--state", "waiting", "--state", "idle") == ["a-idle", "b-wait", "z-wait"]
    assert names("--state", "starting") == []
    assert names("--state", "working", "*-work") == ["c-work"]
    result = mosaic("fleet", "ps", "--state", "starting", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0 and result.stdout == "no agents in state starting\n"
    for bad in ("WAITING", "", "waiting~", "x" * 100):
        done = mosaic_proc("fleet", "ps", "--state", bad, "--socket", tmux.socket_name, "--run-dir", run_dir)
        line = one_line_error(done, 2)
        assert "invalid --state" in line and "starting, working, waiting, idle, unknown" in line
        assert done.stdout == ""


def test_problems_lists_waiting_agents_first(tmux, run_dir):
    fleet_of_states(tmux, run_dir)
    assert [row["name"] for row in ps(tmux, run_dir, "--problems", code=None)["agents"]] == [
        "b-wait", "z-wait", "d-dead", "a-idle", "c-work"]
    table = mosaic("fleet", "ps", "--problems", "--socket", tmux.socket_name, "--run-dir", run_dir).stdout
    lines = table.splitlines()
    assert [line.split()[0] for line in lines[1:6]] == ["b-wait", "z-wait", "d-dead", "a-idle", "c-work"]
    assert lines[-1] == "5 agents: 4 ok, 1 dead; 1 not healthy; 2 waiting"


# ---- --host ---------------------------------------------------------------------------------------


def test_host_rows_carry_the_states_and_bad_ones_are_corrupt(tmp_path):
    import json

    waiting = {**GOOD_ROW, "name": "web-2", "state": "waiting", "state_source": "hook", "state_age_s": 3.0,
               "waiting_for": "question"}
    guess = {**GOOD_ROW, "name": "web-3", "state": "working", "state_source": "pane", "state_age_s": None}
    bad = {"state": ("napping", "state is not one of starting, working, waiting, idle, unknown ('napping')"),
           "state_source": ("screen", "state_source is not one of hook, pane ('screen')"),
           "state_age_s": (-1, "state_age_s is out of range (-1; expected 0 to 1e+12)"),
           "waiting_for": (7, "waiting_for is not a string (an integer)")}
    bad_rows = [{**GOOD_ROW, "name": f"bad-{i}", key: value} for i, (key, (value, _)) in enumerate(bad.items())]
    document = {"schema": 1, "socket": "s", "run_dir": "/r", "agents": [GOOD_ROW, waiting, guess, *bad_rows]}
    # An older mosaic on the other host: rows without the state keys.
    old = {key: value for key, value in GOOD_ROW.items() if key not in STATE_KEYS}
    env = fake_ssh(tmp_path, {"new": json.dumps(document), "old": json.dumps(
        {"schema": 1, "socket": "s", "run_dir": "/r", "agents": [{**old, "name": "legacy"}]})})
    hosts = ["--host", "new", "--host", "old"]

    done = mosaic_proc("fleet", "ps", "--json", *hosts, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    found = {(row["host"], row["name"]): row for row in strict_json(done.stdout)["agents"]}
    assert found["new", "web-1"] == {**GOOD_ROW, "host": "new"}
    assert found["new", "web-2"] == {**waiting, "host": "new"}
    assert found["new", "web-3"] == {**guess, "host": "new"}
    assert state_of(found["old", "legacy"]) == (None, None, None)
    for i, (key, (_, why)) in enumerate(bad.items()):
        row = found["new", f"bad-{i}"]
        assert (row["heartbeat"], row[key]) == ("corrupt", None), row
        assert row["detail"] == f"bad answer: {why}"

    waiting_only = mosaic_proc("fleet", "ps", "--json", "--state", "waiting", *hosts, env=env)
    assert [row["name"] for row in strict_json(waiting_only.stdout)["agents"]] == ["web-2"]
    first = mosaic_proc("fleet", "ps", "--json", "--problems", *hosts, env=env)
    assert strict_json(first.stdout)["agents"][0]["name"] == "web-2"
    table = mosaic_proc("fleet", "ps", *hosts, env=env).stdout.splitlines()
    state_column = 1 + render.COLUMNS.index("STATE")  # after HOST
    cells = {line.split()[1]: line.split()[state_column] for line in table[1:-1]}
    assert (cells["web-1"], cells["web-2"], cells["web-3"], cells["legacy"]) == (
        "idle", "waiting:question", "working~", "-")


def test_a_hook_state_from_the_future_does_not_hold_off_the_esc_gap(tmux, run_dir, monkeypatch):
    # The clock was set back an hour after the hook wrote "working": its
    # epoch is in the future, and the silent pane still makes it idle.
    agent(tmux, run_dir, "skew", state="working", state_source="hook", state_epoch=f"{time.time() + 3600:.6f}")
    monkeypatch.setattr(fleet_status, "PANE_SILENT_S", 0.0)
    monkeypatch.setattr(fleet_status, "PANE_WORKING_S", 0.0)
    row = wait_for(row_with(tmux, run_dir, "skew", state="idle"), 5, "idle from the pane")
    assert state_of(row) == ("idle", "pane", None)


# ---- digits of other scripts ---------------------------------------------------------------------


def test_a_bell_option_that_is_not_ascii_digits_keeps_the_pane_listed(tmux, run_dir):
    """@mosaic_bell_at is a user option: anything in the session (the agent
    too) can set it. '²' passes str.isdigit and fails int(); the pane was
    left out of the listing, so fleet ps showed a live agent's pane gone
    and mosaic stop said it had no session."""
    pane_pid = launch(tmux, run_dir, "belled")["pane_pid"]
    for value in ("²", "١٢٣"):
        tmux.cmd("set-option", "-w", "-t", "=belled:", tmux_mod.BELL_OPTION, value)
        panes = tmux_mod.session_panes(tmux.socket_name, "belled")
        assert [(pane.pid, pane.bell_at) for pane in panes] == [(pane_pid, 0)]
        assert rows(ps(tmux, run_dir))["belled"]["pane"] == "alive"
    done = mosaic_proc("stop", "belled", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert done.returncode == 0, done.stderr
    assert not mosaic_hb.alive(pane_pid)


def test_restart_facts_that_are_not_ascii_digits_are_left_out(tmux, run_dir):
    """A record's restart keys are the sidecar's ASCII numbers; '²' passes
    str.isdigit and made int() end fleet ps in a traceback."""
    agent(tmux, run_dir, "odd-digits", restart="always", restarts="²", last_exit_status="²",
          last_exit_signal="١", last_restart="²")
    row = rows(ps(tmux, run_dir))["odd-digits"]
    assert row["restart"] == "always"
    assert (row["restarts"], row["last_exit_status"], row["last_exit_signal"], row["last_restart"]) == (
        None, None, None, None)
    table = mosaic_proc("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert table.returncode == 0 and "odd-digits" in table.stdout, table.stderr
