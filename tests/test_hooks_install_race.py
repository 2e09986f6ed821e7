"""`mosaic hooks install|uninstall` when the config file changes between
mosaic reading it and replacing it (the CLI saving its settings, a second
install): refused with one line, and the other writer's text is kept."""

from __future__ import annotations

import pytest

from mosaic_launch import userhooks
from mosaic_launch.userhooks import ConfigError

HB = "/opt/mosaic/bin/mosaic-hb"


def change_on(monkeypatch, name: str, path, text: str) -> None:
    """Another writer saves TEXT to PATH at the moment mosaic calls NAME,
    after its read and before its replace."""
    original = getattr(userhooks, name)

    def racing(*args, **kwargs):
        path.write_text(text)
        return original(*args, **kwargs)

    monkeypatch.setattr(userhooks, name, racing)


@pytest.mark.parametrize("runtime, relative, before, theirs", [
    ("claude", ".claude/settings.json", '{"model": "opus"}\n', '{"model": "sonnet"}\n'),
    ("pi", ".pi/agent/settings.json", '{"theme": "dark"}\n', '{"theme": "light"}\n'),
    ("codex", ".codex/config.toml", 'model = "o3"\n', 'model = "o4"\n'),
])
def test_a_file_changed_during_install_or_uninstall_is_kept(home, monkeypatch, runtime, relative, before, theirs):
    path = home / relative
    path.parent.mkdir(parents=True)
    path.write_text(before)
    hook = "_check_codex" if runtime == "codex" else "_dump_json"
    with monkeypatch.context() as patch:
        change_on(patch, hook, path, theirs)
        with pytest.raises(ConfigError, match="changed while mosaic was editing it"):
            userhooks.install(runtime, HB, home)
    assert path.read_text() == theirs

    userhooks.install(runtime, HB, home)  # run again: it goes in
    installed = path.read_text()
    assert installed != theirs
    with monkeypatch.context() as patch:
        change_on(patch, hook, path, installed + ("\n" if runtime == "codex" else " "))
        with pytest.raises(ConfigError, match="changed while mosaic was editing it"):
            userhooks.uninstall(runtime, home)
    assert path.read_text().startswith(installed)  # the other writer's, with mosaic's entries still in


def test_a_file_created_during_install_is_kept(home, monkeypatch):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    change_on(monkeypatch, "_dump_json", path, '{"model": "opus"}\n')
    with pytest.raises(ConfigError, match="changed while mosaic was editing it"):
        userhooks.install("claude", HB, home)
    assert path.read_text() == '{"model": "opus"}\n'
