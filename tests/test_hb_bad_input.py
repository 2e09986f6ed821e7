"""Every bad input to mosaic-hb: one line, the right exit, nothing created."""

from __future__ import annotations

import os

import pytest

from tests.support.hb import sidecar

BAD_NAMES = ["a.b", "a:b", "a/b", "..", "a b", "a\nb", "caf\u00e9", "-lead", "x" * 65, "_lead", ""]
BAD_INTERVALS = ["0", "-1", "abc", "nan", "inf", "1e9", "0.01", "86401", "", " 5", "5s"]


@pytest.fixture
def live_pid(spawn_process):
    return spawn_process(["sleep", "300"]).pid


def assert_refused(done, exit_code: int, words: str, run_dir):
    assert done.returncode == exit_code, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert words in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not run_dir.exists(), "nothing may be created on bad input"


@pytest.mark.parametrize(
    "args, words",
    [
        ([], "missing AGENT"),
        (["alpha"], "missing PID"),
        (["alpha", "1", "extra"], "unexpected argument"),
        (["alpha", "1", "--bogus"], "unknown option"),
        (["alpha", "1", "--interval"], "--interval needs a value"),
        (["alpha", "abc"], "invalid PID"),
        (["alpha", "0"], "invalid PID"),
        (["alpha", "-5"], "unknown option"),
        (["alpha", "99999999999"], "invalid PID"),
    ],
)
def test_usage_errors_exit_2(args, words, run_dir):
    done = sidecar("--run-dir", str(run_dir), *args)
    assert_refused(done, 2, words, run_dir)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_agent_names_exit_2(name, live_pid, run_dir):
    done = sidecar("--run-dir", str(run_dir), "--", name, str(live_pid))
    assert_refused(done, 2, "invalid agent name", run_dir)


@pytest.mark.parametrize("interval", BAD_INTERVALS)
def test_bad_intervals_exit_2(interval, live_pid, run_dir):
    done = sidecar("alpha", str(live_pid), "--run-dir", str(run_dir), "--interval", interval)
    assert_refused(done, 2, "invalid interval", run_dir)


@pytest.mark.parametrize("variable", ["MOSAIC_HEARTBEAT_INTERVAL", "MOSAIC_HEARTBEAT_RUN_DIR"])
def test_empty_environment_variables_exit_2(variable, live_pid, run_dir):
    env = dict(os.environ, MOSAIC_HEARTBEAT_RUN_DIR=str(run_dir))
    env[variable] = ""
    done = sidecar("alpha", str(live_pid), env=env)
    assert_refused(done, 2, f"{variable} is set but empty", run_dir)


def test_interval_from_environment_is_checked(live_pid, run_dir):
    env = dict(os.environ, MOSAIC_HEARTBEAT_INTERVAL="nan")
    done = sidecar("alpha", str(live_pid), "--run-dir", str(run_dir), env=env)
    assert_refused(done, 2, "invalid interval 'nan'", run_dir)


def test_pid_not_running_exits_1(spawn_process, run_dir):
    gone = spawn_process(["true"])
    gone.wait()
    done = sidecar("alpha", str(gone.pid), "--run-dir", str(run_dir))
    assert_refused(done, 1, f"no such process: {gone.pid}", run_dir)


def test_run_dir_that_cannot_be_created_exits_1(live_pid, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = sidecar("alpha", str(live_pid), "--run-dir", str(blocker / "run"))
    assert done.returncode == 1
    assert done.stderr.strip() == f"mosaic-hb: cannot create the run dir: {blocker / 'run'}: Not a directory"


def test_symlinked_run_dir_is_refused(live_pid, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    done = sidecar("alpha", str(live_pid), "--run-dir", str(link))
    assert done.returncode == 1
    assert done.stderr.strip() == f"mosaic-hb: run dir is a symlink: {link}"
    assert list(real.iterdir()) == []


def test_group_writable_run_dir_is_refused(live_pid, tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o770)
    done = sidecar("alpha", str(live_pid), "--run-dir", str(loose))
    assert done.returncode == 1
    assert "run dir is group- or world-writable" in done.stderr
    assert list(loose.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_run_dir_owned_by_another_user_is_refused(live_pid, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    done = sidecar("alpha", str(live_pid), "--run-dir", str(foreign))
    assert done.returncode == 1
    assert "run dir is owned by another user" in done.stderr


@pytest.mark.parametrize("value", ["", "pidfd", "POLL"])
def test_unknown_watch_knob_exits_2(value, live_pid, run_dir):
    env = dict(os.environ, MOSAIC_HB_WATCH=value)
    done = sidecar("alpha", str(live_pid), "--run-dir", str(run_dir), env=env)
    assert_refused(done, 2, "MOSAIC_HB_WATCH", run_dir)
