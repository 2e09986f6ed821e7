"""Pieces of the launcher without tmux: how the command line reaches the
shell, settings resolution and precedence, PATH building, output lines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic_launch import settings as settings_env
from mosaic_launch import launch as launcher
from mosaic_launch import shellcmd, tmux
from mosaic_launch.errors import UsageError

# ---- exec: simple commands get it, compound ones run as typed ---------------

SIMPLE = [
    ("pi", "exec pi"),
    ("pi --model openai-codex/gpt-5.5:high", "exec pi --model openai-codex/gpt-5.5:high"),
    ("  pi", "  exec pi"),
    ("FOO=1 pi", "FOO=1 exec pi"),
    ("FOO='a b;c' BAR=\"$X|y\" pi -v", "FOO='a b;c' BAR=\"$X|y\" exec pi -v"),
    ('"$HOME/bin/agent" 2>err.log', 'exec "$HOME/bin/agent" 2>err.log'),
    ("pi >log 2>&1", "exec pi >log 2>&1"),
    ("pi >| log", "exec pi >| log"),
    ("pi 'a;b' \"c|d\" e\\;f g\\&h", "exec pi 'a;b' \"c|d\" e\\;f g\\&h"),
    ("pi $(cat args; echo x) `date`", "exec pi $(cat args; echo x) `date`"),
    ("pi ${X:-a;b} $((1 + 2))", "exec pi ${X:-a;b} $((1 + 2))"),
    ("pi # a comment; not a list", "exec pi # a comment; not a list"),
    ("sleep 1000 #;", "exec sleep 1000 #;"),
    ("pi \"$(echo ')')\"", "exec pi \"$(echo ')')\""),
]

COMPOUND = [
    "a; b", "a && b", "a || b", "a | b", "a &", "(a)", "{ a; }", "if true; then a; fi", "a\nb",
    "cd repo && pi", "export X=1", ". ./env", "source ./env", "exec pi", "FOO=1", "", "   ",
    "while :; do a; done", "time pi", "! pi", "pi &>log", "pi <(x)", "echo 'unterminated",
    "pi \"unterminated", "pi $(unterminated", "cd /x", "read line; exit 7", "exit 3",
]


@pytest.mark.parametrize(("command", "expected"), SIMPLE)
def test_simple_commands_are_execed(command, expected):
    assert shellcmd.exec_form(command) == expected


@pytest.mark.parametrize("command", COMPOUND)
def test_compound_commands_run_as_typed(command):
    assert shellcmd.exec_form(command) == command


@pytest.mark.parametrize("sh", sorted({shellcmd.SHELL, shellcmd.shell()}))
@pytest.mark.parametrize("command", [
    "printf '%s|' a 'b c' \"d;e\" $((1+2)) \"${UNSET:-x;y}\"",
    "FOO='a b' sh -c 'printf %s \"$FOO\"'",
    "printf '%s' x >/dev/null 2>&1",
])
def test_exec_form_prints_what_the_command_prints(command, tmp_path, sh):
    def output(script):
        return subprocess.run([sh, "-c", script], capture_output=True, text=True,
                              cwd=tmp_path, timeout=10).stdout

    assert shellcmd.exec_form(command) != command
    assert output(shellcmd.exec_form(command)) == output(command)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab =;&|()'\"\\$`{}#<>!\n\t-")), max_size=30))
def test_exec_form_only_ever_inserts_exec_at_a_word(command):
    form = shellcmd.exec_form(command)
    if form == command:
        return
    at = shellcmd.exec_position(command)
    assert form == command[:at] + "exec " + command[at:]
    assert at == 0 or command[at - 1] in " \t"


@pytest.mark.parametrize("sh", sorted({shellcmd.SHELL, shellcmd.shell()}))
def test_syntax_check_never_executes(sh, tmp_path):
    marker = tmp_path / "ran"
    assert shellcmd.syntax_error(f"touch {marker}; echo $(touch {marker}) `touch {marker}`", sh) is None
    assert not marker.exists()
    assert "syntax error" in shellcmd.syntax_error("if", sh).lower()


def test_bash_is_the_shell_when_there_is_one(tmp_path):
    assert shellcmd.shell(str(tmp_path)) == "/bin/sh"  # no bash on that PATH
    (tmp_path / "bash").write_text("")
    (tmp_path / "bash").chmod(0o755)
    assert shellcmd.shell(str(tmp_path)) == str(tmp_path / "bash")


# ---- settings: flag, then variable, then default ------------------------------


def test_precedence_flag_then_variable_then_default(tmp_path):
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
               "MOSAIC_TMUX_SOCKET": "envsock", "MOSAIC_AGENT_RUNTIME": "codex",
               "MOSAIC_AGENT_WORKDIR": str(tmp_path / "envwork"), "MOSAIC_AGENT_COMMAND": "env-cmd",
               "MOSAIC_HEARTBEAT_RUN_DIR": str(tmp_path / "envrun"), "MOSAIC_HEARTBEAT_INTERVAL": "7",
               "MOSAIC_AGENT_NAME": "envname"}
    from_env = settings_env.resolve_launch(environ=environ)
    assert (from_env.name, from_env.socket, from_env.runtime, from_env.command, from_env.interval) == (
        "envname", "envsock", "codex", "env-cmd", 7.0)
    assert (from_env.workdir, from_env.run_dir) == (tmp_path / "envwork", tmp_path / "envrun")

    from_flags = settings_env.resolve_launch(
        "flagname", socket="flagsock", runtime="claude", workdir=str(tmp_path / "w"), command="flag-cmd",
        run_dir=str(tmp_path / "r"), interval="2.5", environ=environ)
    assert (from_flags.name, from_flags.socket, from_flags.runtime, from_flags.command, from_flags.interval) == (
        "flagname", "flagsock", "claude", "flag-cmd", 2.5)
    assert (from_flags.workdir, from_flags.run_dir) == (tmp_path / "w", tmp_path / "r")

    defaults = settings_env.resolve_launch("n", environ={"HOME": str(tmp_path), "PATH": "/bin"})
    assert (defaults.socket, defaults.runtime, defaults.command, defaults.interval) == (
        "mosaic-factory", "pi", "pi", 15.0)
    assert defaults.workdir == tmp_path
    assert defaults.run_dir == tmp_path / ".config" / "mosaic" / "fleet" / "run"
    assert defaults.hb_file == defaults.run_dir / "n.hb"


@pytest.mark.parametrize(("runtime", "command"), [("pi", "pi"), ("claude", "claude"), ("codex", "codex")])
def test_default_command_is_the_runtimes_cli(runtime, command, tmp_path):
    assert settings_env.resolve_launch("n", runtime=runtime, environ={"HOME": str(tmp_path)}).command == command


def test_relative_and_tilde_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    environ = {"HOME": str(tmp_path / "h")}
    s = settings_env.resolve_launch("n", workdir="rel/w", run_dir="~/run", runtime_bin=["bin", "~/b"],
                                    environ=environ)
    assert s.workdir == tmp_path / "rel" / "w"
    assert s.run_dir == tmp_path / "h" / "run"
    assert settings_env.resolve_runtime_bin(["bin:~/b"], None, environ) == (
        str(tmp_path / "bin"), str(tmp_path / "h" / "b"))


def test_interval_accepts_numbers_from_a_fleet_file():
    assert settings_env.resolve_interval(0.5, {}) == 0.5
    assert settings_env.resolve_interval(30, {}) == 30.0
    with pytest.raises(UsageError):
        settings_env.resolve_interval(True, {})
    with pytest.raises(UsageError):
        settings_env.resolve_interval(float("nan"), {})


def test_env_pairs_later_key_wins_and_order_kept():
    assert settings_env.resolve_env(["A=1", "B=2", "A=3", "C=x=y"]) == (("B", "2"), ("A", "3"), ("C", "x=y"))


@pytest.mark.parametrize(("prefix", "base", "expected"), [
    (["/a", "/b"], "/usr/bin:/bin", "/a:/b:/usr/bin:/bin"),
    (["/a", "/b"], "/b:/usr/bin:/a/:/usr/bin", "/a:/b:/usr/bin"),
    ([], "/usr/bin::/bin:", "/usr/bin:/bin"),
    (["/with space", "/x"], "/x//:/y", "/with space:/x:/y"),
])
def test_pane_path(prefix, base, expected):
    assert settings_env.pane_path(prefix, base) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["/a", "/b", "/c", "/a/", "//b", ""]), max_size=6),
       st.lists(st.sampled_from(["/a", "/b", "/d", "/e/", ""]), max_size=6))
def test_pane_path_has_prefix_first_and_no_duplicates(prefix, base):
    prefix = [p for p in prefix if p]
    result = settings_env.pane_path(prefix, ":".join(base)).split(":") if (prefix or any(base)) else []
    normal = [str(Path(p)) for p in result]
    assert len(normal) == len(set(normal))
    assert "" not in result
    firsts = list(dict.fromkeys(str(Path(p)) for p in prefix))
    assert normal[: len(firsts)] == firsts


def test_builtin_candidate_dirs_follow_the_given_ones(tmp_path):
    environ = {"HOME": str(tmp_path)}
    dirs = settings_env.resolve_runtime_bin(["/given"], settings_env.RUNTIMES["codex"], environ)
    assert dirs[0] == "/given"
    assert str(tmp_path / ".local" / "bin") in dirs
    assert str(tmp_path / ".cargo" / "bin") in dirs
    assert str(tmp_path / ".npm-global" / "bin") in dirs
    assert str(tmp_path / ".bun" / "bin") in dirs


def test_lookup_treats_empty_as_an_error():
    assert settings_env.lookup("MOSAIC_X", {}) is None
    assert settings_env.lookup("MOSAIC_X", {"MOSAIC_X": "v"}) == "v"
    with pytest.raises(UsageError, match="MOSAIC_X is set but empty"):
        settings_env.lookup("MOSAIC_X", {"MOSAIC_X": ""})


# ---- tmux arguments ------------------------------------------------------------


@pytest.mark.parametrize(("value", "sent"), [("x", "x"), ("x;", "x\\;"), (";", "\\;"), ("x\\;", "x\\\\;"),
                                             ("a;b", "a;b")])
def test_trailing_semicolon_is_escaped_for_tmux(value, sent):
    assert tmux._arg(value) == sent


def test_new_session_needs_an_argv_of_two():
    with pytest.raises(ValueError):
        tmux.new_session("s", "n", ["sleep 1"], workdir="/")


# ---- output ------------------------------------------------------------------------


def _result(**changes):
    base = dict(name="a", outcome=launcher.LAUNCHED, socket="mosaic-factory", pane_pid=10, sidecar_pid=11,
                run_dir=Path("/r"), hb_file=Path("/r/a.hb"), attach_command="mosaic attach a")
    base.update(changes)
    return launcher.LaunchResult(**base)


def test_result_lines():
    assert _result().describe() == "launched a: pane pid 10, sidecar pid 11; attach: mosaic attach a"
    assert _result(sidecar_pid=None).describe() == "launched a: pane pid 10, no sidecar; attach: mosaic attach a"
    assert _result(outcome=launcher.ALREADY_RUNNING).describe() == (
        "a already running: pane pid 10, sidecar pid 11; attach: mosaic attach a")
    assert _result(outcome=launcher.HEARTBEAT_RESTARTED).describe() == (
        "a already running, heartbeat restarted: pane pid 10, sidecar pid 11; attach: mosaic attach a")
    assert _result(outcome=launcher.HEARTBEAT_RESTARTED, heartbeat_was="stale").describe() == (
        "a already running, heartbeat restarted (it was stale): pane pid 10, sidecar pid 11; "
        "attach: mosaic attach a")
    assert _result(outcome=launcher.HEARTBEAT_RESTARTED, heartbeat_was="stale").to_json()["heartbeat_was"] == "stale"


def test_attach_command_names_the_socket_only_when_not_the_default():
    assert launcher.attach_command("a", "mosaic-factory") == "mosaic attach a"
    assert launcher.attach_command("a", "other") == "mosaic attach a --socket other"
