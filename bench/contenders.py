"""The four heartbeat sidecars under test, and how to find or build each."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
BASELINE_DIR = BENCH_DIR / "baseline"

# Runs mosaic_hb.run() in a fresh interpreter; prints how the loop ended.
RUN_IN_PROCESS = (
    "import sys, mosaic_hb\n"
    "agent, pid, run_dir, interval = sys.argv[1:5]\n"
    "print(mosaic_hb.run(agent, int(pid), run_dir, float(interval)))\n"
)


@dataclass
class Contender:
    key: str                  # column id: bash, mosaic, c, cython
    label: str                # column heading
    # argv for a sidecar that watches PID and writes RUN_DIR/AGENT.hb
    argv: Callable[[str, int, Path, float], list[str]] | None
    # True when the record has seq= and says status=dead when PID dies
    reports_death: bool
    version: str = ""
    why_not: str = ""         # set when the contender is not available

    @property
    def available(self) -> bool:
        return self.argv is not None

    @staticmethod
    def hb_path(run_dir: Path, agent: str) -> Path:
        return run_dir / f"{agent}.hb"


@dataclass
class Toolbox:
    """What this machine offers; every missing piece is a reason, not a crash."""
    contenders: list[Contender]
    strace: str | None
    tmux: str | None
    mosaic_cli: list[str] | None     # argv prefix for `mosaic ...`
    versions: dict[str, str] = field(default_factory=dict)


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def find_sidecar(explicit: str | None) -> tuple[str | None, str]:
    """The mosaic-hb executable: --sidecar, else the package's, else PATH's."""
    if explicit:
        return explicit, ""
    try:
        import mosaic_hb
        path = mosaic_hb.sidecar_path()
        if path:
            return str(path), ""
    except Exception:   # not installed yet, or built without the executable
        pass
    found = shutil.which("mosaic-hb")
    if found:
        return found, ""
    return None, "mosaic-hb not found (install the package or pass --sidecar)"


def _run_in_process_available() -> str:
    """'' if mosaic_hb.run() can be called here, else why not."""
    try:
        import mosaic_hb
    except Exception as exc:
        return f"mosaic_hb not importable ({type(exc).__name__})"
    if not callable(getattr(mosaic_hb, "run", None)):
        return "mosaic_hb.run not available"
    return ""


def find_compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build_c_loop(build_dir: Path, compiler: str | None) -> tuple[str | None, str]:
    """Compile c_loop.c into BUILD_DIR; (binary, '') or (None, why not)."""
    if compiler is None:
        return None, "no C compiler (cc)"
    binary = build_dir / "c_loop"
    result = subprocess.run([compiler, "-O2", "-o", str(binary), str(BENCH_DIR / "c_loop.c")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None, f"cc failed: {' '.join(result.stderr.split())[:200]}"
    return str(binary), ""


def _mosaic_cli() -> list[str] | None:
    """argv prefix for the `mosaic` CLI: the console script beside this
    interpreter, else on PATH, else `python -m mosaic_launch`."""
    beside = Path(sys.executable).parent / "mosaic"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("mosaic")
    if found:
        return [found]
    try:
        import importlib.util
        if importlib.util.find_spec("mosaic_launch") is not None:
            return [sys.executable, "-m", "mosaic_launch"]
    except (ImportError, ValueError):
        pass
    return None


def discover(build_dir: Path, sidecar: str | None) -> Toolbox:
    hb_loop = str(BASELINE_DIR / "hb-loop.sh")
    bash = shutil.which("bash")
    sidecar_path, sidecar_why = find_sidecar(sidecar)
    compiler = find_compiler()
    c_loop, c_why = build_c_loop(build_dir, compiler)
    cython_why = _run_in_process_available()

    def bash_argv(agent, pid, run_dir, interval):
        return [bash, hb_loop, str(Contender.hb_path(run_dir, agent)), str(pid), f"{interval:g}"]

    def mosaic_argv(agent, pid, run_dir, interval):
        return [sidecar_path, agent, str(pid), "--run-dir", str(run_dir),
                "--interval", f"{interval:g}", "--foreground"]

    def c_argv(agent, pid, run_dir, interval):
        return [c_loop, str(Contender.hb_path(run_dir, agent)), str(pid), f"{interval:g}"]

    def cython_argv(agent, pid, run_dir, interval):
        return [sys.executable, "-c", RUN_IN_PROCESS, agent, str(pid), str(run_dir), f"{interval:g}"]

    contenders = [
        Contender("bash", "bash loop (a)", bash_argv if bash else None, False,
                  why_not="" if bash else "bash not found"),
        Contender("mosaic", "mosaic-hb (b)", mosaic_argv if sidecar_path else None, True,
                  why_not=sidecar_why),
        Contender("c", "C loop (c)", c_argv if c_loop else None, False, why_not=c_why),
        Contender("cython", "mosaic_hb.run() (d)", None if cython_why else cython_argv, True,
                  why_not=cython_why),
    ]
    versions = {
        "bash": _first_line([bash, "--version"]) if bash else "",
        "mosaic-hb": _first_line([sidecar_path, "--version"]) if sidecar_path else "",
        "python": f"Python {sys.version.split()[0]}",
    }
    strace = shutil.which("strace")
    tmux = shutil.which("tmux")
    if strace:
        versions["strace"] = _first_line([strace, "-V"])
    if tmux:
        versions["tmux"] = _first_line([tmux, "-V"])
    if c_loop:
        versions["cc"] = _first_line([compiler, "--version"])
    return Toolbox(contenders, strace, tmux, _mosaic_cli(), versions)
