"""`mosaic-hb state`: the compiled hook that reports an agent's state, and
the sidecar that carries it into the record and the Prometheus textfile.
Real processes throughout; every wait is on an event, with a bound."""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

import mosaic_hb
from mosaic_hb.record import Record, format_record
from tests.support.hb import read_record, sidecar
from tests.support.wait import wait_for

# Long enough that only the hook's signal can bring the state in time.
SLOW_INTERVAL = "60"
STATE_TIMEOUT = 5.0


def hook(*args: str, env: dict | None = None, stdin=subprocess.DEVNULL, timeout: float = 10):
    return subprocess.run([mosaic_hb.sidecar_path(), "state", *args], capture_output=True,
                          text=True, env=env, stdin=stdin, timeout=timeout)


def pane_env(agent: str, run_dir) -> dict:
    """The environment a mosaic launch gives an agent's pane."""
    return dict(os.environ, MOSAIC_AGENT_NAME=agent, MOSAIC_HEARTBEAT_RUN_DIR=str(run_dir))


def field_of(path, key: str, default=None):
    """KEY of the record at PATH, DEFAULT while there is no valid one."""
    record = read_record(path)
    return getattr(record, key) if record is not None else default


def record_state_is(path, state: str, waiting_for: str | None = None):
    def check():
        record = read_record(path)
        if record is None:
            return None
        got = mosaic_hb.record_state(record)
        return got if (got.state, got.waiting_for) == (state, waiting_for) else None
    return check


@pytest.fixture
def agent_with_sidecar(spawn_process, run_dir, tmp_path):
    """An agent process with a running sidecar (interval 60 s) and a
    textfile dir; yields (name, textfile_dir)."""
    target = spawn_process(["sleep", "300"])
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    done = sidecar("stateful", str(target.pid), "--run-dir", str(run_dir), "--interval", SLOW_INTERVAL,
                   "--runtime", "claude", "--textfile-dir", str(textfile_dir))
    assert done.returncode == 0, done.stderr
    yield "stateful", textfile_dir
    target.kill()
    wait_for(lambda: field_of(run_dir / "stateful.hb", "status") == "dead",
             10, "the sidecar to see its agent die")


def test_hook_state_reaches_the_record_and_the_textfile_at_once(agent_with_sidecar, run_dir):
    name, textfile_dir = agent_with_sidecar
    record = run_dir / f"{name}.hb"
    assert mosaic_hb.record_state(mosaic_hb.read(record)).state == "unknown"
    done = hook("working", env=pane_env(name, run_dir))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")

    state_file = run_dir / f"{name}.state"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    written = mosaic_hb.read_state_file(state_file, name)
    assert (written.state, written.source, written.waiting_for) == ("working", "hook", None)
    assert abs(written.epoch - time.time()) < 60
    got = wait_for(record_state_is(record, "working"), STATE_TIMEOUT, "state=working in the record")
    assert got.epoch == pytest.approx(written.epoch, abs=1e-6)
    assert mosaic_hb.read(record).extra["state_source"] == "hook"

    lines = (textfile_dir / f"mosaic_{name}.prom").read_text().splitlines()
    for state in mosaic_hb.STATES:
        value = 1 if state == "working" else 0
        assert f'mosaic_agent_state{{agent="{name}",runtime="claude",state="{state}"}} {value}' in lines
    since = [line for line in lines if line.startswith("mosaic_agent_state_since_seconds{")]
    assert len(since) == 1 and float(since[0].split()[-1]) == pytest.approx(written.epoch, abs=1e-3)
    assert not any("pid" in line for line in lines if not line.startswith("#"))


def test_every_transition_and_what_waiting_waits_for(agent_with_sidecar, run_dir):
    name, textfile_dir = agent_with_sidecar
    record = run_dir / f"{name}.hb"
    env = pane_env(name, run_dir)
    for args, expected in ((["starting"], ("starting", None)),
                           (["working"], ("working", None)),
                           (["waiting", "--for", "permission"], ("waiting", "permission")),
                           (["waiting", "--for=question"], ("waiting", "question")),
                           (["waiting"], ("waiting", None)),
                           (["idle"], ("idle", None))):
        done = hook(*args, env=env)
        assert done.returncode == 0, done.stderr
        wait_for(record_state_is(record, *expected), STATE_TIMEOUT, f"{expected} in the record")
    assert "waiting_for" not in mosaic_hb.read(record).extra
    prom = (textfile_dir / f"mosaic_{name}.prom").read_text()
    assert f'mosaic_agent_state{{agent="{name}",runtime="claude",state="idle"}} 1' in prom


def test_a_repeated_state_keeps_when_it_began(run_dir):
    run_dir.mkdir(mode=0o700)
    env = pane_env("again", run_dir)
    assert hook("working", env=env).returncode == 0
    first = mosaic_hb.read_state_file(run_dir / "again.state")
    assert hook("working", "{}", env=env).returncode == 0
    assert mosaic_hb.read_state_file(run_dir / "again.state") == first
    assert hook("idle", env=env).returncode == 0
    assert mosaic_hb.read_state_file(run_dir / "again.state").epoch >= first.epoch
    assert sorted(p.name for p in run_dir.iterdir()) == ["again.state"]  # no temp files left


