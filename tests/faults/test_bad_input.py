"""Bad input that the other input tests do not reach.

Already covered elsewhere, and not repeated here: every bad name, interval,
empty variable, runtime, workdir and --env pair of ``mosaic launch``
(test_launch_input.py); of ``mosaic-hb`` (test_hb_bad_input.py); the fleet
file's own schema (test_fleet_file.py); ``fleet ps`` options and garbage
records without an agent (test_fleet_ps.py); the record parser
(test_record.py).

Here: ``mosaic stop`` and ``attach`` with bad names and timeouts; ``fleet
up`` with the bad names, intervals and workdirs the fleet-file tests leave
out; empty ``MOSAIC_*`` variables for every command that reads them; bad
``mosaic-hb --runtime`` names; heartbeat files that are not records under a
*running* agent. Each is one line on stderr, a non-zero exit, no traceback,
and nothing created.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

import mosaic_hb
from tests.support.agents import launch, ps, rows
from tests.support.hb import sidecar, sidecars
from tests.support.run import mosaic, one_line_error
from tests.support.tmux import TmuxServer, server_running
from tests.support.wait import settle, wait_for

BAD_NAMES = [".", "..", "a.b", "a:b", "a/b", "a b", "a\nb", "na\u00efve", "\u65e5\u672c", "-lead", "x" * 65]


def refused(result, code: int = 2) -> str:
    """The one error line of a command that failed with exit status CODE."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stdout == ""
    return one_line_error(result)


def nothing_created(tmux, run_dir, home) -> None:
    assert not server_running(tmux)
    assert TmuxServer("mosaic-factory").server_pid() is None  # the default socket (under the test's TMUX_TMPDIR)
    assert not run_dir.exists()
    assert not (home / ".config").exists()


# ---- mosaic stop / attach ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["stop", "attach"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_stop_and_attach_refuse_bad_names(tmux, run_dir, home, command, name):
    line = refused(mosaic(command, "--socket", tmux.socket_name, "--", name))
    assert line.startswith("mosaic: error: invalid agent name ") and "[A-Za-z0-9][A-Za-z0-9_-]{0,63}" in line
    line = refused(mosaic(command, "--socket", tmux.socket_name, env={"MOSAIC_AGENT_NAME": name}))
    assert "invalid agent name" in line and "MOSAIC_AGENT_NAME" in line
    nothing_created(tmux, run_dir, home)


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "nan", "inf", "1e9", ""])
def test_stop_refuses_bad_timeouts(tmux, run_dir, home, timeout):
    line = refused(mosaic("stop", "agent", "--socket", tmux.socket_name, "--run-dir", run_dir,
                          "--timeout", timeout))
    assert "--timeout" in line
    nothing_created(tmux, run_dir, home)


# ---- fleet up: what test_fleet_file.py's table leaves out ----------------------------------------


def fleet_text(tmux, run_dir, agent: str = '[[agent]]\nname = "a"\ncommand = "sleep 300"\n',
               top: str = "") -> str:
    return f"socket = {json.dumps(tmux.socket_name)}\nrun_dir = {json.dumps(str(run_dir))}\n{top}\n{agent}"


FILE_CASES = {
    **{f"name {name!r}": ("", f"[[agent]]\nname = {json.dumps(name)}\n", 5, "invalid agent name")
       for name in BAD_NAMES if name not in ("a b", "-lead", "x" * 65)},  # those three are in BAD
    **{f"interval {value}": (f"interval = {value}", '[[agent]]\nname = "a"\n', 3, "interval")
       for value in ("-1", "inf", "-inf", '"abc"', "0.01", "86401")},
    "workdir that is a file": ("", '[[agent]]\nname = "a"\nworkdir = "fleet.toml"\n', 6, "not a directory"),
}


@pytest.mark.parametrize("case", FILE_CASES)
def test_fleet_up_refuses_a_bad_file_and_launches_nothing(tmux, run_dir, home, tmp_path, case):
    top, agent, line_number, words = FILE_CASES[case]
    path = tmp_path / "fleet.toml"
    path.write_text(fleet_text(tmux, run_dir, agent, top))
    line = refused(mosaic("fleet", "up", "-f", path))
    assert line.startswith(f"mosaic: error: {path}:{line_number}: "), line
    assert words in line
    down = mosaic("fleet", "down", "-f", path)
    if case.startswith("name "):  # down needs the names; the other settings are for launching
        refused(down)
    nothing_created(tmux, run_dir, home)
    assert path.read_text() == fleet_text(tmux, run_dir, agent, top)  # the workdir case: untouched


# ---- empty MOSAIC_* variables -------------------------------------------------------------------

LAUNCH_VARS = ["MOSAIC_TMUX_SOCKET", "MOSAIC_AGENT_RUNTIME", "MOSAIC_AGENT_WORKDIR", "MOSAIC_AGENT_COMMAND",
               "MOSAIC_RUNTIME_BIN", "MOSAIC_HEARTBEAT_RUN_DIR", "MOSAIC_HEARTBEAT_INTERVAL",
               "MOSAIC_TEXTFILE_DIR"]


