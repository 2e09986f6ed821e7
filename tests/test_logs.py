"""mosaic logs, and the pane log behind it, with a real tmux server: what
an agent printed survives its death, a relaunch, a restart and a rotation;
a full disk never holds the agent up; a planted symlink is not followed."""

from __future__ import annotations

import os
import resource
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from mosaic_launch import logs as pane_logs
from mosaic_launch import tmux as tmux_mod
from tests.support.agents import launch
from tests.support.run import mosaic, mosaic_argv, mosaic_proc, one_line_error
from tests.support.wait import wait_for

pytestmark = pytest.mark.usefixtures("settled")

WAIT = 10.0


@pytest.fixture
def log_dir(run_dir) -> Path:
    """Where launch puts the logs by default: beside the run dir."""
    return run_dir.parent / "logs"


def log_text(log_dir: Path, name: str, suffix: str = ".log") -> str:
    try:
        return (log_dir / f"{name}{suffix}").read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def logged(log_dir: Path, name: str, text: str):
    """A condition: TEXT is in NAME's log (or in the old file: a rotation
    may come right after it)."""
    return lambda: text in log_text(log_dir, name) or text in log_text(log_dir, name, ".log.1")


def logs_cmd(tmux, run_dir, name, *args, env=None):
    return mosaic("logs", name, "--socket", tmux.socket_name, "--run-dir", run_dir, *args, env=env)


def dead(tmux, name):
    return lambda: [p for p in tmux_mod.session_panes(tmux.socket_name, name)
                    if p.dead and (p.dead_status is not None or p.dead_signal is not None)]


def shown(tmux, name, text):
    """A condition: NAME's pane shows TEXT now."""
    def check():
        done = tmux.cmd("capture-pane", "-p", "-t", f"={name}:", check=False)
        return text in done.stdout
    return check


def send_line(tmux, name, text):
    tmux.cmd("send-keys", "-t", f"={name}:", "-l", text)
    tmux.cmd("send-keys", "-t", f"={name}:", "Enter")


def printing_then_exiting(output: str, status: int) -> str:
    """An agent's command that runs OUTPUT (shell), then lives until SIGTERM
    and exits with STATUS. An agent that exits in the instant after it
    prints can lose that output: tmux may not have read it from the pty
    when the pane ends (seen under load). Tests of what a log keeps wait
    until the output is in it, then end the agent (end_agent)."""
    return f"trap 'kill $!; exit {status}' TERM; {output}; sleep 1000 & wait"


def end_agent(tmux, name: str, pid: int) -> None:
    """SIGTERM to the agent started by printing_then_exiting; wait until its
    pane is dead."""
    os.kill(pid, signal.SIGTERM)
    wait_for(dead(tmux, name), WAIT, f"{name} to end")


def test_logs_of_an_agent_that_printed_then_died(tmux, run_dir, log_dir):
    out = launch(tmux, run_dir, "died", command=printing_then_exiting("echo 'about to fail'; echo 'last words' >&2", 3))
    wait_for(logged(log_dir, "died", "last words"), WAIT, "its output in the log")
    end_agent(tmux, "died", out["pane_pid"])
    assert tmux_mod.session_panes(tmux.socket_name, "died")[0].dead_status == 3
    assert (log_dir / "died.log").stat().st_mode & 0o777 == 0o600
    assert log_dir.stat().st_mode & 0o777 == 0o700

    result = logs_cmd(tmux, run_dir, "died")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("=== mosaic: died launch ")
    assert lines[1:] == ["about to fail", "last words"]

    # The session is gone too: the log stays, in a real process as a user runs it.
    assert mosaic("stop", "died", "--socket", tmux.socket_name, "--run-dir", run_dir).exit_code == 0
    done = mosaic_proc("logs", "died", "--run-dir", run_dir, "-n", "1")
    assert (done.returncode, done.stdout) == (0, "last words\n")


def test_logs_of_an_unknown_agent_is_one_line_and_exit_1(tmux, run_dir):
    result = logs_cmd(tmux, run_dir, "nobody")
    assert result.exit_code == 1
    assert one_line_error(result).startswith("mosaic: error: no log for nobody in ")
    result = logs_cmd(tmux, run_dir, "nobody", "--screen")
    assert result.exit_code == 1
    assert one_line_error(result).startswith("mosaic: error: nobody is not running")
    result = logs_cmd(tmux, run_dir, "bad/name")
    assert result.exit_code == 2


