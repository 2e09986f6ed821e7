"""Fixtures in the style of libtmux's: every test gets a temporary HOME, a
temporary run dir, its own tmux socket, and a guard that proves nothing it
started outlives it. The code behind them is in tests/support."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import psutil
import pytest

from tests.support.procs import LEAK_TOKEN_VAR, describe, processes_with_token, wait_exited
from tests.support.run import console_script
from tests.support.services import SSH, SSH_KEYGEN, SSHD, Sshd
from tests.support.tmux import TmuxServer
from tests.support.wait import settle

LEAK_WAIT_SECONDS = 5.0

# A suite started in the background of a script (`pytest &`) inherits SIGINT
# ignored, and so would every mosaic it starts: the tests that press Ctrl-C
# on one would then wait for nothing. A handled signal is reset on exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    # The leak guard. Teardown runs after every other fixture's: whatever
    # carries the token now has outlived its test. Give exiting sidecars a
    # bounded moment.
    leftovers = processes_with_token(token)
    if leftovers:
        alive = wait_exited(leftovers, LEAK_WAIT_SECONDS)
        if alive:
            description = describe(alive)
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


@pytest.fixture
def tmux(isolated_env):
    """A TmuxServer on a unique socket; killed when the test ends."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (apt-get install tmux)")
    server = TmuxServer()
    yield server
    server.kill()


@pytest.fixture
def settled(tmux):
    """At the end of the test, kill its tmux server and wait (bounded) until
    everything it started has exited; see support.wait.settle. A module
    whose every test runs agents uses it for all of them."""
    yield
    settle(tmux)


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


def _scripts_dir() -> str:
    """Where pip put the `mosaic` console script of this Python: the PATH of
    a remote session on the test sshd."""
    script = console_script() or shutil.which("mosaic")
    assert script, "the mosaic console script is not installed (pip install -e .)"
    return os.path.dirname(os.path.realpath(script))


@pytest.fixture
def sshd(tmp_path, home, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("the sshd tests run sshd, which needs root for its privilege separation")
    if None in (SSH, SSH_KEYGEN, SSHD):
        pytest.skip("sshd, ssh or ssh-keygen is not installed "
                    "(apt-get install openssh-server openssh-client)")
    directory = tmp_path / "sshd"
    directory.mkdir()
    session_env = {
        "PATH": os.pathsep.join([_scripts_dir(), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMUX_TMPDIR": os.environ["TMUX_TMPDIR"],
        # The leak guard then also sees every process of a remote session.
        "MOSAIC_TEST_TOKEN": os.environ["MOSAIC_TEST_TOKEN"],
        # As if the host's shell set it too: the remote ps must not fan out.
        "MOSAIC_FLEET_HOSTS": "no-such-host.invalid",
    }
    server = Sshd(directory, pwd.getpwuid(os.geteuid()).pw_name, session_env)
    try:
        server.start()
        monkeypatch.setenv("MOSAIC_SSH_CONFIG", str(server.client_config))
        yield server
    finally:
        server.stop()
