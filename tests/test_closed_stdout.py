"""A reader that leaves early (``mosaic fleet up | head -1``) interrupts no
work: every agent is still launched or stopped, the exit status is that of
the work, and nothing is printed once the pipe is closed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest

from tests.support.run import mosaic_argv, mosaic_proc

NAMES = [f"pipe{i}" for i in range(10)]


@pytest.fixture
def fleet_file(tmp_path, tmux, run_dir):
    path = tmp_path / "fleet.toml"
    text = f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 2\n'
    for name in NAMES:
        text += f'\n[[agent]]\nname = "{name}"\ncommand = "sleep 1000"\n'
    path.write_text(text)
    return path


def mosaic_words(*args) -> str:
    return shlex.join(mosaic_argv(*args))


def through_head(*args) -> subprocess.CompletedProcess:
    """``mosaic ARGS | head -1`` in a real shell; exit status: mosaic's."""
    script = f"{mosaic_words(*args)} 2>err | head -1; exit ${{PIPESTATUS[0]}}"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=os.environ["HOME"])


def with_closed_stdout(*args) -> subprocess.CompletedProcess:
    """mosaic ARGS with a stdout pipe whose reader is gone before it starts:
    its very first write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(mosaic_argv(*args),
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)


def agents(tmux, run_dir) -> dict[str, dict]:
    done = mosaic_proc("fleet", "ps", "--json", "--socket", tmux.socket_name, "--run-dir", run_dir)
    return {row["name"]: row for row in json.loads(done.stdout)["agents"]}


def test_fleet_up_and_down_through_head_process_every_agent(tmux, run_dir, fleet_file):
    done = through_head("fleet", "up", "-f", fleet_file)
    assert done.returncode == 0, done
    assert done.stdout.count("\n") == 1
    assert open(os.path.join(os.environ["HOME"], "err")).read() == ""
    rows = agents(tmux, run_dir)
    assert sorted(rows) == NAMES and all(row["healthy"] for row in rows.values())

    done = through_head("fleet", "down", "-f", fleet_file)
    assert done.returncode == 0, done
    assert done.stdout.count("\n") == 1
    assert tmux.cmd("list-sessions", check=False).returncode != 0  # no session left


def test_fleet_up_and_down_with_stdout_closed_from_the_start(tmux, run_dir, fleet_file):
    done = with_closed_stdout("fleet", "up", "-f", fleet_file)
    assert (done.returncode, done.stderr) == (0, "")
    rows = agents(tmux, run_dir)
    assert sorted(rows) == NAMES and all(row["healthy"] for row in rows.values())

    done = with_closed_stdout("fleet", "down", "-f", fleet_file)
    assert (done.returncode, done.stderr) == (0, "")
    assert tmux.cmd("list-sessions", check=False).returncode != 0


def test_stop_and_ps_with_stdout_closed(tmux, run_dir, fleet_file):
    assert with_closed_stdout("fleet", "up", "-f", fleet_file).returncode == 0
    done = with_closed_stdout("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir, "--check")
    assert (done.returncode, done.stderr) == (0, "")
    done = with_closed_stdout("stop", "--all", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert tmux.cmd("list-sessions", check=False).returncode != 0


def with_closed_descriptors(*args) -> subprocess.CompletedProcess:
    """mosaic ARGS started with stdout and stderr closed (`>&- 2>&-`), as a
    cron job or a daemon may start it: Python then has no sys.stdout."""
    script = f"{mosaic_words(*args)} >&- 2>&-"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=os.environ["HOME"])


def test_closed_stdout_and_stderr_do_the_work_and_exit_with_its_status(tmux, run_dir, fleet_file):
    where = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    launched = with_closed_descriptors("launch", "shut", "--command", "sleep 1000", *where)
    assert launched.returncode == 0, launched
    assert agents(tmux, run_dir)["shut"]["pane"] == "alive"

    assert with_closed_descriptors("fleet", "up", "-f", fleet_file).returncode == 0
    assert with_closed_descriptors("fleet", "ps", *where).returncode == 0
    assert with_closed_descriptors("stop", "shut", *where).returncode == 0
    assert with_closed_descriptors("fleet", "down", "-f", fleet_file).returncode == 0
    assert agents(tmux, run_dir) == {}
    # an error still sets the status, with nowhere to say it
    assert with_closed_descriptors("stop", "nobody", *where).returncode == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_fleet_ps_watch_through_head_ends_when_the_reader_leaves(tmux, run_dir, as_json):
    # The pipe guard keeps a command going after its reader left; a watch has
    # no work of its own, so going on would mean refreshing for nobody, forever.
    where = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    assert mosaic_proc("launch", "seen", "--command", "sleep 1000", *where).returncode == 0
    json_flag = ["--json"] if as_json else []
    done = through_head("fleet", "ps", "--watch", "0.1", *json_flag, *where)
    assert done.returncode == 0, done
    assert done.stdout.count("\n") == 1, done.stdout