def test_logs_strips_escape_sequences_and_raw_keeps_them(tmux, run_dir, log_dir):
    script = (r"printf '\033[1;31mred\033[0m \033]0;title\007plain\r\n'; "
              r"printf 'progress 10%%\rprogress 100%%\n'; printf 'tab\there\n'; sleep 1000")
    launch(tmux, run_dir, "esc", command=script)
    wait_for(logged(log_dir, "esc", "tab\there"), WAIT, "the output in the log")
    text = logs_cmd(tmux, run_dir, "esc").stdout
    assert text.splitlines()[1:] == ["red plain", "progress 100%", "tab\there"]
    assert "\x1b" not in text and "\r" not in text
    raw = logs_cmd(tmux, run_dir, "esc", "--raw").stdout
    assert "\x1b[1;31mred\x1b[0m \x1b]0;title\x07plain\r" in raw


def test_log_after_a_relaunch_keeps_both_runs(tmux, run_dir, log_dir):
    out = launch(tmux, run_dir, "again", command=printing_then_exiting("echo first run", 1))
    wait_for(logged(log_dir, "again", "first run"), WAIT, "the first run's output")
    end_agent(tmux, "again", out["pane_pid"])
    launch(tmux, run_dir, "again", command="echo second run; sleep 1000")
    wait_for(logged(log_dir, "again", "second run"), WAIT, "the second run's output")
    lines = logs_cmd(tmux, run_dir, "again").stdout.splitlines()
    assert [line.split(" ")[3] for line in lines if line.startswith("=== mosaic:")] == ["launch", "relaunch"]
    assert lines.index("first run") < lines.index("second run")
    assert lines[lines.index("second run") - 1].startswith("=== mosaic: again relaunch ")


def test_a_respawned_pane_keeps_its_log_and_restart_logging_marks_it(tmux, run_dir, log_dir):
    out = launch(tmux, run_dir, "resp", command="echo before; sleep 1000")
    wait_for(logged(log_dir, "resp", "before"), WAIT, "the first output")
    # tmux keeps the pane's pipe across respawn-pane (so nothing is lost) ...
    tmux.cmd("respawn-pane", "-k", "-t", "=resp:", "sh", "-c", "echo respawned; read x; echo \"got $x\"; sleep 1000")
    wait_for(logged(log_dir, "resp", "respawned"), WAIT, "the respawned pane's output")
    # ... and restart_logging starts a new writer, which marks the restart.
    pane = tmux_mod.session_panes(tmux.socket_name, "resp")[0]
    assert pane.piped
    pane_logs.restart_logging(tmux.socket_name, pane.pane_id, log_dir, "resp", 10_000_000)
    wait_for(logged(log_dir, "resp", "resp restart"), WAIT, "the restart marker")
    send_line(tmux, "resp", "hello")
    wait_for(logged(log_dir, "resp", "got hello"), WAIT, "the output after the restart")
    text = log_text(log_dir, "resp")
    assert text.index("before") < text.index("respawned") < text.index("resp restart") < text.index("got hello")
    # One writer per pane: the replaced one has exited.
    writers = [p for p in _writers() if str(log_dir / "resp.log") in p]
    wait_for(lambda: len([p for p in _writers() if str(log_dir / "resp.log") in p]) == 1, WAIT,
             f"one writer for the pane, not {writers}")
    assert out["outcome"] == "launched"


def _writers() -> list[str]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if len(cmd) > 2 and os.path.basename(cmd[0]) == "mosaic-hb" and cmd[1] == "log":
            found.append(" ".join(cmd))
    return found


def test_the_writer_is_one_small_process_with_no_shell_or_python(tmux, run_dir, log_dir):
    launch(tmux, run_dir, "lean", command="echo hi; sleep 1000")
    wait_for(logged(log_dir, "lean", "hi"), WAIT, "the output")
    import psutil

    (writer,) = [p for p in psutil.process_iter(["cmdline"])
                 if (p.info["cmdline"] or [])[1:3] == ["log", str(log_dir / "lean.log")]]
    assert os.path.basename(writer.cmdline()[0]) == "mosaic-hb"
    assert writer.children() == []
    assert writer.memory_full_info().uss <= 200 * 1024


