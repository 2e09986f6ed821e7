"""The fleet file: schema, the line of every error, settings precedence; a bad
file launches nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mosaic_launch.fleet import file as fleet_file
from mosaic_launch.errors import UsageError
from mosaic_launch.fleet.file import FleetFileError
from tests.support.run import mosaic, one_line_error

GOOD = """\
# a comment
socket = "sock-1"
run_dir = "runs"
interval = 2.5

[[agent]]
name = "alpha"
runtime = "claude"
workdir = "~/src/alpha"
command = "claude --continue"
env = { FOO = "bar", EMPTY = "" }
runtime_bin = ["bin", "/opt/x/bin:rel"]

[[agent]]
name = "beta"
"""


def write(tmp_path: Path, text: str, name: str = "fleet.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_file_parses(tmp_path):
    fleet = fleet_file.load(write(tmp_path, GOOD))
    assert (fleet.socket, fleet.run_dir, fleet.interval) == ("sock-1", "runs", 2.5)
    alpha, beta = fleet.agents
    assert (alpha.name, alpha.runtime, alpha.workdir, alpha.command) == (
        "alpha", "claude", "~/src/alpha", "claude --continue")
    assert alpha.env == (("FOO", "bar"), ("EMPTY", ""))
    assert alpha.runtime_bin == ("bin", "/opt/x/bin:rel")
    assert (alpha.line, beta.line) == (6, 14)
    assert (beta.runtime, beta.workdir, beta.command, beta.env, beta.runtime_bin) == (None, None, None, (), ())


def test_settings_resolve_like_launch_with_paths_relative_to_the_file(tmp_path, home):
    (tmp_path / "bin").mkdir()
    path = write(tmp_path, GOOD)
    alpha, beta = fleet_file.load(path).launch_settings()
    assert (alpha.name, alpha.socket, alpha.runtime, alpha.interval) == ("alpha", "sock-1", "claude", 2.5)
    assert alpha.run_dir == tmp_path / "runs"
    assert alpha.workdir == home / "src" / "alpha"
    assert alpha.command == "claude --continue"
    assert alpha.env == (("FOO", "bar"), ("EMPTY", ""))
    assert alpha.path_prefix[0] == str(tmp_path / "bin")  # relative to the file, and it exists
    assert (beta.runtime, beta.command, beta.workdir) == ("pi", "pi", home)  # the defaults
    assert beta.socket == "sock-1" and beta.run_dir == tmp_path / "runs"


def test_precedence_agent_then_file_then_environment_then_default(tmp_path, home, monkeypatch):
    monkeypatch.setenv("MOSAIC_TMUX_SOCKET", "from-env")
    monkeypatch.setenv("MOSAIC_HEARTBEAT_INTERVAL", "7")
    monkeypatch.setenv("MOSAIC_AGENT_RUNTIME", "codex")
    monkeypatch.setenv("MOSAIC_AGENT_COMMAND", "env-command")
    path = write(tmp_path, """\
        interval = 3
        [[agent]]
        name = "own"
        runtime = "claude"
        command = "own-command"
        [[agent]]
        name = "inherits"
    """)
    own, inherits = fleet_file.load(path).launch_settings()
    assert (own.socket, own.interval, own.runtime, own.command) == ("from-env", 3.0, "claude", "own-command")
    assert (inherits.socket, inherits.interval, inherits.runtime, inherits.command) == (
        "from-env", 3.0, "codex", "env-command")
    monkeypatch.delenv("MOSAIC_TMUX_SOCKET")
    monkeypatch.delenv("MOSAIC_HEARTBEAT_RUN_DIR", raising=False)
    (settings, _) = fleet_file.load(path).launch_settings()
    assert settings.socket == "mosaic-factory"
    assert settings.run_dir == home / ".config/mosaic/fleet/run"


def test_default_path_is_under_home(home):
    assert fleet_file.default_path() == home / ".config/mosaic/fleet.toml"


BAD = [
    # (file text, line, words in the message)
    ('socket = "s"\nbogus = 1\n', 2, "unknown key 'bogus'"),
    ('[[agent]]\nname = "a"\nnmae = "b"\n', 3, "unknown key 'nmae'"),
    ('[[agent]]\nname = "a"\nsocket = "b"\n', 3, "unknown key 'socket'"),
    ('[[agent]]\nname = "a"\n\n[[agent]]\nname = "b"\n\n[[agent]]\nname = "a"\n', 8, "duplicate agent name 'a'"),
    ('[[agent]]\nname = "a b"\n', 2, "invalid agent name 'a b'"),
    ('[[agent]]\nname = "-a"\n', 2, "invalid agent name"),
    ('[[agent]]\nname = "' + "x" * 65 + '"\n', 2, "invalid agent name"),
    ('[[agent]]\nname = 5\n', 2, "name must be a string, not an integer"),
    ('[[agent]]\nruntime = "pi"\n', 1, "missing required key 'name'"),
    ('socket = 1\n', 1, "socket must be a string"),
    ('\nrun_dir = ["x"]\n', 2, "run_dir must be a string"),
    ('interval = "5"\n', 1, "interval must be a number"),
    ('interval = true\n', 1, "interval must be a number"),
    ('interval = nan\n', 1, "finite"),
    ('interval = -inf\n', 1, "finite"),
    ('interval = 1e400\n', 1, "finite"),
    # Integers past 64 bits are not TOML, but the reader takes them: past
    # float's range, and past the 4300 digits Python converts at all.
    ('interval = 1' + '0' * 400 + '\n', 1, "finite"),
    ('\ninterval = 1' + '0' * 5000 + '\n', 2, "a number too long to be a TOML integer"),
    ('[[agent]]\nname = "a"\nenv = { A = ' + '9' * 5000 + ' }\n', 3, "a number too long"),
    ('agent = 5\n', 1, "agent must be an array of tables"),
    ('agent = [1, 2]\n', 1, "agent must be an array of tables"),
    ('[[agent]]\nname = "a"\nenv = "FOO=1"\n', 3, "env must be a table"),
    ('[[agent]]\nname = "a"\nenv = { FOO = 1 }\n', 3, "env.FOO must be a string"),
    ('[[agent]]\nname = "a"\n[agent.env]\nFOO = true\n', 3, "env.FOO must be a string"),
    ('[[agent]]\nname = "a"\nruntime_bin = "x"\n', 3, "runtime_bin must be an array"),
    ('[[agent]]\nname = "a"\nruntime_bin = [1]\n', 3, "runtime_bin entries must be strings"),
    ('[[agent]]\nname = "a"\nworkdir = 1\n', 3, "workdir must be a string"),
    ('[[agent]]\nname = "a"\n\ncommand = false\n', 4, "command must be a string"),
    # TOML syntax: the parser's own line.
    ('[[agent]\nname = "a"\n', 1, "Expected"),
    ('[[agent]]\nname = "a"\nname = "b"\n', 3, "Cannot overwrite"),
    ('[[agent]]\nname = "a\n', 2, "Illegal character"),
    ('socket = \n', 1, "Invalid value"),
    # Settings, checked as `mosaic launch` checks them, before anything is launched.
    ('[[agent]]\nname = "a"\nruntime = "gpt"\n', 3, "unknown runtime 'gpt'"),
    ('[[agent]]\nname = "a"\ncommand = "echo (("\n', 3, "command is not valid shell syntax"),
    ('[[agent]]\nname = "a"\ncommand = "  "\n', 3, "command is blank"),
    ('[[agent]]\nname = "a"\nenv = { "B-AD" = "1" }\n', 3, "KEY must match"),
    ('[[agent]]\nname = "a"\nenv = { A = "x\\ny" }\n', 3, "newline"),
    ('[[agent]]\nname = "ok"\n[[agent]]\nname = "a"\nworkdir = "fleet.toml/sub"\n', 5, "cannot be created"),
    ('socket = "bad/sock"\n[[agent]]\nname = "a"\n', 1, "invalid tmux socket name"),
    ('\ninterval = 0\n[[agent]]\nname = "a"\n', 2, "interval"),
    ('interval = 1e9\n', 1, "interval"),
]


@pytest.mark.parametrize("text, line, words", BAD)
def test_bad_file_is_one_error_with_its_line(tmp_path, text, line, words):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(FleetFileError) as caught:
        fleet_file.load(path).launch_settings()
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_bad_file_through_fleet_up_launches_nothing(tmp_path, tmux, run_dir):
    path = tmp_path / "fleet.toml"
    path.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\n'
                    '[[agent]]\nname = "first"\ncommand = "sleep 1000"\n'
                    '[[agent]]\nname = "second"\ncommand = "sleep 1000"\ncolour = "blue"\n')
    line = one_line_error(mosaic("fleet", "up", "-f", path), 2)
    assert line == (f"mosaic: error: {path}:9: agent #2: unknown key 'colour' "
                    "(agent keys: name, runtime, workdir, command, env, runtime_bin, hooks, restart, restart_command)")
    assert tmux.server_pid() is None  # nothing launched, not even the first agent
    assert not run_dir.exists()
    one_line_error(mosaic("fleet", "down", "-f", path), 2)


def test_bytes_that_are_not_a_fleet_file(tmp_path):
    for data, words in [(b"socket = 'x'\n\xff\xfe\n", ":2: not UTF-8"), (b"\x00\x01\x02", "Invalid"),
                        (b"# x\n" * 300_000, "larger than")]:
        path = tmp_path / "fleet.toml"
        path.write_bytes(data)
        result = mosaic("fleet", "up", "-f", path)
        line = one_line_error(result, 2)
        assert str(path) in line and words in line, line


def test_missing_and_unreadable_files(tmp_path, home):
    line = one_line_error(mosaic("fleet", "up"), 2)
    assert line == f"mosaic: error: {home}/.config/mosaic/fleet.toml: no such fleet file"
    line = one_line_error(mosaic("fleet", "up", "-f", tmp_path), 2)
    assert "is a directory" in line
    one_line_error(mosaic("fleet", "up", "-f", ""), 2)


def test_empty_file_is_an_empty_fleet(tmp_path, tmux):
    path = tmp_path / "fleet.toml"
    path.write_text(f'socket = "{tmux.socket_name}"\n')
    result = mosaic("fleet", "up", "-f", path)
    assert result.exit_code == 0 and "no agents" in result.stdout
    result = mosaic("fleet", "down", "-f", path)
    assert result.exit_code == 0 and "no agents" in result.stdout


def test_an_empty_variable_is_named_not_blamed_on_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[[agent]]\nname = "a"\n')
    monkeypatch.setenv("MOSAIC_TMUX_SOCKET", "")
    with pytest.raises(UsageError) as caught:
        fleet_file.load(path).launch_settings()
    assert str(caught.value).startswith("MOSAIC_TMUX_SOCKET is set but empty")
    monkeypatch.delenv("MOSAIC_TMUX_SOCKET")
    monkeypatch.setenv("MOSAIC_AGENT_COMMAND", "echo ((")
    with pytest.raises(UsageError) as caught:
        fleet_file.load(path).launch_settings()
    assert str(caught.value).startswith("MOSAIC_AGENT_COMMAND is not valid shell syntax")
