"""`mosaic wait` (issue 15): real agents, real sidecars, states set by the
real hook program (`mosaic-hb state`), deaths by kill, stops by `mosaic
stop`; each with the inotify watcher and with the stat-polling one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import mosaic_hb
import pytest

from mosaic_launch import wait as waiter
from tests.support.agents import launch
from tests.support.run import mosaic, mosaic_argv, one_line_error
from tests.support.wait import wait_for

pytestmark = pytest.mark.usefixtures("settled")

WATCHERS = ["inotify", "poll"] if sys.platform.startswith("linux") else ["poll"]


def set_state(run_dir, name: str, state: str, *extra: str) -> None:
    """What an agent's hook does: `mosaic-hb state STATE`, in the pane's environment."""
    env = {**os.environ, "MOSAIC_AGENT_NAME": name, "MOSAIC_HEARTBEAT_RUN_DIR": str(run_dir)}
    done = subprocess.run([mosaic_hb.sidecar_path(), "state", state, *extra], env=env, capture_output=True,
                          text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr


def watching(proc: subprocess.Popen, watcher: str) -> bool:
    """The wait process has made its first evaluation and sleeps on its
    watch: with inotify, it holds the inotify descriptor (made after the
    first look at the run dir). The stat poller shows no such sign: then
    the process has at least started."""
    if proc.poll() is not None:
        return True  # it ended: the caller's assertions say whether it should have
    if watcher != "inotify":
        return True
    try:
        fds = os.listdir(f"/proc/{proc.pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == "anon_inode:inotify":
                return True
        except OSError:
            continue
    return False


def start_wait(tmux, run_dir, watcher: str, *args: str) -> subprocess.Popen:
    env = {**os.environ}
    if watcher == "poll":
        env[waiter.WATCH_ENV] = "poll"
    proc = subprocess.Popen(mosaic_argv("wait", "--socket", tmux.socket_name, "--run-dir", run_dir, *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    wait_for(lambda: watching(proc, watcher), 10, "mosaic wait to watch")
    return proc


def finish(proc: subprocess.Popen, timeout: float = 15) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"mosaic wait did not return: {out} {err}")
    assert "Traceback" not in out + err, err
    return proc.returncode, out, err


def still_waiting(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


@pytest.mark.parametrize("watcher", WATCHERS)
@pytest.mark.parametrize("before, after", [("working", "idle"), ("idle", "working"), ("working", "waiting")])
def test_wait_returns_when_the_hook_reports_the_state(tmux, run_dir, watcher, before, after):
    launch(tmux, run_dir, "agent")
    set_state(run_dir, "agent", before)
    proc = start_wait(tmux, run_dir, watcher, "agent", "--for", after, "--timeout", "20")
    assert still_waiting(proc)
    set_state(run_dir, "agent", after, *(["--for", "question"] if after == "waiting" else []))
    code, out, err = finish(proc)
    assert (code, out) == (0, "agent\n"), err


@pytest.mark.parametrize("watcher", WATCHERS)
def test_wait_for_dead_returns_when_the_agent_is_killed(tmux, run_dir, watcher):
    data = launch(tmux, run_dir, "victim")
    proc = start_wait(tmux, run_dir, watcher, "victim", "--for", "dead", "--timeout", "20")
    os.kill(data["pane_pid"], signal.SIGKILL)
    code, out, err = finish(proc)
    assert (code, out) == (0, "victim\n"), err


@pytest.mark.parametrize("watcher", WATCHERS)
def test_wait_for_stopped_returns_after_mosaic_stop(tmux, run_dir, watcher):
    launch(tmux, run_dir, "done")
    proc = start_wait(tmux, run_dir, watcher, "done", "--for", "stopped", "--timeout", "20")
    stop = mosaic("stop", "done", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert stop.exit_code == 0, stop.output
    code, out, err = finish(proc)
    assert (code, out) == (0, "done\n"), err


def test_timeout_exits_1_naming_the_agents_that_are_not_there(tmux, run_dir):
    launch(tmux, run_dir, "busy")
    launch(tmux, run_dir, "calm")
    set_state(run_dir, "busy", "working")
    set_state(run_dir, "calm", "idle")
    result = mosaic("wait", "busy", "calm", "--for", "idle", "--timeout", "0.3",
                    "--socket", tmux.socket_name, "--run-dir", run_dir)
    line = one_line_error(result, 1)
    assert "timed out after 0.3s waiting for idle: busy is working" in line
    assert "calm" not in line
    assert result.stdout == "calm\n"


@pytest.mark.parametrize("watcher", WATCHERS)
def test_any_returns_when_one_agent_gets_there(tmux, run_dir, watcher):
    for name in ("one", "two"):
        launch(tmux, run_dir, name)
        set_state(run_dir, name, "working")
    proc = start_wait(tmux, run_dir, watcher, "one", "two", "--for", "idle", "--any", "--timeout", "20")
    assert still_waiting(proc)
    set_state(run_dir, "two", "idle")
    code, out, err = finish(proc)
    assert (code, out) == (0, "two\n"), err


def test_globs_and_already_there(tmux, run_dir):
    for name in ("web-1", "web-2", "db"):
        launch(tmux, run_dir, name)
        set_state(run_dir, name, "idle")
    result = mosaic("wait", "web-*", "--for", "idle", "--timeout", "5",
                    "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert (result.exit_code, result.stdout) == (0, "web-1\nweb-2\n"), result.stderr


def test_a_dead_agent_cannot_become_idle_exit_1_at_once(tmux, run_dir):
    data = launch(tmux, run_dir, "crashed")
    os.kill(data["pane_pid"], signal.SIGKILL)
    wait_for(lambda: mosaic_hb.read(run_dir / "crashed.hb").status == "dead", 10, "the dead record")
    result = mosaic("wait", "crashed", "--for", "idle", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert "crashed is dead: it cannot become idle" in one_line_error(result, 1)


def test_unknown_agent_and_bad_input(tmux, run_dir):
    launch(tmux, run_dir, "real")
    common = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    assert "no agent nobody" in one_line_error(mosaic("wait", "nobody", "--for", "idle", *common), 1)
    assert "invalid --for 'sleeping'" in one_line_error(mosaic("wait", "real", "--for", "sleeping", *common), 2)
    for bad in ("-1", "soon", "nan", "inf", "1e400", "", "0x10"):
        # 0 is taken (look once), so the message must not say "greater than 0".
        assert "invalid --timeout" in one_line_error(
            mosaic("wait", "real", "--for", "idle", "--timeout", bad, *common), 2)
        assert "seconds, 0 or more" in one_line_error(
            mosaic("wait", "real", "--for", "idle", "--timeout", bad, *common), 2)
    assert "invalid agent name" in one_line_error(mosaic("wait", "a;b", "--for", "idle", *common), 2)
    one_line_error(mosaic("wait", "real", *common), 2)  # --for is required


def test_send_wait_counts_only_the_turn_the_send_started(tmux, run_dir):
    """`mosaic send --wait idle`: the idle the agent was in before the send
    is not the end of the turn; the idle after it is."""
    launch(tmux, run_dir, "worker")
    set_state(run_dir, "worker", "idle")
    common = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    result = mosaic("send", "worker", "task one", "--wait", "idle", "--wait-timeout", "1", *common)
    assert result.stdout == "sent to worker\n"
    assert "worker is idle since before the send" in one_line_error(result, 1)

    proc = subprocess.Popen(mosaic_argv("send", "worker", "task two", "--wait", "idle", *common),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    wait_for(lambda: watching(proc, WATCHERS[0]), 10, "the send to wait")
    set_state(run_dir, "worker", "working")
    set_state(run_dir, "worker", "idle")
    code, out, err = finish(proc)
    assert (code, out) == (0, "sent to worker\n"), err


def test_send_wait_bad_input(tmux, run_dir):
    common = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    assert "invalid --wait 'done'" in one_line_error(mosaic("send", "a", "x", "--wait", "done", *common), 2)
    assert "--wait-timeout goes with --wait" in one_line_error(
        mosaic("send", "a", "x", "--wait-timeout", "3", *common), 2)
    # No Enter, no turn: it could only time out.
    assert "not with --no-enter" in one_line_error(mosaic("send", "a", "x", "--no-enter", "--wait", "idle", *common), 2)


@pytest.mark.parametrize("kind", WATCHERS)
def test_watchers_wake_on_the_agents_files_only_and_survive_the_run_dir_going(tmp_path, monkeypatch, kind):
    """The watchers alone, on real files: a write to the agent's state file
    wakes them, another agent's file does not; a run dir removed under an
    inotify watch leaves a stat watcher that still sees the files."""
    if kind == "poll":
        monkeypatch.setenv(waiter.WATCH_ENV, "poll")
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    watch = waiter.watcher(run, ["mine"])
    try:
        assert type(watch).__name__ == ("_InotifyWatcher" if kind == "inotify" else "_StatWatcher")
        (run / "other.state").write_text("x")
        assert watch.wait(0.3) is False
        (run / "mine.state").write_text("x")
        assert watch.wait(5) is True
        os.replace(run / "other.state", run / "mine.hb")  # a rename over the record, as the sidecar writes it
        assert watch.wait(5) is True
        for path in run.iterdir():
            path.unlink()
        run.rmdir()
        assert watch.wait(5) is True  # the files went, and with inotify the watch
        run.mkdir(mode=0o700)
        (run / "mine.state").write_text("back")
        assert watch.wait(5) is True
    finally:
        watch.close()


def test_evaluations_are_spaced_when_files_change_all_the_time(monkeypatch, tmp_path):
    """Every beat rewrites a record and wakes the inotify watch: ten agents
    beating every 0.2 s are 50 wake-ups a second. Each evaluation (a tmux
    call, the records) is at least MIN_EVALUATE_GAP_S after the last."""
    from types import SimpleNamespace

    class Restless:  # a watcher whose files always changed
        def wait(self, timeout):
            return True

        def close(self):
            pass

    looks = []

    def rows(socket, run_dir, patterns, now=None):
        looks.append(now)
        return {"a": SimpleNamespace(heartbeat="ok", pane="alive", state="working")}

    monkeypatch.setattr(waiter, "watcher", lambda run_dir, names: Restless())
    monkeypatch.setattr(waiter, "_rows", rows)
    outcome = waiter.wait_for("sock", tmp_path, ["a"], "idle", timeout=0.5)
    assert not outcome.done and "a is working" in outcome.message
    assert 2 <= len(looks) <= 0.5 / waiter.MIN_EVALUATE_GAP_S + 2, len(looks)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks at the send's descriptors in /proc")
def test_send_wait_counts_from_its_own_paste_not_from_its_start(tmux, run_dir):
    """A send that waits for its turn (another send to the agent holds it)
    must not take the idle that ended the other send's turn for its own."""
    import fcntl
    import time

    launch(tmux, run_dir, "queued")
    set_state(run_dir, "queued", "working")
    lock = run_dir / "queued.send.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the other send's turn
        proc = subprocess.Popen(mosaic_argv("send", "queued", "my task", "--wait", "idle", "--wait-timeout", "3",
                                            "--socket", tmux.socket_name, "--run-dir", run_dir),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

        def holds_lock():
            try:
                return any(os.readlink(f"/proc/{proc.pid}/fd/{n}") == str(lock)
                           for n in os.listdir(f"/proc/{proc.pid}/fd"))
            except OSError:
                return False

        wait_for(lambda: holds_lock() or proc.poll() is not None, 10, "the send to wait for its turn")
        set_state(run_dir, "queued", "idle")  # the other send's turn ends
        ended = time.time()
        wait_for(lambda: time.time() > ended + 0.1, 1, "the idle to be in the past")
    finally:
        os.close(fd)
    code, out, err = finish(proc)
    assert (code, out) == (1, "sent to queued\n"), err
    assert "queued is idle since before the send" in err