def test_rotation_keeps_one_old_file(tmux, run_dir, log_dir):
    env = {"MOSAIC_LOG_MAX_BYTES": "4096"}
    body = "x" * 90
    # 60 KB: more than two files can hold, each at most the cap plus one read of 16 KB.
    command = f"i=0; while [ $i -lt 600 ]; do echo \"line $i {body}\"; i=$((i+1)); done; echo all-done; sleep 1000"
    launch(tmux, run_dir, "rot", command=command, env=env)
    wait_for(logged(log_dir, "rot", "all-done"), WAIT, "the last line")
    current, old = log_dir / "rot.log", log_dir / "rot.log.1"
    # A rotation renames the file, then creates it again: a moment without it.
    wait_for(current.exists, WAIT, "the current file")
    assert old.is_file() and old.stat().st_mode & 0o777 == 0o600
    # Rotated after the chunk that crossed the cap (tmux writes a few KB at a time).
    assert current.stat().st_size < 4096 + 16384 and old.stat().st_size < 4096 + 16384
    assert not (log_dir / "rot.log.2").exists()
    lines = logs_cmd(tmux, run_dir, "rot").stdout.splitlines()
    numbers = [int(line.split()[1]) for line in lines if line.startswith("line ")]
    assert numbers == list(range(numbers[0], 600)) and numbers[0] > 0  # the oldest are gone
    assert logs_cmd(tmux, run_dir, "rot", "-n", "2").stdout == f"line 599 {body}\nall-done\n"


