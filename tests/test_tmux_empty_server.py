"""A tmux server that runs but holds no session is an empty fleet.

Other tools keep their servers alive with ``exit-empty off``; and while a
first ``new-session`` starts a server (or a last kill ends one), there is an
instant with a server and no session. ``tmux list-panes -a`` then says "no
current target" or "no sessions" instead of "no server running"; mosaic must
read both as "nothing here"."""

from __future__ import annotations

import json

from mosaic_launch import tmux as tmux_mod
from tests.support.run import mosaic_proc
from tests.support.wait import wait_for


def empty_server(tmux) -> None:
    """A server with exit-empty off and its only session killed."""
    tmux.cmd("new-session", "-d", "-s", "seed", "sleep", "1000")
    tmux.cmd("set-option", "-g", "exit-empty", "off")
    tmux.cmd("kill-session", "-t", "=seed")
    wait_for(lambda: tmux.server_pid() is not None, 5, "the server to stay up with no session")
    done = tmux.cmd("list-panes", "-a", check=False)
    assert done.returncode != 0 or done.stdout.strip() == ""


def test_list_panes_on_a_server_with_no_session_is_empty(tmux):
    empty_server(tmux)
    assert tmux_mod.list_panes(tmux.socket_name) == []
    assert tmux_mod.kill_session(tmux.socket_name, "nobody") is False


def test_fleet_ps_launch_and_stop_on_a_server_with_no_session(tmux, run_dir):
    empty_server(tmux)
    where = ["--socket", tmux.socket_name, "--run-dir", run_dir]

    done = mosaic_proc("fleet", "ps", "--json", *where)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["agents"] == []

    done = mosaic_proc("launch", "solo", "--command", "sleep 1000", "--interval", "0.2", "--json", *where)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "launched"

    done = mosaic_proc("stop", "solo", *where)
    assert done.returncode == 0, done.stderr
    assert tmux.server_pid() is not None  # exit-empty off: the server stays

    done = mosaic_proc("stop", "--all", *where)
    assert done.returncode == 0, done.stderr
