"""`mosaic hooks uninstall` against a user's own hooks that look like
mosaic's: a command that runs mosaic-hb state and then something of the
user's, with quotes, a semicolon or a $(...), is the user's and stays, word
for word; nothing in it is run."""

from __future__ import annotations

import json

from tests.support.run import mosaic

# The user's own commands. Each starts like mosaic's hook, then does more.
USER_COMMANDS = (
    "mosaic-hb state idle; notify-send 'claude is done'",
    'mosaic-hb state working && echo "$(date)" >> ~/claude.log',
    "/opt/mosaic/bin/mosaic-hb state idle --for whatever",
    "mosaic-hb state waiting --for permission | tee /dev/null",
)


def test_uninstall_keeps_the_users_own_lookalike_hooks_word_for_word(home, tmp_path):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    marker = tmp_path / "ran"
    users = [*USER_COMMANDS, f"mosaic-hb state idle; touch {marker}"]
    document = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": c} for c in users]}]}}
    path.write_text(json.dumps(document, indent=2) + "\n")
    before = path.read_text()

    assert mosaic("hooks", "install", "claude").exit_code == 0
    installed = json.loads(path.read_text())
    kept = [e["command"] for g in installed["hooks"]["Stop"] for e in g["hooks"]]
    assert kept[:len(users)] == users

    done = mosaic("hooks", "uninstall", "claude")
    assert done.exit_code == 0, done.stderr
    assert path.read_text() == before
    assert not marker.exists()


def test_a_users_own_codex_notify_that_looks_like_mosaics_is_not_removed(home):
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    text = 'notify = ["mosaic-hb", "state", "idle", "--also-mine"]\n'
    path.write_text(text)
    done = mosaic("hooks", "uninstall", "codex")
    assert done.exit_code == 0, done.stderr
    assert path.read_text() == text
