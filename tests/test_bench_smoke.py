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
