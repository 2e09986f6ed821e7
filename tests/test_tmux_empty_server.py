"""A tmux server that runs but holds no session is an empty fleet.

Other tools keep their servers alive with ``exit-empty off``; and while a
first ``new-session`` starts a server (or a last kill ends one), there is an
instant with a server and no session. ``tmux list-panes -a`` then says "no
current target" or "no sessions" instead of "no server running"; mosaic must
read both as "nothing here".

A server also exits once its last session ends, and a client that connects
in that instant is dropped ("server exited unexpectedly") with its command
not run: the call is made again."""

from __future__ import annotations

import json
import os
import signal
import threading

import psutil

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


def _connected_client(command: str) -> bool:
    """A tmux client child of this process running COMMAND has connected to
    its server (a unix socket of its own in state connected)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if command not in child.cmdline():
                continue
            inodes = {os.readlink(f"/proc/{child.pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{child.pid}/fd")
                      if os.readlink(f"/proc/{child.pid}/fd/{fd}").startswith("socket:[")}
        except (psutil.Error, OSError):
            continue
        with open("/proc/net/unix") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                if fields[5] == "03" and fields[6] in inodes:  # SS_CONNECTED
                    return True
    return False


def test_a_call_that_reaches_a_server_as_it_exits_is_made_again(tmux, tmp_path):
    """The server's exit is forced where a relaunch meets it by chance: the
    server is stopped, a new-session connects and waits for its answer, and
    the server dies. The client is dropped ("server exited unexpectedly");
    the call is made again, starts a new server, and the session is made."""
    tmux.cmd("new-session", "-d", "-s", "old", "sleep", "1000")
    server = tmux.server_pid()
    outcome: dict[str, object] = {}

    def create() -> None:
        try:
            outcome["pane_pid"] = tmux_mod.new_session(tmux.socket_name, "fresh", ["sleep", "1000"],
                                                       workdir=str(tmp_path))
        except tmux_mod.TmuxError as exc:
            outcome["error"] = str(exc)

    os.kill(server, signal.SIGSTOP)
    thread = threading.Thread(target=create)
    try:
        thread.start()
        wait_for(lambda: _connected_client("new-session"), 10, "the client to connect to the stopped server")
    finally:
        os.kill(server, signal.SIGKILL)
    thread.join(3 * tmux_mod.TIMEOUT_SECONDS)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert tmux.server_pid() not in (None, server)
    assert [p.pid for p in tmux_mod.session_panes(tmux.socket_name, "fresh")] == [outcome["pane_pid"]]
