"""Bad input to mosaic launch: a one-line error, exit 2 (127 without tmux),
and nothing created: no session, no directory, no sidecar."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.agents import SLEEPER
from tests.support.run import mosaic, mosaic_argv, mosaic_proc, one_line_error
from tests.support.tmux import server_running
from tests.support.wait import settle

ENV_VARS = [
    "MOSAIC_AGENT_NAME", "MOSAIC_TMUX_SOCKET", "MOSAIC_AGENT_RUNTIME", "MOSAIC_AGENT_WORKDIR",
    "MOSAIC_AGENT_COMMAND", "MOSAIC_RUNTIME_BIN", "MOSAIC_HEARTBEAT_RUN_DIR", "MOSAIC_HEARTBEAT_INTERVAL",
]


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "work" / "dir"  # does not exist: launch would create it


@pytest.fixture
def attempt(tmux, run_dir, workdir, home):
    """Run `mosaic launch` with the test's socket, run dir and workdir (unless
    overridden) and check that it created nothing."""

    def run(*args, env: dict | None = None, code: int = 2, defaults: bool = True, omit: str | None = None) -> str:
        base = []
        if defaults:
            flags = {"--socket": tmux.socket_name, "--run-dir": run_dir, "--workdir": workdir,
                     "--interval": "0.2", "--command": SLEEPER}
            base = [a for flag, value in flags.items() if flag != omit for a in (flag, value)]
        before = sorted(home.rglob("*"))
        result = mosaic("launch", *base, *args, env=env)
        assert result.exit_code == code, result.output
        assert result.stdout == ""
        line = one_line_error(result)
        assert not server_running(tmux)
        assert not run_dir.exists()
        assert not workdir.exists() and not workdir.parent.exists()
        assert sorted(home.rglob("*")) == before
        return line

    return run


def test_missing_name_names_the_argument_and_the_variable(attempt):
    line = attempt()
    assert "NAME" in line and "MOSAIC_AGENT_NAME" in line


@pytest.mark.parametrize("name", [
    "a.b", "a:b", "a/b", "..", ".", "a b", " a", "a\nb", "a\tb", "naïve", "日本", "_lead", "x" * 65,
    "", "$(touch PWNED)", ";touch PWNED", "`touch PWNED`", "a=b", "#{pane_pid}",
])
def test_invalid_name(attempt, name, tmp_path):
    line = attempt("--", name)
    assert "invalid agent name" in line
    assert "[A-Za-z0-9][A-Za-z0-9_-]{0,63}" in line
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("name", ["-lead", "--lead", "-x" + "y" * 70])
def test_leading_dash_name(attempt, name):
    """After --, or through the variable, a leading '-' is a name and invalid."""
    assert "invalid agent name" in attempt("--", name)
    assert "invalid agent name" in attempt(env={"MOSAIC_AGENT_NAME": name})


def test_leading_dash_name_as_an_option_is_a_click_usage_error(tmux):
    result = mosaic("launch", "-lead", "--socket", tmux.socket_name)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not server_running(tmux)


def test_longest_valid_name_is_64(tmux, run_dir):
    name = "a" * 64
    try:
        result = mosaic("launch", name, "--socket", tmux.socket_name, "--run-dir", run_dir,
                        "--interval", "0.2", "--command", SLEEPER)
        assert result.exit_code == 0, result.output
    finally:
        settle(tmux)


def test_invalid_name_from_the_environment(attempt):
    line = attempt(env={"MOSAIC_AGENT_NAME": "bad.name"})
    assert "MOSAIC_AGENT_NAME" in line


@pytest.mark.parametrize("runtime", ["gpt", "PI", "pi ", "claude-code", ""])
def test_unknown_runtime(attempt, runtime):
    line = attempt("agent", "--runtime", runtime)
    assert "runtime" in line


@pytest.mark.parametrize("interval", ["0", "-1", "abc", "nan", "inf", "-inf", "1e9", "0.01", "86401", "", " ", "1s"])
def test_bad_interval(tmux, run_dir, workdir, attempt, interval):
    line = attempt("agent", "--socket", tmux.socket_name, "--run-dir", run_dir, "--workdir", workdir,
                   "--command", SLEEPER, "--interval", interval, defaults=False)
    assert "interval" in line


@pytest.mark.parametrize("interval", ["0", "nan", "1e9", "abc", "1e400", "-inf", "1" * 5000])
def test_bad_interval_from_the_environment(tmux, run_dir, workdir, attempt, interval):
    line = attempt("agent", "--socket", tmux.socket_name, "--run-dir", run_dir, "--workdir", workdir,
                   "--command", SLEEPER, env={"MOSAIC_HEARTBEAT_INTERVAL": interval}, defaults=False)
    assert "MOSAIC_HEARTBEAT_INTERVAL" in line
    assert len(line) < 200  # the value is quoted, cut short


def test_workdir_that_is_a_file(tmux, run_dir, tmp_path, attempt):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for workdir in (afile, afile / "below"):
        line = attempt("agent", "--socket", tmux.socket_name, "--run-dir", run_dir, "--workdir", workdir,
                       "--command", SLEEPER, defaults=False)
        assert str(afile) in line and "not a directory" in line
    assert afile.read_text() == "x"


@pytest.mark.parametrize("pair", ["NOEQUALS", "=v", "1KEY=v", "K-EY=v", "K EY=v", "KEY=a\nb", "KEY=a\rb",
                                  "TMUX=x", "TERM=dumb"])
def test_bad_env(attempt, pair):
    line = attempt("agent", "--env", pair)
    assert "--env" in line


# The flag that would override each variable in `attempt`'s defaults: an
# empty variable is an error only where it is consulted, so that flag is
# left out.
OVERRIDING_FLAG = {
    "MOSAIC_TMUX_SOCKET": "--socket", "MOSAIC_AGENT_WORKDIR": "--workdir", "MOSAIC_AGENT_COMMAND": "--command",
    "MOSAIC_HEARTBEAT_RUN_DIR": "--run-dir", "MOSAIC_HEARTBEAT_INTERVAL": "--interval",
}


@pytest.mark.parametrize("var", ENV_VARS)
def test_empty_variable_is_an_error_naming_it(attempt, var):
    args = [] if var == "MOSAIC_AGENT_NAME" else ["agent"]
    line = attempt(*args, env={var: ""}, omit=OVERRIDING_FLAG.get(var))
    assert var in line
    assert "empty" in line


@pytest.mark.parametrize("flag", ["--socket", "--workdir", "--command", "--run-dir", "--runtime-bin", "--interval"])
def test_empty_flag_is_an_error(attempt, flag):
    line = attempt("agent", flag, "", omit=flag)
    assert flag in line


@pytest.mark.parametrize("socket", ["a/b", "../x", "a b", "a.b", "x" * 65])
def test_bad_socket_name(attempt, socket):
    line = attempt("agent", "--socket", socket, omit="--socket")
    assert "socket" in line


@pytest.mark.parametrize("command", ['echo "unclosed', "fi", "(", "  ", "a |"])
def test_bad_command(attempt, command):
    line = attempt("agent", "--command", command, omit="--command")
    assert "--command" in line


def test_control_characters_in_paths(attempt, tmp_path):
    line = attempt("agent", "--workdir", tmp_path / "a\nb", omit="--workdir")
    assert "control character" in line and "\\n" in line
    line = attempt("agent", "--runtime-bin", tmp_path / "bin\x1b[31m")
    assert "control character" in line


def test_unsafe_run_dir(attempt, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    line = attempt("agent", "--run-dir", link, omit="--run-dir")
    assert "symlink" in line
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    line = attempt("agent", "--run-dir", open_dir, omit="--run-dir")
    assert "writable" in line
    afile = tmp_path / "runfile"
    afile.write_text("")
    assert "not a directory" in attempt("agent", "--run-dir", afile / "run", omit="--run-dir")


def test_tmux_not_installed_is_127_with_an_install_hint(attempt, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    line = attempt("agent", code=127, env={"PATH": str(empty)})  # PATH is restored after the call
    assert line == ("mosaic: error: tmux not found on PATH; install it "
                    "(e.g. apt-get install tmux or brew install tmux)")


def test_tmux_not_installed_through_the_real_script(tmux, tmp_path, run_dir):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = mosaic_proc("launch", "agent", "--socket", tmux.socket_name, "--run-dir", run_dir,
                      env={**os.environ, "PATH": str(empty)})
    assert done.returncode == 127
    assert done.stderr.startswith("mosaic: error: tmux not found on PATH")
    assert not run_dir.exists()


def test_bad_input_through_the_real_script_is_one_line(tmux):
    done = mosaic_proc("launch", "--socket", tmux.socket_name, "--", "bad name")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("mosaic: error: invalid agent name")
    assert "Traceback" not in done.stderr


def test_relative_paths_from_a_removed_directory_are_one_line_naming_it(tmux, tmp_path, run_dir):
    # os.path.abspath of a relative path needs the current directory: with
    # it removed, every command printed 'No such file or directory' and no
    # more (no path, no option).
    gone = tmp_path / "gone"
    gone.mkdir()
    env = {**os.environ, "MOSAIC_TMUX_SOCKET": tmux.socket_name}
    runs = []
    # The directory is removed by the shell that then runs mosaic in it.
    for args, where in ((["launch", "agent", "--run-dir", "rel", "--command", SLEEPER], "--run-dir"),
                        (["fleet", "ps", "--run-dir", "../rel"], "--run-dir"),
                        (["stop", "agent", "--run-dir", "./rel"], "--run-dir"),
                        (["launch", "agent", "--run-dir", run_dir, "--workdir", "w"], "--workdir")):
        argv = mosaic_argv(*args)
        script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
        done = subprocess.run(["sh", "-c", script, "sh", str(gone), *argv], env=env,
                              capture_output=True, text=True, timeout=60)
        gone.mkdir()
        runs.append((where, done))
    for where, done in runs:
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"mosaic: error: {where}: "), done.stderr
        assert "is relative and the current directory cannot be found" in done.stderr
    assert not server_running(tmux)
    assert not run_dir.exists()
