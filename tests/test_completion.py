"""Shell completion (issue 15): Typer's own, as the shells run it: the
`mosaic` process with `_MOSAIC_COMPLETE` set and the words typed so far in
the variables each shell's completion script sets."""

from __future__ import annotations

import os

import pytest

from mosaic_launch import completion
from tests.support.agents import launch
from tests.support.run import mosaic_proc

pytestmark = pytest.mark.usefixtures("settled")

NAME_COMMANDS = ["attach", "stop", "send", "wait", "logs"]


def complete(shell: str, words: str, env_extra: dict | None = None) -> list[str]:
    """The completions `mosaic` gives SHELL for the command line WORDS (the
    last word being completed; a trailing space: a new, empty word)."""
    env = {**os.environ, "_MOSAIC_COMPLETE": f"complete_{shell}", **(env_extra or {})}
    if shell == "bash":
        env["COMP_WORDS"] = words
        env["COMP_CWORD"] = str(len(words.split(" ")) - 1)
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
        if shell == "fish":
            env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    done = mosaic_proc(env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def agents(tmux, run_dir, monkeypatch):
    """Two live agents, and a record left by a third that died; the socket
    and run dir through their variables, as a user's shell would have them."""
    launch(tmux, run_dir, "alpha")
    launch(tmux, run_dir, "beta")
    gone = launch(tmux, run_dir, "gamma")
    tmux.cmd("kill-session", "-t", "=gamma")
    monkeypatch.setenv("MOSAIC_TMUX_SOCKET", tmux.socket_name)
    monkeypatch.setenv("MOSAIC_HEARTBEAT_RUN_DIR", str(run_dir))
    assert gone["outcome"] == "launched"
    return ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("command", NAME_COMMANDS)
def test_bash_completes_agent_names_from_tmux_and_the_run_dir(agents, command):
    assert complete("bash", f"mosaic {command} ") == agents
    assert complete("bash", f"mosaic {command} al") == ["alpha"]


def test_names_already_given_are_not_offered_again(agents):
    assert complete("bash", "mosaic stop alpha ") == ["beta", "gamma"]
    assert complete("bash", "mosaic wait alpha gamma ") == ["beta"]


def test_zsh_and_fish_complete_agent_names(agents):
    zsh = "\n".join(complete("zsh", "mosaic send "))
    assert all(f'"{name}"' in zsh for name in agents), zsh
    assert complete("fish", "mosaic attach ") == agents


def test_the_socket_and_run_dir_on_the_command_line_are_used(agents, tmux, run_dir, tmp_path):
    other = tmp_path / "other-run"
    other.mkdir(mode=0o700)
    assert complete("bash", f"mosaic stop --run-dir {other} --socket nosuch ") == []
    assert complete("bash", f"mosaic send --run-dir {run_dir} --socket nosuch ") == agents


def test_commands_options_runtimes_and_states_complete(isolated_env):
    assert complete("bash", "mosaic s") == ["stop", "send"]
    assert "wait" in complete("bash", "mosaic w")
    assert set(complete("bash", "mosaic send --")) >= {"--no-enter", "--all", "--socket", "--run-dir"}
    assert complete("bash", "mosaic launch x --runtime ") == ["pi", "claude", "codex"]
    assert complete("bash", "mosaic wait x --for w") == ["waiting", "working"]


def test_nothing_known_completes_nothing_and_never_fails(isolated_env, tmp_path):
    # No tmux server, no run dir; then an unsafe run dir; then a bad variable.
    assert complete("bash", "mosaic attach ", {"MOSAIC_TMUX_SOCKET": "nosuch"}) == []
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir(mode=0o777)
    os.chmod(unsafe, 0o777)
    (unsafe / "planted.hb").write_text("x")
    assert complete("bash", "mosaic attach ", {"MOSAIC_HEARTBEAT_RUN_DIR": str(unsafe),
                                               "MOSAIC_TMUX_SOCKET": "nosuch"}) == []
    assert complete("bash", "mosaic attach ", {"MOSAIC_TMUX_SOCKET": ""}) == []


def test_show_completion_prints_a_script_for_each_shell(isolated_env):
    # Typer detects the user's shell (shellingham); its switch for tests
    # makes the shell an argument instead.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    for shell, marker in [("bash", "complete_bash"), ("zsh", "complete_zsh"), ("fish", "complete_fish")]:
        done = mosaic_proc("--show-completion", shell, env=env)
        assert done.returncode == 0, done.stderr
        assert "_MOSAIC_COMPLETE" in done.stdout and marker in done.stdout


def test_the_helper_for_other_commands_lists_names(agents):
    """complete_agent_names is the one callback for every NAME argument
    (attach, stop, send, wait, and logs)."""
    assert completion.agent_names() == agents
    assert completion.complete_agent_names(None, "b") == ["beta"]


def test_a_hung_tmux_server_does_not_hang_the_shell(agents, tmux):
    """A stopped (or stuck) tmux server: a Tab gives up on tmux after
    completion.TMUX_TIMEOUT_S, not tmux.TIMEOUT_SECONDS, and still offers
    the run dir's names."""
    import signal
    import time

    from mosaic_launch import tmux as tmux_calls

    server = int(tmux.cmd("display-message", "-p", "#{pid}").stdout)
    os.kill(server, signal.SIGSTOP)
    try:
        began = time.monotonic()
        names = complete("bash", "mosaic stop ")
        took = time.monotonic() - began
    finally:
        os.kill(server, signal.SIGCONT)
    assert names == agents  # every agent here has a record
    assert took < tmux_calls.TIMEOUT_SECONDS, took


def test_odd_file_names_in_the_run_dir_are_never_offered(agents, run_dir):
    """Only agent names reach the shell: a file named with spaces, quotes,
    a command substitution or a newline is not one."""
    for odd in ("a b.hb", "$(touch PWNED).hb", "'quote.hb", ";rm -rf x.hb", "new\nline.hb", "-x.hb"):
        (run_dir / odd).write_text("x")
    assert complete("bash", "mosaic stop ") == agents
    assert complete("fish", "mosaic stop ") == agents
    assert not list(run_dir.parent.rglob("PWNED"))
