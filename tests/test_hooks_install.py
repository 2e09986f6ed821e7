"""Issue 13, `mosaic hooks install|uninstall|status`: idempotent edits of the
user's own config under the test's temporary HOME (conftest), exact
uninstall, and a wrapper command whose fake claude then runs mosaic's hook."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import mosaic_hb
from mosaic_launch import hooks
from tests.support.run import mosaic

FAKES = Path(__file__).parent / "support" / "fakes"

CLAUDE_ORIGINAL = (
    '{\n  "model": "opus",\n  "permissions": {\n    "allow": [\n      "Bash(ls)"\n    ]\n  },\n'
    '  "hooks": {\n    "PreToolUse": [\n      {\n        "matcher": "Bash",\n        "hooks": [\n'
    '          {\n            "type": "command",\n            "command": "echo mine ü"\n          }\n'
    '        ]\n      }\n    ]\n  }\n}\n')
CODEX_ORIGINAL = '# my codex\nmodel = "o3"\n\n[profiles.fast]\nmodel = "o4-mini"\n'
# Another indent and no final newline: the layout read is the layout written.
PI_ORIGINAL = '{\n    "theme": "dark",\n    "extensions": [\n        "/home/me/ext.ts"\n    ]\n}'


def ok(*args) -> str:
    result = mosaic("hooks", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_install_twice_is_once_and_uninstall_restores_each_file_exactly(home):
    files = {"claude": (home / ".claude" / "settings.json", CLAUDE_ORIGINAL),
             "codex": (home / ".codex" / "config.toml", CODEX_ORIGINAL),
             "pi": (home / ".pi" / "agent" / "settings.json", PI_ORIGINAL)}
    for runtime, (path, text) in files.items():
        path.parent.mkdir(parents=True)
        path.write_text(text)
        path.chmod(0o640)
        assert ok("install", runtime).startswith(f"{runtime}: added mosaic's")
        once = path.read_bytes()
        assert "already" in ok("install", runtime)
        assert path.read_bytes() == once
        assert oct(path.stat().st_mode & 0o777) == oct(0o640)
        assert ok("uninstall", runtime).startswith(f"{runtime}: removed mosaic's")
        assert path.read_text() == text
        assert ok("uninstall", runtime).startswith(f"{runtime}: no mosaic")
        assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary file left


def test_install_keeps_the_users_entries_and_adds_mosaics(home):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(CLAUDE_ORIGINAL)
    ok("install", "claude")
    document = json.loads(path.read_text())
    assert document["model"] == "opus" and document["permissions"] == {"allow": ["Bash(ls)"]}
    assert document["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == "echo mine ü"
    assert document["hooks"] | {"PreToolUse": document["hooks"]["PreToolUse"][1:]} == \
        hooks.claude_hooks(mosaic_hb.sidecar_path())

    ok("install", "codex")
    text = (home / ".codex" / "config.toml").read_text()
    assert text.startswith(f'notify = ["{mosaic_hb.sidecar_path()}","state","idle"]')
    ok("install", "pi")
    pi = json.loads((home / ".pi" / "agent" / "settings.json").read_text())
    assert pi == {"extensions": [hooks.pi_extension_path()]}  # a new file


def test_status_says_what_is_installed(home):
    for runtime in hooks.RUNTIMES:
        assert ok("status", runtime).startswith(f"{runtime}: not installed in ")
        ok("install", runtime)
    assert ok("status", "claude").endswith("(8 hooks: SessionStart, UserPromptSubmit, PreToolUse, Notification, "
                                            "PermissionRequest, Stop, StopFailure); up to date")
    assert ok("status", "codex").endswith("notify runs mosaic-hb of this installation")
    assert ok("status", "pi").endswith(f"{hooks.pi_extension_path()}; up to date")


def one_line_error(args, code):
    result = mosaic("hooks", *args)
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mosaic: error: "), result.stderr
    return lines[0]


def test_a_bad_config_file_is_one_line_and_left_alone(home, tmp_path):
    claude = home / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text('{"model": "opus",\n')
    assert "settings.json:2: not valid JSON" in one_line_error(["install", "claude"], 1)
    assert claude.read_text() == '{"model": "opus",\n'
    assert "not valid JSON" in one_line_error(["status", "claude"], 1)

    claude.unlink()
    target = tmp_path / "real.json"
    target.write_text("{}")
    claude.symlink_to(target)
    assert "is a symlink" in one_line_error(["install", "claude"], 1)
    assert target.read_text() == "{}" and claude.is_symlink()

    codex = home / ".codex" / "config.toml"
    codex.parent.mkdir()
    codex.write_text('notify = ["notify-send"]\n')
    assert "not mosaic's" in one_line_error(["install", "codex"], 1)
    codex.write_text("model = \n")
    assert "not valid TOML" in one_line_error(["install", "codex"], 1)
    assert "unknown runtime 'gemini'" in one_line_error(["install", "gemini"], 2)


def test_a_wrapper_with_hooks_install_makes_the_fake_claude_run_mosaics_hook(home, tmp_path):
    """A wrapper gets nothing per launch; the user's config, once installed, is
    what the fake claude reads, and it runs mosaic's hook commands."""
    wrapper = tmp_path / "my-claude"
    wrapper.write_text(f'#!/bin/sh\nexec {FAKES / "claude"} "$@"\n')
    wrapper.chmod(0o755)
    assert hooks.launch_command(str(wrapper)) == str(wrapper)
    ok("install", "claude")
    log = tmp_path / "hooks.jsonl"
    done = subprocess.run([str(wrapper)], env={**os.environ, "FAKE_CLAUDE_SCRIPT": "prompt perm stop",
                                               "FAKE_CLAUDE_LOG": str(log)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ran = [json.loads(line) for line in log.read_text().splitlines()]
    hb = mosaic_hb.sidecar_path()
    assert [(r["event"], r["command"]) for r in ran] == [
        ("SessionStart", f"{hb} state idle"),
        ("UserPromptSubmit", f"{hb} state working"),
        ("PermissionRequest", f"{hb} state waiting --for permission"),
        ("Notification", f"{hb} state waiting --for permission"),
        ("Stop", f"{hb} state idle"),
    ]


def test_a_config_dir_that_is_a_symlink_to_nothing_is_named_and_not_created(home, tmp_path):
    # A dotfiles manager's link whose target is gone: mkdir(exist_ok) fails
    # with "File exists", which named the wrong problem.
    (home / ".claude").symlink_to(tmp_path / "dotfiles" / "claude")
    assert "symlink to nothing" in one_line_error(["install", "claude"], 1)
    (home / ".pi").symlink_to(tmp_path / "dotfiles" / "pi")  # pi's config is one level deeper
    assert "symlink to nothing" in one_line_error(["install", "pi"], 1)
    assert not (tmp_path / "dotfiles").exists()


def test_a_json_file_python_would_write_back_as_non_json_is_refused_and_left_alone(home):
    # json.loads reads NaN/Infinity and turns 1e400 into inf; json.dumps would
    # write them back as NaN/Infinity, which the CLIs cannot parse.
    claude = home / ".claude" / "settings.json"
    claude.parent.mkdir()
    for text in ('{"x": 1e400}\n', '{"x": -1e400}\n', '{"x": NaN}\n', '{"x": Infinity}\n'):
        claude.write_text(text)
        assert "not a JSON number" in one_line_error(["install", "claude"], 1)
        assert claude.read_text() == text
    claude.write_text('{"x": 1.5e300}\n')
    ok("install", "claude")
    assert json.loads(claude.read_text())["x"] == 1.5e300


def test_a_config_nested_too_deeply_to_parse_is_one_line_and_left_alone(home):
    claude = home / ".claude" / "settings.json"
    claude.parent.mkdir()
    deep = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    claude.write_text(deep)
    assert "nested too deeply" in one_line_error(["install", "claude"], 1)
    assert claude.read_text() == deep
    codex = home / ".codex" / "config.toml"
    codex.parent.mkdir()
    deep_toml = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    codex.write_text(deep_toml)
    assert "nested too deeply" in one_line_error(["install", "codex"], 1)
    assert "nested too deeply" in one_line_error(["status", "codex"], 1)
    assert codex.read_text() == deep_toml
