"""`python -m bench --drive`: driving agents without attaching (issue 15).

* `mosaic send`: from starting the command to the text being on the pane
  (capture-pane, polled), and to the command's exit (which includes the
  settle delay of the runtime and the check that Enter changed the pane);
  side by side with the fragile way it replaces, ``tmux send-keys -l TEXT
  \\; send-keys Enter`` in one tmux call. Then a broadcast to 10 agents
  against a send to one.
* `mosaic wait`: from starting the hook call that changes the state
  (`mosaic-hb state idle`) to the exit of a `mosaic wait --for idle` that
  was already waiting, with the inotify watcher and with the stat poller;
  and how often a waiting `mosaic wait` wakes when nothing changes
  (voluntary context switches, from /proc) and the CPU it uses.

The agents are `cat` (a pane that echoes what it gets, in cooked mode)
for send, `sleep` for wait, launched by `mosaic launch` on a private tmux
socket and run dir.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import BenchError, sweep
from .workspace import Workspace

SEND_AGENTS = 10
IDLE_SECONDS = 5.0
GOAL_WAKE_MS = 100.0
GOAL_WAKEUPS = 10.0


@dataclass
class DriveResult:
    trials: int
    idle_seconds: float = IDLE_SECONDS
    send_seen_ms: dict[str, float] = field(default_factory=dict)  # contender -> median
    send_exit_ms: dict[str, float] = field(default_factory=dict)
    broadcast_exit_ms: float = 0.0
    single_exit_ms: float = 0.0
    printed_ms: dict[str, float] = field(default_factory=dict)  # watcher -> median
    wake_ms: dict[str, float] = field(default_factory=dict)  # watcher -> median
    wake_max_ms: dict[str, float] = field(default_factory=dict)
    wakeups_per_s: dict[str, float] = field(default_factory=dict)
    cpu_percent: dict[str, float] = field(default_factory=dict)


def _mosaic() -> list[str]:
    script = Path(sys.executable).with_name("mosaic")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mosaic_launch"]


class _Fleet:
    """A tmux socket, a HOME and a run dir of one measurement."""

    def __init__(self, ws: Workspace, name: str):
        self.root = ws.fresh_dir(name)
        self.home = self.root / "home"
        self.home.mkdir()
        (self.root / "tmux").mkdir(mode=0o700)
        self.run_dir = self.root / "run"
        self.socket = f"bench-{name}"
        self.scope = ws.scope(name)
        self.env = ws.env(self.scope, HOME=str(self.home), TMUX_TMPDIR=str(self.root / "tmux"))
        for key in [k for k in self.env if k.startswith("MOSAIC_")]:
            del self.env[key]

    def common(self) -> list[str]:
        return ["--socket", self.socket, "--run-dir", str(self.run_dir)]

    def mosaic(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*_mosaic(), *args, *self.common()], env={**self.env, **env},
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise BenchError(f"mosaic {args[0]} failed: {done.stderr.strip()}")
        return done

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, capture_output=True,
                              text=True, timeout=10, stdin=subprocess.DEVNULL).stdout

    def close(self, ws: Workspace) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True,
                       stdin=subprocess.DEVNULL)
        sweep(ws.marker, self.scope)


def _until_on_pane(fleet: _Fleet, name: str, needle: str, start: float, timeout: float = 10) -> float:
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if needle in fleet.tmux("capture-pane", "-p", "-J", "-t", f"={name}:"):
            return (time.perf_counter() - start) * 1000
    raise BenchError(f"{needle!r} did not show on {name}'s pane within {timeout:g} s")


def _timed_send(fleet: _Fleet, argv: list[str], name: str, needle: str) -> tuple[float, float]:
    """(ms until NEEDLE shows on NAME's pane, ms until ARGV exits)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=fleet.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    seen = _until_on_pane(fleet, name, needle, start)
    _, err = proc.communicate(timeout=30)
    exited = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise BenchError(f"{argv[:3]} failed: {err.decode(errors='replace').strip()}")
    return seen, exited


def measure_send(ws: Workspace, trials: int, result: DriveResult) -> None:
    fleet = _Fleet(ws, "send")
    try:
        fleet.mosaic("launch", "one", "--runtime", "codex", "--command", "cat")
        for n in range(SEND_AGENTS):
            fleet.mosaic("launch", f"crew-{n}", "--runtime", "codex", "--command", "cat")
        seen: dict[str, list[float]] = {"mosaic send": [], "tmux send-keys -l": []}
        exits: dict[str, list[float]] = {"mosaic send": [], "tmux send-keys -l": []}
        for i in range(trials + 1):
            for label in seen:
                needle = f"bench-{label[:5]}-{i}-{time.monotonic_ns()}"
                if label == "mosaic send":
                    argv = [*_mosaic(), "send", "one", needle, *fleet.common()]
                else:
                    argv = ["tmux", "-L", fleet.socket, "send-keys", "-l", "-t", "=one:", needle, ";",
                            "send-keys", "-t", "=one:", "Enter"]
                shown, exited = _timed_send(fleet, argv, "one", needle)
                if i:  # the first round warms the caches
                    seen[label].append(shown)
                    exits[label].append(exited)
        result.send_seen_ms = {k: statistics.median(v) for k, v in seen.items()}
        result.send_exit_ms = {k: statistics.median(v) for k, v in exits.items()}
        singles, broadcasts = [], []
        for i in range(trials):
            needle = f"wide-{i}-{time.monotonic_ns()}"
            start = time.perf_counter()
            fleet.mosaic("send", "crew-*", needle)
            broadcasts.append((time.perf_counter() - start) * 1000)
            for n in range(SEND_AGENTS):
                _until_on_pane(fleet, f"crew-{n}", needle, start)
            start = time.perf_counter()
            fleet.mosaic("send", "crew-0", needle + "-one")
            singles.append((time.perf_counter() - start) * 1000)
        result.broadcast_exit_ms = statistics.median(broadcasts)
        result.single_exit_ms = statistics.median(singles)
    finally:
        fleet.close(ws)


def _has_inotify(pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _switches(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise BenchError("no voluntary_ctxt_switches in /proc")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_wait(fleet: _Fleet, watcher: str, wanted: str) -> subprocess.Popen:
    env = dict(fleet.env)
    if watcher == "poll":
        env["MOSAIC_WAIT_WATCH"] = "poll"
    proc = subprocess.Popen([*_mosaic(), "wait", "agent", "--for", wanted, *fleet.common()], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    # inotify: watching once it holds the descriptor; the poller shows no
    # sign, so it is given a second (Python's start and the first look).
    while not (_has_inotify(proc.pid) if watcher == "inotify" else time.monotonic() > deadline - 9):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"mosaic wait ({watcher}) ended or never watched: {proc.stderr.read()!r}")
        time.sleep(0.005)
    time.sleep(0.2)  # past its first evaluation
    return proc


def measure_wait(ws: Workspace, trials: int, result: DriveResult) -> None:
    import mosaic_hb

    fleet = _Fleet(ws, "wait")
    hook = [mosaic_hb.sidecar_path(), "state"]
    hook_env = {**fleet.env, "MOSAIC_AGENT_NAME": "agent", "MOSAIC_HEARTBEAT_RUN_DIR": str(fleet.run_dir)}
    watchers = ["inotify", "poll"] if sys.platform.startswith("linux") else ["poll"]
    try:
        fleet.mosaic("launch", "agent", "--command", "sleep 3600", "--interval", "15")
        for watcher in watchers:
            latencies, printed = [], []
            for _ in range(trials):
                subprocess.run([*hook, "working"], env=hook_env, check=True)
                proc = _start_wait(fleet, watcher, "idle")
                # A blocking waitpid: Popen.wait(timeout) polls, up to 50 ms
                # apart, which would be measured too. The timer bounds it.
                guard = threading.Timer(10, proc.kill)
                guard.start()
                start = time.perf_counter()
                subprocess.run([*hook, "idle"], env=hook_env, check=True)
                line = proc.stdout.readline()  # `wait` prints the agent once it is there
                printed.append((time.perf_counter() - start) * 1000)
                proc.wait()
                latencies.append((time.perf_counter() - start) * 1000)
                guard.cancel()
                if line.strip() != b"agent":
                    raise BenchError(f"mosaic wait ({watcher}) printed {line!r}")
                if proc.returncode != 0:
                    raise BenchError(f"mosaic wait ({watcher}) exited {proc.returncode}")
            result.printed_ms[watcher] = statistics.median(printed)
            result.wake_ms[watcher] = statistics.median(latencies)
            result.wake_max_ms[watcher] = max(latencies)
            # Nothing changes: how often does it wake, what does it cost?
            subprocess.run([*hook, "working"], env=hook_env, check=True)
            proc = _start_wait(fleet, watcher, "idle")
            try:
                switches, cpu, start = _switches(proc.pid), _cpu_seconds(proc.pid), time.perf_counter()
                time.sleep(result.idle_seconds)
                elapsed = time.perf_counter() - start
                result.wakeups_per_s[watcher] = (_switches(proc.pid) - switches) / elapsed
                result.cpu_percent[watcher] = 100 * (_cpu_seconds(proc.pid) - cpu) / elapsed
            finally:
                proc.kill()
                proc.wait()
    finally:
        fleet.close(ws)


def run(ws: Workspace, trials: int, idle_seconds: float = IDLE_SECONDS) -> DriveResult:
    if shutil.which("tmux") is None:
        raise BenchError("--drive needs tmux, which is not installed")
    result = DriveResult(trials, idle_seconds)
    ws.log("mosaic send")
    measure_send(ws, trials, result)
    ws.log("mosaic wait")
    measure_wait(ws, trials, result)
    return result


def render(result: DriveResult) -> str:
    mosaic_seen = result.send_seen_ms["mosaic send"]
    keys_seen = result.send_seen_ms["tmux send-keys -l"]
    lines = [
        "## Driving agents: send and wait",
        "",
        f"Medians of {result.trials} trials (after one untimed round).",
        "",
        "| `mosaic send` to one agent (runtime codex: 150 ms settle) | mosaic send | tmux send-keys -l | ratio |",
        "|---|---:|---:|---:|",
        f"| start -> the text is on the pane | {mosaic_seen:.0f} ms | {keys_seen:.0f} ms "
        f"| {mosaic_seen / keys_seen:.1f}x |",
        f"| start -> the command exits (Enter pressed and seen to change the pane) "
        f"| {result.send_exit_ms['mosaic send']:.0f} ms | {result.send_exit_ms['tmux send-keys -l']:.0f} ms "
        f"| {result.send_exit_ms['mosaic send'] / result.send_exit_ms['tmux send-keys -l']:.1f}x |",
        f"| `mosaic send 'crew-*'` to {SEND_AGENTS} agents, to exit | {result.broadcast_exit_ms:.0f} ms "
        f"| one agent: {result.single_exit_ms:.0f} ms | {result.broadcast_exit_ms / result.single_exit_ms:.1f}x |",
        "",
        "| `mosaic wait --for idle` | " + " | ".join(result.wake_ms) + " | goal |",
        "|---|" + "---:|" * len(result.wake_ms) + "---|",
        "| hook start -> `wait` prints the agent (its wake-up and one evaluation), median | "
        + " | ".join(f"{v:.0f} ms" for v in result.printed_ms.values()) + f" | < {GOAL_WAKE_MS:g} ms |",
        "| hook start -> `wait` has exited (and Python's exit), median | "
        + " | ".join(f"{v:.0f} ms" for v in result.wake_ms.values()) + " | |",
        "| hook start -> exited, slowest | " + " | ".join(f"{v:.0f} ms" for v in result.wake_max_ms.values()) + " | |",
        f"| wake-ups a second while nothing changes ({result.idle_seconds:g} s) | "
        + " | ".join(f"{v:.1f}" for v in result.wakeups_per_s.values()) + f" | <= about {GOAL_WAKEUPS:g} |",
        "| CPU while nothing changes | " + " | ".join(f"{v:.2f} %" for v in result.cpu_percent.values())
        + " | |",
    ]
    return "\n".join(lines)
