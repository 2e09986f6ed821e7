"""tmux.kill_sessions: many sessions in one tmux call, and a missing one
in the batch is no failure (tmux stops a sequence at its first error, so
that batch is done again name by name)."""

from __future__ import annotations

from mosaic_launch import tmux as tmux_mod
from tests.support.tmux import new_session, sessions


def test_kill_sessions_with_a_missing_name_in_the_batch(tmux):
    for name in ("one", "two", "keep"):
        new_session(tmux, name)
    assert tmux_mod.kill_sessions(tmux.socket_name, ["one", "ghost", "two"]) == {}
    assert sessions(tmux) == ["keep"]


def test_kill_sessions_in_several_batches(tmux, monkeypatch):
    monkeypatch.setattr(tmux_mod, "KILL_BATCH", 2)
    names = [f"s{i}" for i in range(5)]
    for name in names:
        new_session(tmux, name)
    new_session(tmux, "keep")
    assert tmux_mod.kill_sessions(tmux.socket_name, names) == {}
    assert sessions(tmux) == ["keep"]
