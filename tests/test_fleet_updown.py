"""mosaic fleet up / down with real tmux, real sidecars and real agents."""

from __future__ import annotations

import os
import signal
import subprocess

import mosaic_hb
import pytest

from mosaic_launch import launch as launcher
from mosaic_launch import tmux as tmux_mod
from mosaic_launch.errors import MosaicError
from tests.support.agents import ps, rows
from tests.support.hb import record_with
from tests.support.procs import pid_exists
from tests.support.run import mosaic, mosaic_proc, one_line_error
from tests.support.tmux import new_session, sessions
from tests.support.wait import wait_for


def fleet_toml(tmux, run_dir, names=("alpha", "beta", "gamma"), interval=2, extra="") -> str:
    text = f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = {interval}\n{extra}'
    for name in names:
        text += f'\n[[agent]]\nname = "{name}"\ncommand = "sleep 1000"\nworkdir = "work/{name}"\n'
    return text


@pytest.fixture
def fleet_file(tmp_path, tmux, run_dir):
    path = tmp_path / "fleet.toml"
    path.write_text(fleet_toml(tmux, run_dir))
    return path


def up(path, code=0):
    result = mosaic("fleet", "up", "-f", path)
    assert result.exit_code == code, result.output
    return result


def outcomes(result) -> dict[str, str]:
    found = {}
    for line in result.stdout.splitlines():
        name, sep, rest = line.partition(": ")
        if sep and not line.startswith("fleet "):
            found[name] = rest.split(" (")[0]
    return found


def test_up_launches_every_agent_and_nothing_the_second_time(tmux, run_dir, fleet_file, tmp_path):
    first = up(fleet_file)
    assert outcomes(first) == {"alpha": "launched", "beta": "launched", "gamma": "launched"}
    assert first.stdout.splitlines()[-1] == "fleet up: 3 launched, 0 already running, 0 failed"
    assert sessions(tmux) == ["alpha", "beta", "gamma"]
    assert (tmp_path / "work" / "beta").is_dir()  # workdir relative to the file, created
    before = {name: (row["pid"], row["hb_pid"]) for name, row in rows(ps(tmux, run_dir, "--check")).items()}

    second = up(fleet_file)
    assert outcomes(second) == {"alpha": "already running", "beta": "already running", "gamma": "already running"}
    assert second.stdout.splitlines()[-1] == "fleet up: 0 launched, 3 already running, 0 failed"
    after = {name: (row["pid"], row["hb_pid"]) for name, row in rows(ps(tmux, run_dir, "--check")).items()}
    assert after == before  # same agents, same sidecars
    assert sessions(tmux) == ["alpha", "beta", "gamma"]


def test_up_goes_through_launch_agents(tmux, run_dir, fleet_file, monkeypatch):
    seen = []
    real = launcher.launch_agents

    def spy(items, **kwargs):
        seen.extend(items)
        return real(items, **kwargs)

    monkeypatch.setattr(launcher, "launch_agents", spy)
    up(fleet_file)
    assert [s.name for s in seen] == ["alpha", "beta", "gamma"]
    assert all(s.socket == tmux.socket_name and s.run_dir == run_dir and s.interval == 2 for s in seen)


def test_up_brings_the_fleet_back_after_a_reboot(tmux, run_dir, fleet_file):
    up(fleet_file)
    old = {name: row["pid"] for name, row in rows(ps(tmux, run_dir)).items()}
    tmux.kill()  # as a reboot would: every session and agent gone
    for name in old:
        wait_for(record_with(run_dir / f"{name}.hb", status="dead"), 10, f"{name} dead")
    assert {row["heartbeat"] for row in ps(tmux, run_dir)["agents"]} == {"dead"}
    result = up(fleet_file)
    assert set(outcomes(result).values()) == {"launched"}
    doc = ps(tmux, run_dir, "--check")
    assert all(row["pid"] != old[row["name"]] for row in doc["agents"])