class Follower:
    """``mosaic logs NAME -f`` as a real process, its lines collected."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(mosaic_argv("logs", *args, "-f"), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, text):
        return lambda: text in self.lines

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=WAIT)
        self.thread.join(WAIT)
        stderr = self.proc.stderr.read()
        assert "Traceback" not in stderr, stderr
        self.proc.stderr.close()


def test_follow_across_rotations(tmux, run_dir, log_dir):
    env = {"MOSAIC_LOG_MAX_BYTES": "4096"}
    batches, per_batch = 6, 30
    code = ("import sys\n"
            f"for k in range({batches}):\n"
            "    sys.stdin.readline()\n"
            f"    for i in range({per_batch}):\n"
            "        print(f'b{k}-l{i:02d} ' + 'y' * 90, flush=True)\n"
            "sys.stdin.readline()\n")
    import sys

    launch(tmux, run_dir, "fol", command=shlex.join([sys.executable, "-u", "-c", code]), env=env)
    wait_for(lambda: (log_dir / "fol.log").exists(), WAIT, "the log")
    follower = Follower("fol", "--run-dir", run_dir)
    try:
        wait_for(lambda: any(line.startswith("=== mosaic: fol launch") for line in follower.lines), WAIT,
                 "the follower to print the marker")
        for k in range(batches):
            send_line(tmux, "fol", f"go{k}")
            # Each batch (about 3 KB) is seen before the next: no rotation can pass unseen.
            wait_for(follower.has(f"b{k}-l{per_batch - 1:02d} " + "y" * 90), WAIT, f"batch {k} followed")
    finally:
        follower.stop()
    # The file was rotated at least twice while followed: the first batch is in neither file.
    kept = log_text(log_dir, "fol") + (log_dir / "fol.log.1").read_text()
    assert "b0-l00" not in kept and "b5-l29" in kept
    got = [line.split()[0] for line in follower.lines if line.startswith("b")]
    assert got == [f"b{k}-l{i:02d}" for k in range(batches) for i in range(per_batch)]


def test_follow_ends_when_the_reader_leaves(tmux, run_dir, log_dir):
    launch(tmux, run_dir, "gone", command="seq 1 5000; sleep 1000")
    wait_for(logged(log_dir, "gone", "5000"), WAIT, "the output")
    for args in (["-f"], [], ["-n", "100"]):
        script = f"{shlex.join(mosaic_argv('logs', 'gone', '--run-dir', run_dir, *args))} 2>err | head -1; " \
                 "exit ${PIPESTATUS[0]}"
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, cwd=os.environ["HOME"])
        assert done.returncode == 0, (args, done)
        assert done.stdout.count("\n") == 1
        assert open(os.path.join(os.environ["HOME"], "err")).read() == ""


def test_a_write_limit_drops_output_without_holding_the_agent(tmux, run_dir, log_dir):
    """No tmpfs needed: the tmux server (and so the writer it starts) runs
    under RLIMIT_FSIZE of 8 KB, as a file-size quota; the writer ignores
    SIGXFSZ, so every write past it fails with EFBIG."""
    limit = 8192

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    subprocess.run(["tmux", "-L", tmux.socket_name, "new-session", "-d", "-s", "holder", "sleep", "1000"],
                   check=True, preexec_fn=limited, stdin=subprocess.DEVNULL, timeout=10)
    # The agent stays alive after its last line: when a process exits right
    # after a burst, the kernel may drop pty output tmux has not read yet
    # (seen under load: the screen ended mid-number above "Pane is dead").
    command = "seq 1 20000; echo agent-finished; exec sleep 1000"
    launch(tmux, run_dir, "capped", command=command, env={"MOSAIC_LOG_MAX_BYTES": "0"})
    # The agent got past its output: 100 KB went through a writer that could keep 8 KB.
    wait_for(shown(tmux, "capped", "agent-finished"), 30, "its last line on screen")
    assert (log_dir / "capped.log").stat().st_size <= limit
    assert "=== mosaic: capped launch" in log_text(log_dir, "capped")


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KB tmpfs (root only, where mounting is allowed); unmounted after."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_a_write_limit_drops_output... covers a full file system")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


def test_a_read_only_log_dir_is_named_in_the_launch_warning(tmux, run_dir, small_tmpfs):
    """The launch tells why at once (it waited for a log that could not
    come, 2 s an agent: 40 s for a fleet up of 20)."""
    log_dir = small_tmpfs / "logs"
    log_dir.mkdir(mode=0o700)
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True,
                          timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
    for name in ("ro1", "ro2"):
        out = launch(tmux, run_dir, name, "--log-dir", log_dir, command="echo hello; sleep 1000")
        assert out["warnings"] == [f"the output of {name} is not logged: {log_dir} is on a read-only file system"]
        wait_for(shown(tmux, name, "hello"), WAIT, "the agent running all the same")


def test_a_full_disk_drops_output_without_holding_the_agent(tmux, run_dir, small_tmpfs):
    log_dir = small_tmpfs / "logs"
    log_dir.mkdir(mode=0o700)
    filler = small_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:  # fill it up
        while os.write(fd, b"\0" * 1024):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    command = "seq 1 20000; echo batch-done; read x; echo \"after $x\"; sleep 1000"
    launch(tmux, run_dir, "full", "--log-dir", log_dir, command=command)
    wait_for(shown(tmux, "full", "batch-done"), 30, "the agent to get past 100 KB of output")
    assert (log_dir / "full.log").stat().st_size < 4096
    filler.unlink()  # space again: the writer notes what it dropped, then logs on
    send_line(tmux, "full", "space")
    wait_for(logged(log_dir, "full", "after space"), WAIT, "output logged again")
    text = log_text(log_dir, "full")
    assert "bytes of output were not logged: No space left on device]" in text
    assert text.index("not logged") < text.index("after space")


def test_a_symlink_planted_at_the_log_path_is_not_followed(tmux, run_dir, log_dir, tmp_path):
    log_dir.mkdir(mode=0o700, parents=True)
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    (log_dir / "trap.log").symlink_to(target)
    out = launch(tmux, run_dir, "trap", command="echo secret output; sleep 1000")
    assert any("is a symlink" in w and "not logged" in w for w in out["warnings"]), out["warnings"]
    wait_for(lambda: not [w for w in _writers() if str(log_dir / "trap.log") in w], WAIT,
             "the writer to refuse and exit")
    assert target.read_text() == "keep me\n"
    result = logs_cmd(tmux, run_dir, "trap")
    assert result.exit_code == 1
    assert "is a symlink; not reading it" in one_line_error(result)


def test_a_hard_link_or_foreign_file_at_the_log_path_is_refused_with_a_warning(tmux, run_dir, log_dir, tmp_path):
    """The writer refuses a log with other links or another owner; the
    launch says so (as for a symlink), and logs does not print the other file."""
    log_dir.mkdir(mode=0o700, parents=True)
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    os.link(target, log_dir / "linked.log")
    out = launch(tmux, run_dir, "linked", command="echo secret output; sleep 1000")
    assert any("other hard links" in w and "not logged" in w for w in out["warnings"]), out["warnings"]
    wait_for(lambda: not [w for w in _writers() if str(log_dir / "linked.log") in w], WAIT,
             "the writer to refuse and exit")
    assert target.read_text() == "keep me\n"
    result = logs_cmd(tmux, run_dir, "linked")
    assert result.exit_code == 1 and "keep me" not in result.stdout
    assert "has other hard links; not reading it" in one_line_error(result)
    if os.geteuid() == 0:  # only root can give a file away
        foreign = log_dir / "foreign.log"
        foreign.write_text("")
        os.chown(foreign, 65534, 65534)
        out = launch(tmux, run_dir, "foreign", command="echo secret output; sleep 1000")
        assert any("belongs to another user" in w for w in out["warnings"]), out["warnings"]


def test_a_symlink_planted_at_the_old_log_is_not_read_and_the_current_log_still_is(tmux, run_dir, log_dir, tmp_path):
    launch(tmux, run_dir, "oldtrap", command="echo current output; sleep 1000")
    wait_for(logged(log_dir, "oldtrap", "current output"), WAIT, "the output in the log")
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    (log_dir / "oldtrap.log.1").symlink_to(target)
    for args in ((), ("-n", "1")):
        result = logs_cmd(tmux, run_dir, "oldtrap", *args)
        assert result.exit_code == 0 and "current output" in result.stdout and "keep me" not in result.stdout
        assert "oldtrap.log.1 is a symlink; not reading it" in result.stderr
    (log_dir / "oldtrap.log").unlink()  # with no current log, the refusal is the answer
    result = logs_cmd(tmux, run_dir, "oldtrap")
    assert result.exit_code == 1 and "is a symlink; not reading it" in one_line_error(result)


def test_log_dir_with_shell_and_format_characters_is_taken_literally(tmux, run_dir, tmp_path):
    log_dir = tmp_path / "it's #{pane_id} $(touch pwned) `id` ;"
    launch(tmux, run_dir, "odd", "--log-dir", log_dir, command="echo odd output; sleep 1000")
    wait_for(logged(log_dir, "odd", "odd output"), WAIT, "the output in the odd dir")
    assert not list(tmp_path.rglob("pwned")) and not (Path(os.environ["HOME"]) / "pwned").exists()
    result = logs_cmd(tmux, run_dir, "odd", "--log-dir", log_dir, "-n", "1")
    assert result.stdout == "odd output\n"
    # The variable names the same place as the flag.
    result = logs_cmd(tmux, run_dir, "odd", "-n", "1", env={"MOSAIC_LOG_DIR": str(log_dir)})
    assert result.stdout == "odd output\n"


def test_log_dir_with_strftime_and_style_characters_is_taken_literally(tmux, run_dir, tmp_path):
    """tmux gives pipe-pane's command to strftime(3) before expanding it as a
    format (``%d`` would be the day, ``%%`` one ``%``), and leaves ``##[`` (a
    style) as it is: the writer of a launch and of a restart by the sidecar
    (--respawn-log) both write in the dir named, not in a neighbour."""
    log_dir = tmp_path / "day %d, 100%% #[fg=red] ##[x] #"
    ready = tmp_path / "ready"
    command = f"echo run-$$; trap 'kill $!; exit 1' TERM; sleep 1000 & : > {shlex.quote(str(ready))}; wait"
    out = launch(tmux, run_dir, "pct", "--log-dir", log_dir, "--restart", "on-failure", command=command,
                 env={"MOSAIC_RESTART_DELAY_MS": "100"})
    wait_for(ready.exists, WAIT, "the agent's trap")
    wait_for(logged(log_dir, "pct", f"run-{out['pane_pid']}"), WAIT, "the first run in the dir named")
    ready.unlink()
    os.kill(out["pane_pid"], signal.SIGTERM)
    wait_for(lambda: "pct restart" in log_text(log_dir, "pct"), 15, "the restart's marker in the dir named")
    wait_for(lambda: log_text(log_dir, "pct").count("run-") == 2, WAIT, "the second run in the log")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("day")] == [log_dir.name]
    assert logs_cmd(tmux, run_dir, "pct", "--log-dir", log_dir).stdout.count("run-") == 2


def test_screen_prints_the_live_pane(tmux, run_dir, log_dir):
    launch(tmux, run_dir, "scr", command=r"printf '\033[32mon screen\033[0m\n'; sleep 1000")
    wait_for(shown(tmux, "scr", "on screen"), WAIT, "the output on screen")
    result = logs_cmd(tmux, run_dir, "scr", "--screen")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "on screen" and "\x1b" not in result.stdout
    assert "\x1b[32mon screen" in logs_cmd(tmux, run_dir, "scr", "--screen", "--raw").stdout
    assert logs_cmd(tmux, run_dir, "scr", "--screen", "-f").exit_code == 2


def test_bad_log_settings_are_one_line_usage_errors(tmux, run_dir, tmp_path):
    for env, expected in (({"MOSAIC_LOG_MAX_BYTES": "12"}, "MOSAIC_LOG_MAX_BYTES"),
                          ({"MOSAIC_LOG_MAX_BYTES": "ten"}, "MOSAIC_LOG_MAX_BYTES"),
                          ({"MOSAIC_LOG_DIR": ""}, "MOSAIC_LOG_DIR is set but empty")):
        result = mosaic("launch", "bad", "--socket", tmux.socket_name, "--run-dir", run_dir,
                        "--command", "sleep 1000", env=env)
        assert result.exit_code == 2 and expected in one_line_error(result)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    result = mosaic("launch", "bad", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--log-dir", open_dir, "--command", "sleep 1000")
    assert result.exit_code == 2 and "log dir" in one_line_error(result)
    assert not run_dir.exists() and tmux.cmd("list-sessions", check=False).returncode != 0


def test_launch_of_a_running_agent_whose_output_goes_nowhere_logs_it_again(tmux, run_dir, log_dir):
    launch(tmux, run_dir, "res", command="read x; echo \"got $x\"; sleep 1000")
    wait_for(lambda: (log_dir / "res.log").exists(), WAIT, "the log")
    tmux.cmd("pipe-pane", "-t", "=res:")  # no command: the pipe is closed, the writer ends
    wait_for(lambda: not tmux_mod.session_panes(tmux.socket_name, "res")[0].piped, WAIT, "no pipe")
    again = launch(tmux, run_dir, "res", command="read x; echo \"got $x\"; sleep 1000")
    assert again["outcome"] == "already running" and again["warnings"] == []
    assert tmux_mod.session_panes(tmux.socket_name, "res")[0].piped
    wait_for(logged(log_dir, "res", "=== mosaic: res resume "), WAIT, "the resume marker")
    send_line(tmux, "res", "later")
    wait_for(logged(log_dir, "res", "got later"), WAIT, "the output after the resume")


def test_logs_right_after_launch_finds_the_log(tmux, run_dir):
    """launch waits (bounded) for the writer to create the log."""
    launch(tmux, run_dir, "quick", command="sleep 1000")
    result = logs_cmd(tmux, run_dir, "quick")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("=== mosaic: quick launch ")


def test_fleet_up_logs_every_agent(tmux, run_dir, log_dir, tmp_path):
    names = [f"f{i}" for i in range(4)]
    text = f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 2\n'
    for name in names:
        text += f'\n[[agent]]\nname = "{name}"\ncommand = "echo hello from {name}; sleep 1000"\n'
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(text)
    result = mosaic("fleet", "up", "-f", fleet)
    assert result.exit_code == 0, result.output
    for name in names:
        wait_for(logged(log_dir, name, f"hello from {name}"), WAIT, f"{name}'s output")
        assert log_text(log_dir, name).startswith(f"=== mosaic: {name} launch ")


def test_a_dead_pane_respawned_as_a_restart_does_it_is_still_logged(tmux, run_dir, log_dir):
    """A restart respawns the agent's dead pane (``respawn-pane`` without
    -k): tmux keeps the pane's pipe, so the new run's output goes on into
    the same log, after the old run's."""
    out = launch(tmux, run_dir, "phoenix", command=printing_then_exiting("echo first life", 1))
    wait_for(logged(log_dir, "phoenix", "first life"), WAIT, "the first run's output")
    end_agent(tmux, "phoenix", out["pane_pid"])
    pane = tmux_mod.session_panes(tmux.socket_name, "phoenix")[0]
    tmux.cmd("respawn-pane", "-t", pane.pane_id, "sh", "-c", "echo second life; sleep 1000")
    wait_for(logged(log_dir, "phoenix", "second life"), WAIT, "the respawned run's output")
    text = log_text(log_dir, "phoenix")
    assert text.index("first life") < text.index("second life")
    assert tmux_mod.session_panes(tmux.socket_name, "phoenix")[0].piped
