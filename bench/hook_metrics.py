"""`python -m bench --hooks`: what an agent state hook costs (issue 13).

* One call of `mosaic-hb state STATE` in a mosaic pane's environment, as
  whole-process time (spawn to exit, the way a CLI runs its hooks), side by
  side with `python3 -c pass`, the least a hook written in Python costs.
  The calls alternate between two states, so that every one writes the
  state file and signals the sidecar (a repeated state only reads).
* The latency from the start of a hook call to the sidecar's record (and
  its Prometheus textfile) showing the new state, with a sidecar whose
  interval (60 s) is far longer, so that only the hook's signal brings it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .procs import BenchError, kill_and_reap, spawn, sweep
from .workspace import Workspace

GOAL_CALL_MS = 2.0
GOAL_RATIO = 10.0
GOAL_LATENCY_MS = 100.0
SIDECAR_INTERVAL = "60"


@dataclass
class HookResult:
    hook_ms: float
    python_ms: float
    latency_ms: float
    prom_latency_ms: float
    calls: int
    trials: int


def _spawn_time_ms(argv: list[str], env: dict[str, str]) -> float:
    """Whole-process time of ARGV: posix_spawn to reaped exit."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, status = os.waitpid(pid, 0)
        elapsed = (time.perf_counter() - start) * 1000
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"{argv[0]} exited with {os.waitstatus_to_exitcode(status)}")
    return elapsed


def _shows(path: Path, needle: bytes) -> bool:
    try:
        return needle in path.read_bytes()
    except FileNotFoundError:
        return False


def run(sidecar: str, ws: Workspace, calls: int, trials: int) -> HookResult:
    run_dir = ws.fresh_dir("hooks")
    textfile_dir = ws.fresh_dir("hooks-textfile")
    env = ws.env(MOSAIC_AGENT_NAME="hooked", MOSAIC_HEARTBEAT_RUN_DIR=str(run_dir))
    hook = [sidecar, "state"]
    found = shutil.which("python3") or sys.executable
    python = [os.path.realpath(found), "-c", "pass"]
    states = ("working", "idle")
    # Warm the page cache for both programs before timing.
    for i in range(5):
        _spawn_time_ms(hook + [states[i % 2]], env)
        _spawn_time_ms(python, env)
    hook_ms = statistics.median(_spawn_time_ms(hook + [states[i % 2]], env) for i in range(calls))
    python_ms = statistics.median(_spawn_time_ms(python, env) for i in range(max(10, calls // 5)))

    agent = spawn(["sleep", "600"], env)
    scope = ws.scope("hooks")
    try:
        started = spawn([sidecar, "hooked", str(agent.pid), "--run-dir", str(run_dir),
                         "--interval", SIDECAR_INTERVAL, "--textfile-dir", str(textfile_dir)],
                        ws.env(scope))
        if started.wait(timeout=10) != 0:
            raise BenchError("the sidecar did not start")
        record = run_dir / "hooked.hb"
        prom = textfile_dir / "mosaic_hooked.prom"
        latencies, prom_latencies = [], []
        for i in range(trials):
            state = states[i % 2]
            needle = f"\nstate={state}\n".encode()
            prom_needle = f'state="{state}"}} 1'.encode()
            start = time.perf_counter()
            _spawn_time_ms(hook + [state], env)
            deadline = start + 5
            seen = None
            while time.perf_counter() < deadline:
                if seen is None and _shows(record, needle):
                    seen = time.perf_counter()
                if seen is not None and _shows(prom, prom_needle):
                    break
            else:
                raise BenchError("the record did not show the state within 5 s")
            latencies.append((seen - start) * 1000)
            prom_latencies.append((time.perf_counter() - start) * 1000)
    finally:
        kill_and_reap(agent)
        sweep(ws.marker, scope)
    return HookResult(hook_ms, python_ms, statistics.median(latencies),
                      statistics.median(prom_latencies), calls, trials)


def render(result: HookResult) -> str:
    ratio = result.python_ms / result.hook_ms if result.hook_ms > 0 else float("inf")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    return "\n".join([
        "## Agent state hooks",
        "",
        f"Medians of {result.calls} hook calls and {result.trials} latency trials.",
        "",
        "| Metric | Value | Goal |",
        "|---|---|---|",
        f"| `mosaic-hb state STATE`, whole process | {result.hook_ms:.2f} ms | < {GOAL_CALL_MS:g} ms "
        f"({verdict(result.hook_ms < GOAL_CALL_MS)}) |",
        f"| `python3 -c pass`, whole process | {result.python_ms:.2f} ms | |",
        f"| Python / hook | {ratio:.1f}x | >= {GOAL_RATIO:g}x ({verdict(ratio >= GOAL_RATIO)}) |",
        f"| hook start -> record shows the state | {result.latency_ms:.2f} ms | < {GOAL_LATENCY_MS:g} ms "
        f"({verdict(result.latency_ms < GOAL_LATENCY_MS)}) |",
        f"| hook start -> .prom shows the state | {result.prom_latency_ms:.2f} ms | < {GOAL_LATENCY_MS:g} ms "
        f"({verdict(result.prom_latency_ms < GOAL_LATENCY_MS)}) |",
    ])