def test_a_new_sidecar_starts_with_the_last_state(spawn_process, run_dir):
    run_dir.mkdir(mode=0o700)
    assert hook("waiting", "--for", "question", env=pane_env("relaunched", run_dir)).returncode == 0
    target = spawn_process(["sleep", "300"])
    done = sidecar("relaunched", str(target.pid), "--run-dir", str(run_dir), "--interval", SLOW_INTERVAL)
    assert done.returncode == 0, done.stderr
    first = mosaic_hb.read(run_dir / "relaunched.hb")
    assert first.seq == 1
    assert (mosaic_hb.record_state(first).state, mosaic_hb.record_state(first).waiting_for) == ("waiting", "question")
    target.kill()
    wait_for(lambda: field_of(run_dir / "relaunched.hb", "status") == "dead", 10, "status=dead")


@pytest.mark.parametrize("unset", [
    {"MOSAIC_AGENT_NAME": None},
    {"MOSAIC_HEARTBEAT_RUN_DIR": None},
    {"MOSAIC_AGENT_NAME": ""},
    {"MOSAIC_HEARTBEAT_RUN_DIR": ""},
    {"MOSAIC_AGENT_NAME": "../escape"},
    {"MOSAIC_HEARTBEAT_RUN_DIR": "MISSING"},
])
def test_outside_a_mosaic_pane_it_is_a_silent_no_op(run_dir, tmp_path, unset):
    env = pane_env("outside", run_dir)
    for key, value in unset.items():
        if value is None:
            env.pop(key)
        elif value == "MISSING":
            env[key] = str(tmp_path / "no" / "such" / "dir")
        else:
            env[key] = value
    run_dir_exists_before = unset.get("MOSAIC_HEARTBEAT_RUN_DIR") != "MISSING"
    if run_dir_exists_before:
        run_dir.mkdir(mode=0o700)
    done = hook("working", env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    if run_dir_exists_before:
        assert list(run_dir.iterdir()) == []
    assert not (tmp_path / "no").exists()


def test_an_unsafe_run_dir_is_left_alone(run_dir):
    run_dir.mkdir(mode=0o777)
    os.chmod(run_dir, 0o777)  # group- and world-writable, not sticky
    done = hook("working", env=pane_env("unsafe", run_dir))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert list(run_dir.iterdir()) == []


def test_outside_a_mosaic_pane_even_a_bad_state_is_a_silent_no_op(run_dir):
    """A hook installed globally by another mosaic version (a state or an
    option it does not know) must not fail in the user's other sessions:
    Claude Code reads a hook's exit 2 as 'block'."""
    env = pane_env("outside", run_dir)
    env.pop("MOSAIC_AGENT_NAME")
    for args in (["sleeping"], ["waiting", "--for", "coffee"], ["idle", "--for", "question"]):
        done = hook(*args, env=env)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), args


@pytest.mark.parametrize("args", [
    ["bogus"], ["unknown"], ["Working"], ["idle", "--for", "permission"],
    ["waiting", "--for", "coffee"], ["waiting", "--for"],
])
def test_a_bad_state_is_a_usage_error(run_dir, args):
    run_dir.mkdir(mode=0o700)
    done = hook(*args, env=pane_env("bad", run_dir))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("mosaic-hb: error: ")
    assert list(run_dir.iterdir()) == []


def test_an_agent_named_state_still_gets_a_sidecar(spawn_process, run_dir):
    target = spawn_process(["sleep", "300"])
    done = sidecar("state", str(target.pid), "--run-dir", str(run_dir), "--interval", SLOW_INTERVAL)
    assert done.returncode == 0, done.stderr
    assert mosaic_hb.read(run_dir / "state.hb").agent == "state"
    target.kill()
    wait_for(lambda: field_of(run_dir / "state.hb", "status") == "dead", 10, "status=dead")
    assert "mosaic-hb state STATE" in sidecar("--help").stdout


CLAUDE_JSON = '{"hook_event_name": "PreToolUse", "session_id": "s1", "cwd": "/", "tool_name": "Bash"}'


def test_json_argument_and_stdin_are_ignored(run_dir):
    run_dir.mkdir(mode=0o700)
    env = pane_env("json", run_dir)
    codex = hook("idle", '{"type": "agent-turn-complete", "turn-id": "1"}', env=env)
    assert (codex.returncode, codex.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / "json.state").state == "idle"
    claude = subprocess.run(
        [mosaic_hb.sidecar_path(), "state", "working"], input=CLAUDE_JSON * 1000, text=True,
        capture_output=True, env=env, timeout=10)
    assert (claude.returncode, claude.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / "json.state").state == "working"
    closed = subprocess.run(["sh", "-c", f'exec "{mosaic_hb.sidecar_path()}" state idle <&-'],
                            capture_output=True, text=True, env=env, timeout=10)
    assert (closed.returncode, closed.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / "json.state").state == "idle"


