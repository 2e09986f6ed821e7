"""A workdir the agent cannot enter is refused before anything starts.

tmux falls back to another directory, silently, when it cannot enter a new
session's directory (tmux(1), new-session -c); the agent would then run, and
edit files, somewhere else with exit 0. Every case here must exit 2 with one
line naming the problem, and leave no session, sidecar or record behind."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.run import mosaic, mosaic_proc, one_line_error


def refused(tmux, run_dir, workdir) -> str:
    done = mosaic_proc("launch", "wd", "--socket", tmux.socket_name, "--run-dir", run_dir,
                      "--command", "sleep 1000", "--workdir", workdir)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mosaic: error: "), done.stderr
    assert "Traceback" not in done.stderr
    assert tmux.server_pid() is None  # no session was ever started
    assert not (run_dir / "wd.hb").exists()
    return lines[0]


def test_dangling_symlink_workdir_is_refused(tmux, run_dir, tmp_path):
    link = tmp_path / "work"
    link.symlink_to(tmp_path / "gone")
    assert "symlink to nothing" in refused(tmux, run_dir, link)
    assert not (tmp_path / "gone").exists()


def test_workdir_below_a_dangling_symlink_is_refused(tmux, run_dir, tmp_path):
    link = tmp_path / "work"
    link.symlink_to(tmp_path / "gone")
    assert "symlink to nothing" in refused(tmux, run_dir, link / "sub")
    assert not (tmp_path / "gone").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters any directory")
def test_workdir_without_search_permission_is_refused(tmux, run_dir, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o600)
    try:
        assert "cannot be entered" in refused(tmux, run_dir, locked)
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_workdir_that_cannot_be_created_is_a_usage_error(tmux, run_dir):
    line = refused(tmux, run_dir, "/proc/self/mosaic-workdir")
    assert "workdir" in line


def test_a_workdir_that_vanishes_before_tmux_enters_it_fails_the_launch(tmux, run_dir, tmp_path, monkeypatch):
    """The race the settings cannot see: the workdir is removed after it was
    checked (and made), in the instant before tmux enters it. tmux starts
    the pane elsewhere without a word; the launch must notice and fail."""
    from mosaic_launch import launch as launcher
    from mosaic_launch import tmux as tmux_mod

    workdir = tmp_path / "fleeting"
    real_new_session = tmux_mod.new_session

    def remove_then_start(*args, **kwargs):
        workdir.rmdir()
        return real_new_session(*args, **kwargs)

    monkeypatch.setattr(launcher.tmux, "new_session", remove_then_start)
    result = mosaic("launch", "wd", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--command", "sleep 1000", "--workdir", workdir)
    line = one_line_error(result, 2)
    assert f"workdir {workdir} could not be entered" in line
    assert tmux.cmd("list-sessions", check=False).returncode != 0  # no session left
    assert not (run_dir / "wd.hb").exists()


def test_a_command_may_change_into_a_subdirectory(tmux, run_dir, tmp_path):
    workdir = tmp_path / "here"
    (workdir / "sub").mkdir(parents=True)
    done = mosaic_proc("launch", "wd", "--socket", tmux.socket_name, "--run-dir", run_dir,
                       "--command", "cd sub && exec sleep 1000", "--workdir", workdir, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "launched"


@pytest.mark.parametrize("attempt", range(3))
def test_a_command_that_leaves_its_workdir_on_purpose_is_launched(tmux, run_dir, tmp_path, attempt):
    """`cd / && exec sleep` starts in the workdir and then leaves it: the
    check must not take the user's own cd for tmux's fallback, whichever
    moment it looks at the pane (it once failed this 4 times in 6)."""
    workdir = tmp_path / "here"
    done = mosaic_proc("launch", "wd", "--socket", tmux.socket_name, "--run-dir", run_dir,
                       "--command", "cd / && exec sleep 1000", "--workdir", workdir, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "launched"
