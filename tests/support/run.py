"""Running ``mosaic`` from a test, two ways and only two:

- ``mosaic(...)``: in-process, through Typer's CliRunner; fast, and a test
  may monkeypatch the code it runs. Any traceback fails the test.
- ``mosaic_proc(...)``: a real process, as a user runs it (the console
  script of this interpreter, else ``python -m mosaic_launch``). Any
  traceback fails the test.

``mosaic_argv(...)`` is the command line mosaic_proc runs, for a test that
needs the process while it runs (a terminal, a race, a signal)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

SCRIPT = "script"  # the console script pip installed
MODULE = "module"  # python -m mosaic_launch


def console_script() -> str | None:
    """The ``mosaic`` console script of this interpreter's installation (the
    scripts dir is on PATH when its environment is active), else None."""
    for directory in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = Path(directory, "mosaic")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def mosaic_argv(*args, via: str | None = None) -> list[str]:
    """``mosaic ARGS`` as an argv: VIA the console script, the module, or
    (None) the script when there is one."""
    if via not in (None, SCRIPT, MODULE):
        raise ValueError(f"via must be {SCRIPT!r} or {MODULE!r}, not {via!r}")
    script = console_script() if via != MODULE else None
    if via == SCRIPT and script is None:
        raise AssertionError("the mosaic console script is not installed (pip install -e .)")
    command = [script] if script else [sys.executable, "-m", "mosaic_launch"]
    return [*command, *map(os.fspath, args)]


def mosaic(*args, env: dict | None = None):
    """``mosaic ARGS`` in-process, through Typer's CliRunner: its Result
    (exit_code, stdout, stderr). ENV adds to or (None values) removes from
    the environment. Imported lazily: the core tests need no CLI."""
    from typer.testing import CliRunner

    from mosaic_launch.cli import app

    try:  # Click < 8.2 mixes stderr into stdout unless told not to
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(app, [os.fspath(a) if isinstance(a, os.PathLike) else a for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output, result.output
    return result


def mosaic_proc(*args, env: dict | None = None, cwd=None, timeout: float = 60,
                via: str | None = None) -> subprocess.CompletedProcess:
    """``mosaic ARGS`` as a real process (see mosaic_argv for VIA), stdin
    closed, its output captured as text. ENV replaces the environment."""
    done = subprocess.run(mosaic_argv(*args, via=via), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def exit_code(result) -> int:
    """The exit status of a mosaic() Result or a mosaic_proc() CompletedProcess."""
    return result.exit_code if hasattr(result, "exit_code") else result.returncode


def one_line_error(result, code: int | None = None) -> str:
    """The single stderr line of a failed command (of either kind), which
    failed with exit status CODE if CODE is given."""
    if code is not None:
        assert exit_code(result) == code, (exit_code(result), result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaic: error: "), lines[0]
    return lines[0]
