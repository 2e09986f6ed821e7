"""Fixtures in the style of libtmux's: every test gets a temporary HOME, a
temporary run dir, its own tmux socket, and a guard that proves nothing it
started outlives it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

LEAK_TOKEN_VAR = "MOSAIC_TEST_TOKEN"
LEAK_WAIT_SECONDS = 5.0


def _processes_with_token(token: str) -> list[psutil.Process]:
    """Processes started under this test: they inherited its token.

    /proc/PID/environ holds the environment a process was exec'ed with, so
    the test runner itself (whose os.environ was patched later) never
    matches, while every child, tmux server, pane and sidecar does."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(LEAK_TOKEN_VAR) == token:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def _running(proc: psutil.Process) -> bool:
    # A zombie has exited; an orphaned daemon's zombie waits for whatever
    # reaps orphans, which on some hosts takes a second or more.
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_exited(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait, bounded, until every process in PROCS has exited; return the rest."""
    deadline = time.monotonic() + timeout
    alive = [proc for proc in procs if _running(proc)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)
        alive = [proc for proc in alive if _running(proc)]
    return alive


def _describe(procs: list[psutil.Process]) -> str:
    parts = []
    for proc in procs:
        try:
            parts.append(f"{proc.pid}:{' '.join(proc.cmdline())[:80]}")
        except psutil.Error:
            parts.append(f"{proc.pid}:?")
    return "; ".join(parts)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """A temporary HOME, no MOSAIC_* settings from outside, tmux sockets
    under the test's own directory, and a token that marks every process
    the test starts."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith("MOSAIC_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUX_PANE", raising=False)
    tmux_dir = tmp_path / "tmux"
    tmux_dir.mkdir(mode=0o700)
    monkeypatch.setenv("TMUX_TMPDIR", str(tmux_dir))
    token = uuid.uuid4().hex
    monkeypatch.setenv(LEAK_TOKEN_VAR, token)
    yield home
    # Teardown runs after every other fixture's: whatever carries the token
    # now has outlived its test. Give exiting sidecars a bounded moment.
    leftovers = _processes_with_token(token)
    if leftovers:
        alive = _wait_exited(leftovers, LEAK_WAIT_SECONDS)
        if alive:
            description = _describe(alive)
            for proc in alive:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(alive, timeout=LEAK_WAIT_SECONDS)
            pytest.fail(f"processes outlived the test: {description}", pytrace=False)


@pytest.fixture
def home(isolated_env) -> Path:
    return isolated_env


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run dir path that does not exist yet (mosaic creates it 0700)."""
    return tmp_path / "run"


class TmuxServer:
    """A tmux server on a socket of its own (tmux -L NAME)."""

    def __init__(self, socket_name: str):
        self.socket_name = socket_name

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


@pytest.fixture
def tmux(isolated_env):
    """A TmuxServer on a unique socket; killed when the test ends."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (apt-get install tmux)")
    server = TmuxServer(f"mosaic-test-{uuid.uuid4().hex[:12]}")
    yield server
    server.kill()


@pytest.fixture
def spawn_process():
    """Start a child process for a test; it is killed and reaped at the end."""
    started: list[subprocess.Popen] = []

    def start(argv, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        try:
            proc.kill()
            proc.wait(timeout=10)
        except Exception:
            pass
