"""A tmux server of the test's own, and what is on it.

As in libtmux's pytest plugin, the fixture owns the server: it creates it on
a unique socket and kills it at the end, and that kill never raises, whether
the server ran, died on its own or never started."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

SLEEPER_ARGV = ("sleep", "1000")


class TmuxServer:
    """A tmux server on a socket of its own (tmux -L NAME)."""

    def __init__(self, socket_name: str | None = None):
        self.socket_name = socket_name or f"mosaic-test-{uuid.uuid4().hex[:12]}"

    def cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["tmux", "-L", self.socket_name, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )

    def server_pid(self) -> int | None:
        done = self.cmd("display-message", "-p", "#{pid}", check=False)
        return int(done.stdout) if done.returncode == 0 and done.stdout.strip() else None

    @property
    def socket_path(self) -> Path:
        """Where tmux keeps the socket: $TMUX_TMPDIR/tmux-UID/NAME."""
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return Path(base, f"tmux-{os.getuid()}", self.socket_name)

    def kill(self) -> None:
        """Kill the server and remove its socket (a server killed by a
        signal leaves it behind); never raises (it may never have started)."""
        try:
            pid = self.server_pid()
            self.cmd("kill-server", check=False)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        except Exception:  # a finalizer must not raise
            pass
        try:
            self.socket_path.unlink()
        except OSError:
            pass


def sessions(tmux: TmuxServer) -> list[str]:
    """The names of the sessions on TMUX's server, sorted; none without a server."""
    done = tmux.cmd("list-sessions", "-F", "#{session_name}", check=False)
    return sorted(done.stdout.split("\n")[:-1]) if done.returncode == 0 else []


def server_running(tmux: TmuxServer) -> bool:
    return tmux.server_pid() is not None


def new_session(tmux: TmuxServer, name: str, argv=SLEEPER_ARGV) -> int:
    """A detached session NAME running ARGV (two or more words: tmux execs
    it, no shell in between), kept when it exits (remain-on-exit, as launch
    sets it); the pane pid."""
    done = tmux.cmd("new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name, *argv,
                    ";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on")
    return int(done.stdout.split()[0])
