"""Issue 13, injection per launch: what each CLI gets (hooks.launch_command),
only when the command's program is the CLI itself, and the fake CLIs in
tests/support/fakes running the injected hooks as their documented contracts
say. mosaic-hb's `state` subcommand is not needed here: the hook program is
a recorder, except in the end-to-end test, which is skipped until
`mosaic-hb state --help` works."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

import mosaic_hb
from mosaic_launch import hooks, launch as launcher
from mosaic_launch.fleet import file as fleet_file
from tests.support.agents import launch
from tests.support.wait import wait_for

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FAKES = Path(__file__).parent / "support" / "fakes"
HB = "/opt/my tools/mosaic-hb"  # a path that needs quoting
QHB = shlex.quote(HB)


def recorder(directory: Path) -> tuple[str, Path]:
    """A stand-in hook program named mosaic-hb in DIRECTORY: it appends its
    arguments (and its stdin, if RECORD_STDIN is set) as one JSON line to a
    log. (path, log)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "calls.jsonl"
    program = directory / "mosaic-hb"
    program.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "import os\n"
        # Only where the caller writes stdin and closes it (the fake claude):
        # pi.exec leaves the child's stdin an open pipe.
        "data = sys.stdin.read() if os.environ.get('RECORD_STDIN') else ''\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'args': sys.argv[1:], 'stdin': data}) + '\\n')\n")
    program.chmod(0o755)
    return str(program), log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_claude_gets_settings_with_every_hook():
    words = shlex.split(hooks.launch_command("claude --continue", HB))
    assert words[0] == "claude" and words[1] == "--settings" and words[3:] == ["--continue"]
    c = lambda rest: f"{QHB} state {rest}"  # noqa: E731
    group = lambda rest, matcher=None: ({"matcher": matcher} if matcher else {}) | {  # noqa: E731
        "hooks": [{"type": "command", "command": c(rest)}]}
    assert json.loads(words[2]) == {"hooks": {
        "SessionStart": [group("idle")],
        "UserPromptSubmit": [group("working")],
        "PreToolUse": [group("working", "*")],
        "Notification": [group("waiting --for permission", "permission_prompt"),
                         group("waiting --for question", "elicitation_dialog")],
        "PermissionRequest": [group("waiting --for permission", "*")],
        "Stop": [group("idle")],
        "StopFailure": [group("idle")],
    }}


def test_codex_gets_notify_as_toml():
    words = shlex.split(hooks.launch_command("codex --full-auto", HB))
    assert words == ["codex", "-c", f'notify=["{HB}","state","idle"]', "--full-auto"]
    assert tomllib.loads(words[2].replace("notify=", "v = ", 1))["v"] == [HB, "state", "idle"]


def test_pi_gets_the_shipped_extension():
    words = shlex.split(hooks.launch_command("pi --model x", HB))
    assert words == ["pi", "-e", "/opt/my tools/mosaic_state.pi.ts", "--model", "x"]
    shipped = Path(hooks.pi_extension_path())
    assert shipped.is_file() and shipped.parent == Path(mosaic_hb.sidecar_path()).parent


def test_the_users_words_are_kept_exactly():
    command = """FOO='a b' ~/.local/bin/claude "$PROMPT" --x='1;2' 2>err.log # note"""
    injected = hooks.launch_command(command, HB)
    head = "FOO='a b' ~/.local/bin/claude"
    assert injected.startswith(head + " --settings ")
    assert injected.endswith(""" "$PROMPT" --x='1;2' 2>err.log # note""")
    inserted = injected[len(head):len(injected) - len(command) + len(head)]
    assert injected == head + inserted + command[len(head):]
    assert shlex.split(inserted)[0] == "--settings"


@pytest.mark.parametrize("command", [
    "my-wrapper claude", "mosaic yolo pi", "cd repo && claude", "claude; true", '"claude"', "'pi'",
    "claudex", "$CLAUDE", "bash -c claude", "exec claude", "claude>log", "time codex", "sleep 1000",
])
def test_a_command_that_is_not_the_cli_gets_nothing(command):
    assert hooks.launch_command(command, HB) == command


def test_no_hooks_flag_and_fleet_key_turn_it_off(tmp_path):
    from mosaic_launch import settings

    on = settings.resolve_launch("a1", command="claude", run_dir=tmp_path / "run")
    off = settings.resolve_launch("a1", command="claude", run_dir=tmp_path / "run", hooks=False)
    assert launcher.agent_command(on).startswith("claude --settings ")
    assert launcher.agent_command(off) == "claude"

    path = tmp_path / "fleet.toml"
    path.write_text('hooks = false\n[[agent]]\nname = "a"\ncommand = "claude"\n'
                    '[[agent]]\nname = "b"\ncommand = "pi"\nhooks = true\n'
                    '[[agent]]\nname = "c"\ncommand = "codex"\n')
    resolved = {s.name: s for s in fleet_file.load(path).launch_settings()}
    assert [resolved[n].hooks for n in "abc"] == [False, True, False]
    assert launcher.agent_command(resolved["a"]) == "claude"
    assert launcher.agent_command(resolved["b"]).startswith("pi -e ")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[agent]]\nname = "a"\nhooks = "no"\n')
    with pytest.raises(fleet_file.FleetFileError, match=r"bad.toml:3: agent a: hooks must be true or false"):
        fleet_file.load(bad)


