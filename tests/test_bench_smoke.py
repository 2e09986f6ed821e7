"""Smoke test of the benchmark: `python -m bench --quick` runs to the end
and prints its table.

Nothing about the numbers is asserted: they belong to the machine. The
autouse fixture in conftest.py gives the run a temporary HOME and fails
the test if any process the bench started outlives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

try:
    import mosaic_hb  # noqa: F401  (the bench measures its sidecar and binding)
except ImportError:
    pytest.skip("the mosaic_hb package is not importable: run `pip install -e .` first",
                allow_module_level=True)


def test_quick_bench_completes(tmp_path):
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "| Metric |" in done.stdout
    assert "mosaic-hb (b)" in done.stdout
    assert output.read_text().startswith("# Benchmarks")


def test_quick_fleet_live_completes_and_keeps_the_rest_of_the_report(tmp_path):
    """`--fleet-live --quick`, comparing this install with itself: live
    agents, fleet ps / down / up, both columns, and only its own section of
    an existing report replaced."""
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nkept as it was\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--fleet-live", "--quick", "--quiet",
         "--compare", sys.executable, "--compare-label", "again", "--output", str(output)],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "## Fleet with live agents" in done.stdout
    assert "`again` + 20 idle, ms" in done.stdout
    assert "`fleet down` of 3 agents" in done.stdout
    floor_row = next(line for line in done.stdout.splitlines() if line.startswith("| floor: "))
    assert "| — | — |" not in floor_row, floor_row  # up_floor.py ran and was timed
    text = output.read_text()
    assert text.startswith("# Benchmarks\n\nkept as it was\n")
    assert text.count("## Fleet with live agents") == 1


def test_compare_with_a_missing_interpreter_is_a_usage_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--fleet-live", "--quick", "--compare", str(tmp_path / "nope"),
         "--output", str(tmp_path / "b.md")],
        cwd=REPO_ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--compare" in done.stderr
    assert not (tmp_path / "b.md").exists()


def test_quick_hooks_bench_completes(tmp_path):
    """`--hooks --quick`: the state hook against `python3 -c pass`, and the
    latency to the record; it prints its table and writes nothing."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--hooks", "--quick", "--quiet", "--scratch", str(tmp_path)],
        cwd=REPO_ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "`mosaic-hb state STATE`, whole process" in done.stdout
    assert "hook start -> record shows the state" in done.stdout


def test_quick_drive_bench_completes():
    """`--drive --quick`: mosaic send against tmux send-keys, a broadcast,
    and mosaic wait with both watchers, to the end."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--drive", "--quick", "--quiet"],
        cwd=REPO_ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "## Driving agents: send and wait" in done.stdout
    assert "start -> the text is on the pane" in done.stdout
    assert "wake-ups a second while nothing changes" in done.stdout
def test_quick_logs_bench_completes_and_keeps_the_rest_of_the_report(tmp_path):
    """`--logs --quick`: mosaic-hb log against `cat >> file` behind
    pipe-pane, and only its own section of an existing report replaced,
    the second run as the first."""
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nkept as it was\n")
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--logs", "--quick", "--quiet", "--scratch", str(tmp_path),
             "--output", str(output)],
            cwd=REPO_ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=120,
        )
        assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "| private memory (USS) per agent, median |" in done.stdout
    assert "| CPU (user + system) per MB logged |" in done.stdout
    text = output.read_text()
    assert text.startswith("# Benchmarks\n\nkept as it was\n")
    assert text.count("## Pane logs") == 1