def test_up_mixes_running_and_new_agents_and_restarts_a_heartbeat(tmux, run_dir, fleet_file):
    result = mosaic("launch", "alpha", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--interval", "2", "--command", "sleep 1000")
    assert result.exit_code == 0, result.output
    up(fleet_file)
    beta = mosaic_hb.read(run_dir / "beta.hb")
    os.kill(beta.hb_pid, signal.SIGTERM)  # beta's sidecar stopped: its heartbeat says so
    wait_for(record_with(run_dir / "beta.hb", status="stopped"), 10, "beta stopped")
    result = up(fleet_file)
    got = outcomes(result)
    assert got["alpha"] == "already running" and got["gamma"] == "already running"
    assert got["beta"] == "already running, heartbeat restarted"
    assert "already running, heartbeat restarted (it was stopped; pane pid " in result.stdout
    wait_for(record_with(run_dir / "beta.hb", status="ok"), 10, "beta's new heartbeat")
    ps(tmux, run_dir, "--check")


def test_up_reports_a_failure_and_goes_on(tmux, run_dir, fleet_file, monkeypatch):
    real = launcher.launch_agents

    def flaky(items, **kwargs):
        kept = [s for s in items if s.name != "beta"]
        results = dict(zip((s.name for s in kept), real(kept, **kwargs)))
        failure = MosaicError("tmux new-session failed for beta: out of ptys")
        return [results.get(s.name, failure) for s in items]

    monkeypatch.setattr(launcher, "launch_agents", flaky)
    result = up(fleet_file, code=1)
    assert outcomes(result) == {"alpha": "launched", "beta": "failed: tmux new-session failed for beta: out of ptys",
                                "gamma": "launched"}
    assert result.stdout.splitlines()[-1] == "fleet up: 2 launched, 0 already running, 1 failed"


def test_down_stops_every_agent_of_the_file(tmux, run_dir, fleet_file):
    up(fleet_file)
    pids = {name: row["pid"] for name, row in rows(ps(tmux, run_dir)).items()}
    new_session(tmux, "bystander")  # not in the file: left alone
    result = mosaic("fleet", "down", "-f", fleet_file)
    assert result.exit_code == 0, result.output
    assert outcomes(result) == {"alpha": "stopped", "beta": "stopped", "gamma": "stopped"}
    assert sessions(tmux) == ["bystander"]
    for name, pid in pids.items():
        assert not pid_exists(pid)
        assert mosaic_hb.read(run_dir / f"{name}.hb").status == "stopped"
    again = mosaic("fleet", "down", "-f", fleet_file)
    assert again.exit_code == 0
    assert outcomes(again) == {"alpha": "not running", "beta": "not running", "gamma": "not running"}
    assert again.stdout.splitlines()[-1] == "fleet down: 0 stopped, 3 not running, 0 failed"


def test_down_all_stops_every_agent_session_on_the_socket(tmux, run_dir, fleet_file, tmp_path):
    up(fleet_file)
    new_session(tmux, "extra")
    new_session(tmux, "not an agent")
    result = mosaic("fleet", "down", "--all", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert outcomes(result) == {"alpha": "stopped", "beta": "stopped", "extra": "stopped", "gamma": "stopped"}
    assert sessions(tmux) == ["not an agent"]
    result = mosaic("fleet", "down", "--all", "-f", fleet_file)  # the file's socket
    assert result.exit_code == 0 and "nothing to stop" in result.stdout


def test_down_failure_is_exit_1(tmux, run_dir, fleet_file, monkeypatch):
    up(fleet_file)
    real = tmux_mod._run

    def flaky(socket, args, env=None, **options):
        # Any tmux call that would kill beta fails, as if the server broke:
        # the batched kill-session of fleet down, then beta's own retry.
        if "kill-session" in args and "=beta" in args:
            return subprocess.CompletedProcess(args, 1, "", "server exited unexpectedly\n")
        return real(socket, args, env=env, **options)

    monkeypatch.setattr(tmux_mod, "_run", flaky)
    result = mosaic("fleet", "down", "-f", fleet_file)
    assert result.exit_code == 1
    assert outcomes(result)["beta"].startswith("failed: tmux kill-session failed")
    assert outcomes(result)["alpha"] == "stopped"
    mosaic("fleet", "down", "--all", "--socket", tmux.socket_name)  # the rest, for the leak guard


def test_down_options(tmux, run_dir, fleet_file):
    one_line_error(mosaic("fleet", "down", "-f", fleet_file, "--socket", tmux.socket_name), 2)
    result = mosaic("fleet", "down", "--all", "--socket", tmux.socket_name)
    assert result.exit_code == 0 and "nothing to stop" in result.stdout


def test_real_process_with_the_default_file(tmux, run_dir, home):
    config = home / ".config" / "mosaic"
    config.mkdir(parents=True)
    (config / "fleet.toml").write_text(fleet_toml(tmux, run_dir, names=("solo",)))
    done = mosaic_proc("fleet", "up")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("solo: launched (pane pid ")
    done = mosaic_proc("fleet", "up")
    assert done.returncode == 0 and done.stdout.startswith("solo: already running")
    done = mosaic_proc("fleet", "down")
    assert done.returncode == 0 and done.stdout.startswith("solo: stopped"), done.stdout + done.stderr