def test_fake_claude_runs_the_injected_hooks_with_the_documented_stdin(tmp_path):
    hb, log = recorder(tmp_path / "bin")
    argv = [str(FAKES / "claude"), *shlex.split(hooks.launch_command("claude", hb))[1:]]
    done = subprocess.run(argv, env={**os.environ, "FAKE_CLAUDE_SCRIPT": "prompt tool perm ask stop fail quit",
                                               "RECORD_STDIN": "1"},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = calls(log)
    assert [" ".join(c["args"]) for c in got] == [
        "state idle",  # SessionStart
        "state working",  # UserPromptSubmit
        "state working",  # PreToolUse
        "state waiting --for permission",  # PermissionRequest
        "state waiting --for permission",  # Notification permission_prompt
        "state waiting --for question",  # Notification elicitation_dialog
        "state idle",  # Stop
        "state idle",  # StopFailure
    ]
    events = [json.loads(c["stdin"]) for c in got]
    assert [e["hook_event_name"] for e in events] == [
        "SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "Notification",
        "Notification", "Stop", "StopFailure"]
    assert all(e["cwd"] == str(tmp_path) and e["session_id"] == events[0]["session_id"] for e in events)


def test_fake_codex_calls_notify_with_one_json_argument(tmp_path):
    hb, log = recorder(tmp_path / "bin")
    argv = [str(FAKES / "codex"), *shlex.split(hooks.launch_command("codex", hb))[1:]]
    done = subprocess.run(argv, env={**os.environ, "FAKE_CODEX_SCRIPT": "first second"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = calls(log)
    assert [c["args"][:2] for c in got] == [["state", "idle"]] * 2
    assert [json.loads(c["args"][2])["type"] for c in got] == ["agent-turn-complete"] * 2
    assert all(len(c["args"]) == 3 for c in got)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_fake_pi_loads_the_shipped_extension_which_finds_mosaic_hb_next_to_it(tmp_path):
    hb, log = recorder(tmp_path / "pkg")
    shutil.copy(hooks.pi_extension_path(), tmp_path / "pkg" / hooks.PI_EXTENSION_NAME)
    argv = [str(FAKES / "pi"), *shlex.split(hooks.launch_command("pi", hb))[1:]]
    assert argv[1:] == ["-e", str(tmp_path / "pkg" / hooks.PI_EXTENSION_NAME)]
    done = subprocess.run(argv, env={**os.environ, "FAKE_PI_SCRIPT": "prompt tool tool end quit"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [c["args"] for c in calls(log)] == [
        ["state", "idle"], ["state", "working"], ["state", "working"], ["state", "working"], ["state", "idle"]]


def _pane_process(pid: int, word: str) -> psutil.Process:
    """The pane's process once it runs the fake (its cmdline names WORD)."""
    def ready():
        try:
            proc = psutil.Process(pid)
            return proc if any(word in part for part in proc.cmdline()) else None
        except psutil.Error:
            return None
    return wait_for(ready, 10, f"pane {pid} to run {word}")


@pytest.mark.parametrize("no_hooks", [False, True])
def test_launch_gives_the_pane_the_hooks_and_the_run_dir(tmux, run_dir, no_hooks):
    args = ["--runtime-bin", str(FAKES), "--runtime", "claude"] + (["--no-hooks"] if no_hooks else [])
    data = launch(tmux, run_dir, "cl1", *args, command="claude --verbose")
    proc = _pane_process(data["pane_pid"], "fakes/claude")
    cmdline = proc.cmdline()
    assert cmdline[-1] == "--verbose"
    if no_hooks:
        assert "--settings" not in cmdline
    else:
        at = cmdline.index("--settings")
        assert json.loads(cmdline[at + 1]) == {"hooks": hooks.claude_hooks(mosaic_hb.sidecar_path())}
    env = proc.environ()
    assert env["MOSAIC_HEARTBEAT_RUN_DIR"] == str(run_dir)
    assert env["MOSAIC_AGENT_NAME"] == "cl1"
    tmux.cmd("kill-session", "-t", "cl1")


def _state_subcommand() -> bool:
    """mosaic-hb has the `state` subcommand: `mosaic-hb state --help` exits 0
    and its usage names it (without it, --help prints the sidecar's usage)."""
    try:
        done = subprocess.run([mosaic_hb.sidecar_path(), "state", "--help"], capture_output=True, timeout=10)
    except OSError:
        return False
    return done.returncode == 0 and b"mosaic-hb state" in done.stdout + done.stderr


@pytest.mark.skipif(not _state_subcommand(), reason="mosaic-hb has no `state` subcommand yet (issue 13, C part)")
def test_launched_fake_claude_reports_its_states_through_mosaic_hb(tmux, run_dir):
    data = launch(tmux, run_dir, "cl2", "--runtime-bin", str(FAKES), command="claude")
    _pane_process(data["pane_pid"], "fakes/claude")
    state_file = run_dir / "cl2.state"

    def state_is(expected):
        def check():
            try:
                return f"state={expected}\n" in state_file.read_text()
            except OSError:
                return False
        return check

    wait_for(state_is("idle"), 10, "state idle after SessionStart")
    for step, expected in (("prompt", "working"), ("perm", "waiting"), ("stop", "idle")):
        tmux.cmd("send-keys", "-t", "cl2", step, "Enter")
        wait_for(state_is(expected), 10, f"state {expected} after {step}")
    assert "waiting_for=" not in state_file.read_text()
    tmux.cmd("send-keys", "-t", "cl2", "ask", "Enter")
    wait_for(lambda: "waiting_for=question\n" in state_file.read_text(), 10, "waiting for a question")
    tmux.cmd("kill-session", "-t", "cl2")
