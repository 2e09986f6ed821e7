"""The test support layer, tested: the tests stand on these helpers, so a
helper that lies (a teardown that leaves a server, a wait that never times
out, a runner that hides an exit code) would let every test lie with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import typer

import mosaic_hb
from tests.support.procs import (
    LEAK_TOKEN_VAR,
    cmdline_of,
    cwd_of,
    environ_of,
    live_token_processes,
    pid_exists,
    processes_with_token,
    runs,
    wait_exited,
)
from tests.support.run import MODULE, SCRIPT, mosaic, mosaic_argv, mosaic_proc, one_line_error
from tests.support.services import HttpService, free_port, http_get
from tests.support.tmux import SLEEPER_ARGV, TmuxServer, new_session, server_running, sessions
from tests.support.wait import every, settle, wait_for

# ---- tmux: the fixture's server ------------------------------------------------------------


def test_tmux_kill_ends_the_server_and_removes_its_socket(tmux):
    new_session(tmux, "one")
    pid = tmux.server_pid()
    assert pid and tmux.socket_path.exists()
    tmux.kill()
    wait_for(lambda: not pid_exists(pid), 5, "the tmux server to exit")
    assert not tmux.socket_path.exists()
    assert not server_running(tmux)


def test_tmux_kill_of_a_server_killed_9_removes_the_socket_it_left(tmux):
    new_session(tmux, "one")
    pid = tmux.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_exists(pid), 5, "the tmux server to die")
    assert tmux.socket_path.exists()  # a server killed by a signal leaves it
    tmux.kill()
    assert not tmux.socket_path.exists()


def test_tmux_kill_never_raises(monkeypatch):
    server = TmuxServer()
    server.kill()  # never started
    server.kill()  # twice
    monkeypatch.setenv("PATH", "")  # no tmux at all: every call fails
    server.kill()


def test_each_server_has_a_socket_of_its_own():
    assert TmuxServer().socket_name != TmuxServer().socket_name
    assert TmuxServer("given").socket_name == "given"


def test_sessions_are_listed_sorted_and_panes_run_their_argv(tmux):
    assert sessions(tmux) == []  # no server yet
    pids = [new_session(tmux, name) for name in ("beta", "alpha")]
    assert sessions(tmux) == ["alpha", "beta"]
    for pid in pids:
        wait_for(lambda: runs(pid, list(SLEEPER_ARGV)), 5, f"pane {pid} to run the sleeper")


# ---- wait ----------------------------------------------------------------------------------


def test_wait_for_returns_the_first_truthy_value():
    answers = iter([None, 0, "", "yes", "later"])
    assert wait_for(lambda: next(answers), 5, "an answer") == "yes"


def test_wait_for_times_out_naming_what_it_waited_for():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0.05s waiting for the impossible"):
        wait_for(lambda: None, 0.05, "the impossible")
    assert 0.05 <= time.monotonic() - started < 10  # bounded: far from forever, even when loaded


def test_every_asks_at_most_every_so_often():
    asked = []
    check = every(3600, lambda: asked.append(1) or len(asked))
    assert [check(), check(), check()] == [1, None, None]
    always = every(0, lambda: asked.append(1) or len(asked))
    assert [always(), always()] == [2, 3]


def test_settle_waits_until_the_tests_processes_have_exited(tmux):
    new_session(tmux, "one")
    pane = new_session(tmux, "two")
    wait_for(lambda: runs(pane, list(SLEEPER_ARGV)), 5, "the pane to run the sleeper")
    assert live_token_processes()
    settle(tmux)
    assert live_token_processes() == []
    assert not tmux.socket_path.exists()


# ---- procs ---------------------------------------------------------------------------------


def test_what_a_child_runs_with(spawn_process, tmp_path):
    child = spawn_process(list(SLEEPER_ARGV), cwd=tmp_path, env={**os.environ, "MOSAIC_TEST_X": "a b=c"})
    wait_for(lambda: runs(child.pid, ["/bin/sleep", "1000"]), 5, "the child to exec sleep")
    assert cmdline_of(child.pid)[1:] == ["1000"]
    assert cwd_of(child.pid) == str(tmp_path)
    assert environ_of(child.pid)["MOSAIC_TEST_X"] == "a b=c"
    assert not runs(child.pid, ["sleep", "999"])
    assert not runs(2**22 + 1, ["sleep"])  # above any pid_max: no such process


def test_pid_exists_is_false_for_a_zombie():
    child = subprocess.Popen(list(SLEEPER_ARGV))
    try:
        assert pid_exists(child.pid)
        child.kill()
        wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, 5, "a zombie")
        assert not pid_exists(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_exists(child.pid)


def test_the_leak_token_marks_children_and_not_the_runner(spawn_process):
    token = os.environ[LEAK_TOKEN_VAR]
    child = spawn_process(list(SLEEPER_ARGV))
    wait_for(lambda: runs(child.pid, list(SLEEPER_ARGV)), 5, "the child to exec sleep")
    assert [proc.pid for proc in processes_with_token(token)] == [child.pid]
    assert live_token_processes() == [child.pid]
    started = time.monotonic()
    assert [proc.pid for proc in wait_exited(processes_with_token(token), 0.05)] == [child.pid]
    assert time.monotonic() - started < 10  # it gave up after its bound, even when loaded
    child.kill()
    assert wait_exited(processes_with_token(token), 5) == []


# ---- run: mosaic in-process and as a process -----------------------------------------------


def test_mosaic_reports_exit_codes_and_output(tmux):
    done = mosaic("--version")
    assert (done.exit_code, done.stdout) == (0, f"mosaic {mosaic_hb.__version__}\n")
    refused = mosaic("launch", "--socket", tmux.socket_name, "--", "bad name")
    assert "invalid agent name" in one_line_error(refused, 2)
    assert mosaic("no-such-command").exit_code == 2


def test_mosaic_raises_what_the_command_raised(monkeypatch):
    broken = typer.Typer()

    @broken.command()
    def crash():
        raise RuntimeError("a bug")

    monkeypatch.setattr("mosaic_launch.cli.app", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        mosaic()


def test_mosaic_proc_reports_exit_codes_and_output(tmux):
    for via in (SCRIPT, MODULE, None):
        done = mosaic_proc("--version", via=via)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"mosaic {mosaic_hb.__version__}\n", ""), via
    refused = mosaic_proc("launch", "--socket", tmux.socket_name, "--", "bad name")
    assert "invalid agent name" in one_line_error(refused, 2)
    assert mosaic_proc("no-such-command").returncode == 2


def test_mosaic_argv_runs_the_installed_command():
    assert mosaic_argv("a", Path("b"), via=MODULE) == [sys.executable, "-m", "mosaic_launch", "a", "b"]
    assert os.path.basename(mosaic_argv(via=SCRIPT)[0]) == "mosaic"
    assert mosaic_argv() == mosaic_argv(via=SCRIPT)  # the script, when there is one
    with pytest.raises(ValueError):
        mosaic_argv(via="shell")


def test_mosaic_proc_fails_on_a_traceback(tmp_path):
    broken = tmp_path / "mosaic_launch"
    broken.mkdir()
    (broken / "__init__.py").write_text('raise RuntimeError("a bug")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for via in (SCRIPT, MODULE):
        with pytest.raises(AssertionError, match="Traceback"):
            mosaic_proc("--version", env=env, via=via)


def test_one_line_error_checks_the_code_and_the_line(tmux):
    refused = mosaic("launch", "--socket", tmux.socket_name, "--", "bad name")
    with pytest.raises(AssertionError):
        one_line_error(refused, 1)
    with pytest.raises(AssertionError):
        one_line_error(mosaic("--version"))  # no error line at all


# ---- services ------------------------------------------------------------------------------

SERVE = ("import http.server, signal, sys\n"
         "if sys.argv[2] == 'stubborn': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])),"
         " http.server.SimpleHTTPRequestHandler).serve_forever()\n")


def web(tmp_path, name="web", mode="polite") -> HttpService:
    return HttpService(name, tmp_path / f"{name}.log",
                       lambda port: [sys.executable, "-c", SERVE, str(port), mode], "/")


def test_free_port_can_be_bound():
    port = free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)


def test_service_starts_answering_and_stops(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    service = web(tmp_path)
    try:
        assert service.start() is service
        assert http_get(service.url + "/")[0] == 200
    finally:
        service.stop()
    assert service.proc.returncode == -signal.SIGTERM
    assert http_get(service.url + "/", timeout=1) is None
    service.stop()  # a second stop is harmless


def test_service_that_ignores_sigterm_is_killed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    service = web(tmp_path, mode="stubborn")
    service.STOP_TIMEOUT = 0.2
    service.start()
    service.stop()
    assert service.proc.returncode == -signal.SIGKILL


def test_service_that_exits_fails_its_start_at_once_with_its_log(tmp_path):
    service = HttpService("quitter", tmp_path / "quitter.log",
                          lambda port: [sys.executable, "-c", "print('no config'); raise SystemExit(3)"], "/")
    started = time.monotonic()
    with pytest.raises(AssertionError, match="quitter exited with status 3:\nno config"):
        service.start()
    assert time.monotonic() - started < service.START_TIMEOUT


def test_service_retries_a_port_taken_before_it_bound(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ports = []

    def argv(port):
        ports.append(port)
        if len(ports) == 1:  # as a server finds its port taken
            return [sys.executable, "-c", "print('listen: Address already in use'); raise SystemExit(1)"]
        return [sys.executable, "-c", SERVE, str(port), "polite"]

    service = HttpService("racer", tmp_path / "racer.log", argv, "/")
    try:
        service.start()
        assert len(ports) == 2 and service.port == ports[1]
    finally:
        service.stop()