def test_a_stdin_pipe_that_never_closes_does_not_hang_the_hook(run_dir):
    run_dir.mkdir(mode=0o700)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, CLAUDE_JSON.encode())
        # The writer stays open for the whole call: a blocking read would hang.
        done = subprocess.run([mosaic_hb.sidecar_path(), "state", "waiting", "--for", "permission"],
                              stdin=read_end, capture_output=True, text=True,
                              env=pane_env("piped", run_dir), timeout=10)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / "piped.state").waiting_for == "permission"


def fake_record(run_dir, agent: str, hb_pid: int, epoch: float) -> None:
    run_dir.mkdir(mode=0o700, exist_ok=True)
    record = Record(ts=time.strftime("%Y-%m-%dT%H:%M:%S%z"), pid=os.getpid(), status="ok", agent=agent,
                    epoch=epoch, seq=1, interval=15.0, hb_pid=hb_pid, pid_start=0)
    (run_dir / f"{agent}.hb").write_bytes(format_record(record))


def test_a_pid_reused_since_the_last_beat_is_not_signalled(spawn_process, run_dir):
    """The record's hb_pid names a process that started after its last beat:
    not the sidecar (its pid was reused), so it must not get SIGUSR2, whose
    default action would kill it."""
    stranger = spawn_process(["sleep", "300"])
    fake_record(run_dir, "reused", stranger.pid, time.time() - 30)
    done = hook("working", env=pane_env("reused", run_dir))
    assert (done.returncode, done.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / "reused.state").state == "working"
    # Had the hook sent SIGUSR2, it would be pending now and, the lower
    # number, delivered before this SIGTERM.
    stranger.send_signal(signal.SIGTERM)
    assert stranger.wait(timeout=10) == -signal.SIGTERM


def test_the_process_that_wrote_the_record_is_signalled(spawn_process, run_dir):
    """The control for the test above: a fake that handles SIGUSR2 (as a
    sidecar does), started before the record's last beat, is taken for the
    sidecar and gets SIGUSR2."""
    catcher = ("import signal, sys\n"
               "signal.signal(signal.SIGUSR2, lambda *_: sys.exit(7))\n"
               "print('ready', flush=True)\n"
               "signal.pause()\n")
    writer = spawn_process([sys.executable, "-c", catcher], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "ready\n"
    fake_record(run_dir, "control", writer.pid, time.time() + 5)
    done = hook("working", env=pane_env("control", run_dir))
    assert (done.returncode, done.stderr) == (0, "")
    assert writer.wait(timeout=10) == 7


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_plain_beat_stays_five_system_calls(spawn_process, run_dir, tmp_path):
    """Under strace: between two beats' renames, a plain beat makes 5 system
    calls; the state file is read only when a hook signals."""
    target = spawn_process(["sleep", "300"])
    trace = tmp_path / "trace"
    traced = spawn_process(["strace", "-f", "-qq", "-o", str(trace), mosaic_hb.sidecar_path(), "counted",
                            str(target.pid), "--run-dir", str(run_dir), "--interval", "0.05",
                            "--foreground"])
    record = run_dir / "counted.hb"
    wait_for(lambda: field_of(record, "seq", 0) >= 10, 20, "10 beats")
    assert hook("waiting", "--for", "permission", env=pane_env("counted", run_dir)).returncode == 0
    wait_for(record_state_is(record, "waiting", "permission"), STATE_TIMEOUT, "the state in the record")
    seq = mosaic_hb.read(record).seq
    wait_for(lambda: field_of(record, "seq", 0) >= seq + 10, 20, "10 more beats")
    target.kill()
    assert traced.wait(timeout=20) == 0
    per_beat = beats_syscalls(trace.read_text())
    counts = collections.Counter(len(calls) for calls in per_beat)
    assert counts.most_common(1)[0][0] == 5, counts
    reads = [calls for calls in per_beat if any(".state" in call for call in calls)]
    assert len(reads) == 1, reads  # only the signalled beat reads the state file
    assert all(len(calls) == 5 for calls in per_beat if calls not in reads and "rt_sigreturn" not in calls), counts


def beats_syscalls(text: str) -> list[list[str]]:
    """The system calls after each beat's rename up to the next one's."""
    beats, current = [], None
    for line in text.splitlines():
        match = re.match(r"\d+\s+(\w+)\((.*)", line)
        if match is None:
            continue
        name, args = match.groups()
        if current is not None:
            current.append(name + ("(.state)" if ".state" in args else ""))
        if name in ("rename", "renameat", "renameat2") and ".hb.tmp" in args:
            if current is not None:
                beats.append(current)
            current = []
    return beats