@pytest.mark.parametrize("args, var", [
    (("stop",), "MOSAIC_AGENT_NAME"),
    (("stop", "agent"), "MOSAIC_TMUX_SOCKET"),
    (("stop", "agent"), "MOSAIC_HEARTBEAT_RUN_DIR"),
    (("stop", "--all"), "MOSAIC_TMUX_SOCKET"),
    (("attach",), "MOSAIC_AGENT_NAME"),
    (("attach", "agent"), "MOSAIC_TMUX_SOCKET"),
    (("fleet", "down", "--all"), "MOSAIC_TMUX_SOCKET"),
    (("fleet", "down", "--all"), "MOSAIC_HEARTBEAT_RUN_DIR"),
])
def test_empty_variable_for_stop_attach_and_fleet_down(tmux, run_dir, home, args, var):
    line = refused(mosaic(*args, env={var: ""}))
    assert f"{var} is set but empty" in line
    nothing_created(tmux, run_dir, home)


@pytest.mark.parametrize("var", LAUNCH_VARS)
def test_empty_variable_for_fleet_up(tmux, run_dir, home, tmp_path, var):
    """Each variable is left to be consulted: the file does not set that setting."""
    top = {"MOSAIC_TMUX_SOCKET": "socket", "MOSAIC_HEARTBEAT_RUN_DIR": "run_dir"}.get(var)
    lines = [f"socket = {json.dumps(tmux.socket_name)}", f"run_dir = {json.dumps(str(run_dir))}"]
    text = "\n".join(line for line in lines if not line.startswith(f"{top} =")) + '\n[[agent]]\nname = "a"\n'
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    line = refused(mosaic("fleet", "up", "-f", path, env={var: ""}))
    assert f"{var} is set but empty" in line
    nothing_created(tmux, run_dir, home)


def test_empty_or_missing_textfile_dir_for_launch(tmux, run_dir, home, tmp_path):
    """The sidecar reads MOSAIC_TEXTFILE_DIR; a value it would refuse must
    stop the launch before anything exists, not leave a session without a
    heartbeat."""
    args = ["launch", "agent", "--socket", tmux.socket_name, "--run-dir", run_dir, "--command", "sleep 300"]
    line = refused(mosaic(*args, env={"MOSAIC_TEXTFILE_DIR": ""}))
    assert "MOSAIC_TEXTFILE_DIR is set but empty" in line
    missing = tmp_path / "no-such-dir"
    line = refused(mosaic(*args, env={"MOSAIC_TEXTFILE_DIR": str(missing)}))
    assert "MOSAIC_TEXTFILE_DIR" in line and str(missing) in line
    nothing_created(tmux, run_dir, home)
    assert not missing.exists()


def test_empty_textfile_dir_for_the_sidecar(spawn_process, run_dir):
    agent = spawn_process(["sleep", "300"])
    done = sidecar("alpha", str(agent.pid), "--run-dir", str(run_dir), env={**os.environ, "MOSAIC_TEXTFILE_DIR": ""})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "mosaic-hb: error: MOSAIC_TEXTFILE_DIR is set but empty (see mosaic-hb --help)"]
    assert not run_dir.exists()


@pytest.mark.parametrize("runtime", ["", "a b", "../x", "claude;", "x" * 65, "na\u00efve"])
def test_sidecar_refuses_a_bad_runtime_name(spawn_process, run_dir, runtime):
    agent = spawn_process(["sleep", "300"])
    done = sidecar("alpha", str(agent.pid), "--run-dir", str(run_dir), "--runtime", runtime)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "invalid runtime name" in done.stderr
    assert not run_dir.exists()


# ---- heartbeat files that are not records, under a running agent ---------------------------------


def corrupt_bytes(kind: str, good: bytes) -> bytes:
    return {
        "empty": b"",
        "binary": bytes(range(256)) * 4,
        "10 MB": b"x=y\n" * (10 * 1024 * 1024 // 4),
        "duplicate keys": good + b"pid=1\n",
    }[kind]


@pytest.mark.parametrize("kind", ["empty", "binary", "10 MB", "duplicate keys"])
def test_corrupt_record_of_a_running_agent_is_shown_and_a_relaunch_repairs_it(tmux, run_dir, kind):
    try:
        out = launch(tmux, run_dir, "sierra")
        hb_file = run_dir / "sierra.hb"
        os.kill(out["sidecar_pid"], signal.SIGKILL)  # nobody rewrites the file from now on
        wait_for(lambda: not sidecars("sierra", run_dir), 10, "the sidecar to die")
        hb_file.write_bytes(corrupt_bytes(kind, hb_file.read_bytes()))

        row = rows(ps(tmux, run_dir))["sierra"]
        assert (row["heartbeat"], row["pane"], row["pid"]) == ("corrupt", "alive", out["pane_pid"])
        assert row["detail"] and not row["healthy"]
        ps(tmux, run_dir, "--check", code=1)
        table = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir)
        assert table.exit_code == 0 and "corrupt" in table.stdout

        again = launch(tmux, run_dir, "sierra")
        assert again["outcome"] == "heartbeat restarted" and again["pane_pid"] == out["pane_pid"]
        record = mosaic_hb.read(hb_file)
        assert (record.status, record.pid, record.hb_pid) == ("ok", out["pane_pid"], again["sidecar_pid"])
        assert rows(ps(tmux, run_dir, "--check"))["sierra"]["heartbeat"] == "ok"
    finally:
        settle(tmux)
