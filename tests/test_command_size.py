"""A command that tmux would refuse for its size is a usage error found
before anything starts: ``mosaic launch`` exits 2, and ``fleet up`` launches
none of its agents."""

from __future__ import annotations

import pytest

from mosaic_launch import tmux as tmux_mod
from tests.support.run import mosaic_proc


def padded_args(total: int) -> list[str]:
    """new-session arguments whose size, as tmux counts it, is TOTAL bytes."""
    args, _ = tmux_mod._new_session_args("big", ["/bin/true", ""], workdir="/", env=(), path=None,
                                          remain_on_exit=True)
    used = sum(len(a) + 1 for a in args)
    index = args.index("/bin/true") + 1
    args[index] = "a" * (total - used)
    return args


def test_the_limit_is_tmux_s_own(tmux):
    fits = padded_args(tmux_mod.MAX_COMMAND_BYTES)
    tmux_mod._check_size("big", fits)
    done = tmux.cmd(*fits, check=False)
    # tmux must run it, not only not call it "too long": one byte past the
    # real limit tmux says "failed to send command" instead
    assert done.returncode == 0, done.stderr
    assert "big" in tmux.cmd("list-sessions", "-F", "#{session_name}").stdout.split()

    over = padded_args(tmux_mod.MAX_COMMAND_BYTES + 1)
    with pytest.raises(tmux_mod.CommandTooLong):
        tmux_mod._check_size("big", over)
    done = tmux.cmd(*over, check=False)
    assert done.returncode != 0
    assert any(text in done.stderr for text in tmux_mod._TOO_LONG), done.stderr


def test_launch_of_a_command_too_long_for_tmux_is_exit_2(tmux, run_dir, tmp_path):
    workdir = tmp_path / "never"
    done = mosaic_proc("launch", "big", "--socket", tmux.socket_name, "--run-dir", run_dir,
                      "--workdir", workdir, "--command", "echo " + "x" * 17000)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mosaic: error: the command of big is too long for tmux")
    assert len(done.stderr.splitlines()) == 1
    assert tmux.server_pid() is None and not workdir.exists() and not run_dir.exists()


def test_env_counts_too(tmux, run_dir):
    done = mosaic_proc("launch", "big", "--socket", tmux.socket_name, "--run-dir", run_dir,
                      "--command", "sleep 1000", "--env", "HUGE=" + "y" * 17000)
    assert done.returncode == 2 and "too long for tmux" in done.stderr, done.stderr
    assert tmux.server_pid() is None


def test_fleet_up_with_one_command_too_long_launches_nothing(tmux, run_dir, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\n'
        '[[agent]]\nname = "small"\ncommand = "sleep 1000"\n'
        f'[[agent]]\nname = "big"\ncommand = "echo {"x" * 17000}"\n'
        '[[agent]]\nname = "tiny"\ncommand = "sleep 1000"\n')
    done = mosaic_proc("fleet", "up", "-f", fleet)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "big" in done.stderr and "too long for tmux" in done.stderr
    assert done.stdout == ""
    assert tmux.server_pid() is None  # nothing launched


def test_fleet_up_with_one_workdir_that_cannot_be_created_launches_nothing(tmux, run_dir, tmp_path):
    (tmp_path / "afile").write_text("")
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\n'
        '[[agent]]\nname = "fine"\ncommand = "sleep 1000"\n'
        f'[[agent]]\nname = "blocked"\ncommand = "sleep 1000"\nworkdir = "{tmp_path / "afile" / "sub"}"\n')
    done = mosaic_proc("fleet", "up", "-f", fleet)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "blocked" in done.stderr or "afile" in done.stderr
    assert tmux.server_pid() is None
