"""The mosaic command itself: version, help, entry points, start-up cost."""

from __future__ import annotations

import subprocess
import sys

import mosaic_hb

from mosaic_launch import cli
from tests.support.agents import SLEEPER
from tests.support.run import MODULE, SCRIPT, mosaic, mosaic_proc, one_line_error
from tests.support.wait import settle


def test_version():
    result = mosaic("--version")
    assert result.exit_code == 0
    assert result.stdout == f"mosaic {mosaic_hb.__version__}\n"


def test_help_lists_the_commands():
    result = mosaic("--help")
    assert result.exit_code == 0
    for command in ("launch", "attach", "stop", "fleet"):
        assert command in result.stdout
    assert mosaic("launch", "--help").exit_code == 0
    assert "MOSAIC_AGENT_NAME" in mosaic("launch", "--help").stdout


def test_python_dash_m_and_the_console_script_agree():
    done = mosaic_proc("--version", via=MODULE)
    assert (done.returncode, done.stdout) == (0, f"mosaic {mosaic_hb.__version__}\n")
    script = mosaic_proc("--version", via=SCRIPT)
    assert script.stdout == done.stdout


def test_help_does_not_load_the_heavy_modules():
    code = ("import sys, mosaic_launch.cli; "
            "print(sorted(m for m in ('mosaic_hb', 'psutil', 'mosaic_launch.launch', 'mosaic_launch.settings') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]"


def test_windows_fails_in_one_line(monkeypatch, tmux):
    monkeypatch.setattr(cli.sys, "platform", "win32")
    result = mosaic("launch", "a", "--socket", tmux.socket_name, "--command", SLEEPER)
    assert result.exit_code == 1
    assert "Windows is not supported" in one_line_error(result)


def test_launch_and_stop_through_the_real_script(tmux, run_dir):
    try:
        _launch_and_stop(tmux, run_dir)
    finally:
        settle(tmux)


def _launch_and_stop(tmux, run_dir):
    args = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    done = mosaic_proc("launch", "real", *args, "--interval", "0.2", "--command", SLEEPER, via=SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("launched real: pane pid ")
    stop = mosaic_proc("stop", "real", *args, via=SCRIPT)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.endswith("heartbeat: stopped\n")
    assert mosaic_hb.read(run_dir / "real.hb").status == "stopped"
