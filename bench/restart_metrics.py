"""`python -m bench --restart`: what a restart by the sidecar costs (issue 14).

* Time from a crash (SIGKILL of the agent) to the new agent running, as the
  sidecar restarts it (`mosaic-hb --restart on-failure`: respawn-pane), at
  the shortest delay (1 ms) and at the default first delay (1 s); side by
  side with the way back without it: `mosaic launch NAME` run by hand at
  the moment the death is recorded. "Running" is the new pane pid exec'ing
  the agent's command, as /proc shows it; the record names the new pid by
  then or within a beat.
* System calls and forks per beat of a sidecar with a restart policy, next
  to one without, under `strace -f -c` (sidecar_metrics.measure_syscalls):
  the policy adds nothing to the beat; tmux is run only on a death.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import sidecar_metrics
from .contenders import Contender
from .procs import BenchError, sweep
from .settings import Settings
from .workspace import Workspace

AGENT = "crashy"
RESET_AFTER_S = 1  # the sidecar's smallest --restart-reset-after: a trial waits this long between crashes
POLL_S = 0.001
TRIAL_TIMEOUT_S = 15.0
GOAL_OVERHEAD_S = 1.0  # the "within 1 s plus the backoff"


@dataclass
class Latencies:
    label: str
    delay_ms: float
    seconds: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.seconds)

    def worst(self) -> float:
        return max(self.seconds)


@dataclass
class RestartResult:
    restarts: list[Latencies]
    relaunch: Latencies
    syscalls: dict[str, tuple[float | None, float | None, str]]  # label -> (per beat, forks, error)
    trials: int


def _tmux_dir() -> str:
    """A short TMUX_TMPDIR in the system's temp dir: a socket path must fit
    in 108 bytes, which a deep --scratch dir may not leave."""
    return tempfile.mkdtemp(prefix="mbt-")


def _tmux(tmux: str, socket: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([tmux, "-L", socket, *args], env=env, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise BenchError(f"tmux {args[0]}: {done.stderr.strip()}")
    return done.stdout


def _runs_sleep(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:2] == [b"sleep", b"1000"]
    except OSError:
        return False


def _record_pid(path: Path) -> tuple[str, int] | None:
    try:
        fields = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return fields.get("status", ""), int(fields.get("pid", "0"))
    except (OSError, ValueError):
        return None


def _wait(condition, what: str):
    deadline = time.monotonic() + TRIAL_TIMEOUT_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not happen within {TRIAL_TIMEOUT_S:g} s")
        time.sleep(POLL_S)


def _pane_pid(tmux: str, socket: str, env: dict[str, str]) -> int:
    return int(_tmux(tmux, socket, env, "display-message", "-p", "-t", f"={AGENT}:", "#{pane_pid}").strip())


def restart_latencies(sidecar: str, tmux: str, ws: Workspace, delay_ms: int, trials: int) -> Latencies:
    """Kill the agent TRIALS times; each time, seconds until its successor runs."""
    result = Latencies(f"sidecar restart, delay {delay_ms} ms", delay_ms)
    run_dir = ws.fresh_dir("restart")
    scope = ws.scope("restart")
    tmux_dir = _tmux_dir()
    env = ws.env(scope, TMUX_TMPDIR=tmux_dir)
    socket = f"b{scope[-8:]}"
    try:
        _tmux(tmux, socket, env, "new-session", "-d", "-s", AGENT, "sleep", "1000", ";",
              "set-option", "-w", "-t", f"={AGENT}:", "remain-on-exit", "on")
        pid = _pane_pid(tmux, socket, env)
        started = subprocess.run(
            [sidecar, AGENT, str(pid), "--run-dir", str(run_dir), "--interval", "15",
             "--restart", "on-failure", "--tmux", tmux, "--tmux-socket", socket,
             "--restart-delay-ms", str(delay_ms), "--restart-reset-after", str(RESET_AFTER_S),
             "--restart-burst", "100", "--restart-burst-window", "1"],
            env=env, capture_output=True, text=True, timeout=10)
        if started.returncode != 0:
            raise BenchError(f"the sidecar did not start: {started.stderr.strip()}")
        record = run_dir / f"{AGENT}.hb"
        for _ in range(trials):
            _wait(lambda: _runs_sleep(pid), "the agent's exec")
            # A run shorter than the reset time doubles the next delay: wait it out.
            time.sleep(RESET_AFTER_S + 0.05)
            crashed = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            new = _wait(lambda: (r := _record_pid(record)) and r[0] == "ok" and r[1] != pid and r[1],
                        "a restart")
            _wait(lambda: _runs_sleep(new), "the new agent's exec")
            result.seconds.append(time.perf_counter() - crashed)
            pid = new
    finally:
        subprocess.run([tmux, "-L", socket, "kill-server"], env=env, capture_output=True)
        sweep(ws.marker, scope)
        shutil.rmtree(tmux_dir, ignore_errors=True)
    return result


def relaunch_latencies(mosaic_cli: list[str], tmux: str, ws: Workspace, trials: int) -> Latencies:
    """Without restarts: the death recorded, then `mosaic launch NAME` by hand."""
    result = Latencies("`mosaic launch` after the death", 0)
    run_dir = ws.fresh_dir("relaunch")
    scope = ws.scope("relaunch")
    tmux_dir = _tmux_dir()
    env = ws.env(scope, TMUX_TMPDIR=tmux_dir, HOME=str(ws.fresh_dir("home")))
    socket = f"b{scope[-8:]}"
    argv = [*mosaic_cli, "launch", AGENT, "--socket", socket, "--run-dir", str(run_dir),
            "--command", "sleep 1000", "--interval", "15"]
    record = run_dir / f"{AGENT}.hb"
    try:
        for _ in range(trials):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                raise BenchError(f"mosaic launch failed: {done.stderr.strip()}")
            pid = _pane_pid(tmux, socket, env)
            _wait(lambda: _runs_sleep(pid), "the agent's exec")
            crashed = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: (r := _record_pid(record)) and r[0] == "dead", "the recorded death")
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                raise BenchError(f"mosaic launch failed: {done.stderr.strip()}")
            new = _pane_pid(tmux, socket, env)
            _wait(lambda: _runs_sleep(new), "the new agent's exec")
            result.seconds.append(time.perf_counter() - crashed)
            os.kill(new, signal.SIGKILL)
            _wait(lambda: (r := _record_pid(record)) and r[0] == "dead" and r[1] == new, "the death")
    finally:
        subprocess.run([tmux, "-L", socket, "kill-server"], env=env, capture_output=True)
        sweep(ws.marker, scope)
        shutil.rmtree(tmux_dir, ignore_errors=True)
    return result


def syscalls_per_beat(sidecar: str, tmux: str, strace: str | None, settings: Settings,
                      ws: Workspace) -> dict[str, tuple[float | None, float | None, str]]:
    """Per beat, with and without a restart policy (the watched process is
    no tmux pane: on its death the sidecar finds no pane and ends)."""
    def plain(agent, pid, run_dir, interval):
        return [sidecar, agent, str(pid), "--run-dir", str(run_dir), "--interval", f"{interval:g}",
                "--foreground"]

    def with_policy(agent, pid, run_dir, interval):
        return [*plain(agent, pid, run_dir, interval), "--restart", "on-failure", "--tmux", tmux,
                "--tmux-socket", "bench-no-server"]

    contenders = [Contender("plain", "mosaic-hb", plain, True),
                  Contender("restart", "mosaic-hb --restart on-failure", with_policy, True)]
    results = {c.key: sidecar_metrics.SidecarResult() for c in contenders}
    sidecar_metrics.measure_syscalls(contenders, settings, strace, ws, results)
    return {c.label: (results[c.key].syscalls_per_beat, results[c.key].forks_per_beat,
                      results[c.key].errors.get("syscalls", "")) for c in contenders}


def run(sidecar: str, mosaic_cli: list[str], ws: Workspace, settings: Settings, trials: int) -> RestartResult:
    tmux = shutil.which("tmux")
    if tmux is None:
        raise BenchError("tmux is not installed")
    restarts = []
    for delay_ms in (1, 1000):
        ws.log(f"restart latency, delay {delay_ms} ms, {trials} trials")
        restarts.append(restart_latencies(sidecar, tmux, ws, delay_ms, trials))
    ws.log(f"mosaic launch after a death, {trials} trials")
    relaunch = relaunch_latencies(mosaic_cli, tmux, ws, trials)
    ws.log("system calls per beat")
    syscalls = syscalls_per_beat(sidecar, tmux, shutil.which("strace"), settings, ws)
    return RestartResult(restarts, relaunch, syscalls, trials)


def render(result: RestartResult) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    hand = result.relaunch.median()
    lines = [
        "## Restarts",
        "",
        f"{result.trials} crashes (SIGKILL) each; seconds from the kill until the new agent runs "
        "(its pid exec'ed the command). The sidecar's restart includes its delay (plus up to a "
        "quarter of it as jitter); `mosaic launch` by hand is started the moment the death is recorded.",
        "",
        "| Way back | Median | Worst | Median minus delay | vs. by hand | Goal: under 1 s + delay |",
        "|---|---|---|---|---|---|",
    ]
    for lat in result.restarts:
        over = lat.worst() - lat.delay_ms * 1.25 / 1000
        lines.append(f"| {lat.label} | {lat.median():.3f} s | {lat.worst():.3f} s | "
                     f"{lat.median() - lat.delay_ms / 1000:.3f} s | {lat.median() / hand:.2f}x | "
                     f"{verdict(over < GOAL_OVERHEAD_S)} |")
    lines.append(f"| {result.relaunch.label} | {hand:.3f} s | {result.relaunch.worst():.3f} s | | 1.00x | |")
    lines += ["", "| Sidecar | System calls per beat | Forks per beat |", "|---|---|---|"]
    for label, (calls, forks, error) in result.syscalls.items():
        if error:
            lines.append(f"| {label} | {error} | |")
        else:
            lines.append(f"| {label} | {calls:.2f} | {forks:.2f} |")
    return "\n".join(lines)
