"""tmux.kill_sessions: many sessions in one tmux call, and a missing one
in the batch is no failure (tmux stops a sequence at its first error, so
that batch is done again name by name)."""

from __future__ import annotations

from mosaic_launch import tmux as tmux_mod
from tests.support.tmux import new_session, sessions
from tests.support.wait import wait_for


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


def _request(name, workdir, path=None, argv=("sleep", "600")):
    return tmux_mod.SessionRequest(name, list(argv), str(workdir), (("MOSAIC_TEST", name),), path)


def _pane_pids(tmux):
    return {p.session: p.pid for p in tmux_mod.list_panes(tmux.socket_name)}


def test_new_sessions_creates_each_and_returns_its_pane_pid(tmux, tmp_path):
    names = [f"a{i}" for i in range(6)]
    pids = tmux_mod.new_sessions(tmux.socket_name, [_request(n, tmp_path) for n in names])
    assert sessions(tmux) == sorted(names)
    assert dict(zip(names, pids)) == _pane_pids(tmux)


def test_new_sessions_with_a_duplicate_in_the_batch_creates_the_others(tmux, tmp_path):
    """tmux stops the sequence at the duplicate: the ones after it are
    created one by one, and only the duplicate gets an error."""
    new_session(tmux, "b1")
    names = ["b0", "b1", "b2", "b3"]
    pids = tmux_mod.new_sessions(tmux.socket_name, [_request(n, tmp_path) for n in names])
    assert isinstance(pids[1], tmux_mod.DuplicateSession)
    listed = _pane_pids(tmux)
    assert [pids[0], pids[2], pids[3]] == [listed["b0"], listed["b2"], listed["b3"]]


def test_new_sessions_splits_what_does_not_fit_one_tmux_message(tmux, tmp_path):
    """Each command is ~5 KB: three tmux calls for eight sessions, none refused."""
    big = "x" * 5000
    requests = [_request(f"c{i}", tmp_path, argv=("sh", "-c", f": {big}; sleep 600")) for i in range(8)]
    pids = tmux_mod.new_sessions(tmux.socket_name, requests)
    assert all(isinstance(pid, int) for pid in pids), pids
    assert len(sessions(tmux)) == 8


def test_new_sessions_keeps_each_path_for_its_own_session(tmux, tmp_path):
    """tmux gives a new session its client's PATH: requests with another
    PATH go in another call."""
    a, b = tmp_path / "bin-a", tmp_path / "bin-b"
    requests = [_request("p0", tmp_path, f"{a}:/usr/bin:/bin", argv=("sh", "-c", 'echo "$PATH" > p0.out; sleep 600')),
                _request("p1", tmp_path, f"{b}:/usr/bin:/bin", argv=("sh", "-c", 'echo "$PATH" > p1.out; sleep 600'))]
    tmux_mod.new_sessions(tmux.socket_name, requests)
    outs = [tmp_path / "p0.out", tmp_path / "p1.out"]
    wait_for(lambda: all(o.exists() and o.read_text().endswith("\n") for o in outs),
             timeout=10, what="both panes to write PATH")
    assert (tmp_path / "p0.out").read_text().startswith(str(a))
    assert (tmp_path / "p1.out").read_text().startswith(str(b))
