"""`python -m bench --logs`: what logging a pane's output costs (issue 15).

Two writers behind ``tmux pipe-pane -O``, side by side, each on a tmux
server of its own with the same agents:

* mosaic's: ``exec mosaic-hb log FILE`` (the very command a launch gives
  tmux, from mosaic_launch.logs.writer_command; rotation at 10 MB);
* the plain one: ``cat >> FILE``, as tmux(1) shows pipe-pane.

Each agent is a pane that prints MB megabytes of 100-byte lines (``yes``
through ``head -c``), then a sentinel line, then sleeps. Once every log
holds its sentinel, the bench reads, with psutil, every writer process
(the tmux server's children other than the panes, and their children):

* private memory (USS) per agent, the sum over a pane's writer processes;
* CPU time (user + system) per MB logged.

The CPU of tmux itself (which reads the pty and feeds the pipe) is the same
for both and is not counted.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import BenchError, sweep
from .workspace import Workspace

GOAL_USS_KB = 200.0
SENTINEL = "mosaic-bench-log-end"
LINE = "x" * 99  # with yes's newline: 100-byte lines (101 with the pty's CR)


@dataclass
class WriterResult:
    label: str
    command: str  # the pipe-pane command, for one agent
    uss_kb: list[float] = field(default_factory=list)  # per agent
    processes: list[int] = field(default_factory=list)  # writer processes per agent
    cpu_s_per_mb: float = 0.0
    logged_mb: float = 0.0
    seconds: float = 0.0


@dataclass
class LogResult:
    agents: int
    mb_each: int
    writers: list[WriterResult]
    rounds: int = 1


def _tmux(tmux: str, socket: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run([tmux, "-L", socket, *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise BenchError(f"tmux {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def _log_size(path: Path) -> int:
    total = 0
    for candidate in (path, path.with_name(path.name + ".1")):
        try:
            total += candidate.stat().st_size
        except FileNotFoundError:
            pass
    return total


def _holds_sentinel(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            return SENTINEL.encode() in f.read()
    except FileNotFoundError:
        return False


def _measure(label: str, command_for, tmux: str, agents: int, mb_each: int, ws: Workspace) -> WriterResult:
    import psutil

    scope = ws.scope(f"logs-{label}")
    # The socket's path must stay short (about 100 bytes), whatever --scratch is.
    tmux_dir = tempfile.mkdtemp(prefix="mosaic-bench-")
    env = ws.env(scope, TMUX_TMPDIR=tmux_dir)
    env.pop("TMUX", None)
    env.pop("TMUX_PANE", None)
    socket = "logs"
    log_dir = ws.fresh_dir("logs")
    agent_script = (f"yes {LINE} | head -c {mb_each * 1_000_000}; echo {SENTINEL}; exec sleep 3600")
    result = WriterResult(label, command_for(log_dir, "a0"))
    try:
        panes = []
        started = time.monotonic()
        for i in range(agents):
            name = f"a{i}"
            out = _tmux(tmux, socket, "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name,
                        "-x", "200", "-y", "50", "sh", "-c", agent_script,
                        ";", "pipe-pane", "-O", "-t", f"={name}:",
                        command_for(log_dir, name).replace("#", "##"), env=env)
            panes.append(int(out.split()[0]))
        paths = [log_dir / f"a{i}.log" for i in range(agents)]
        deadline = time.monotonic() + 60 + agents * mb_each * 2
        while not all(_holds_sentinel(p) for p in paths):
            if time.monotonic() > deadline:
                raise BenchError(f"{label}: the logs did not receive all the output in time")
            time.sleep(0.05)
        result.seconds = time.monotonic() - started
        server_pid = int(_tmux(tmux, socket, "display-message", "-p", "#{pid}", env=env))
        server = psutil.Process(server_pid)
        writers = [p for p in server.children() if p.pid not in panes]
        if len(writers) != agents:
            raise BenchError(f"{label}: found {len(writers)} writers for {agents} agents")
        cpu = 0.0
        for writer in writers:
            tree = [writer, *writer.children(recursive=True)]
            result.processes.append(len(tree))
            result.uss_kb.append(sum(p.memory_full_info().uss for p in tree) / 1024)
            cpu += sum(sum(p.cpu_times()[:2]) for p in tree)
        result.logged_mb = sum(_log_size(p) for p in paths) / 1e6
        # The bytes that went through the writers: what the agents printed,
        # with the pty's CR before every LF.
        through_mb = agents * mb_each * 1.01
        result.cpu_s_per_mb = cpu / through_mb
    finally:
        try:
            _tmux(tmux, socket, "kill-server", env=env)
        except BenchError:
            pass
        sweep(ws.marker, scope)
        shutil.rmtree(tmux_dir, ignore_errors=True)
    return result


def run(ws: Workspace, agents: int, mb_each: int, rounds: int = 1) -> LogResult:
    from mosaic_launch.logs import writer_command
    from mosaic_launch.settings import DEFAULT_LOG_MAX_BYTES

    tmux = shutil.which("tmux")
    if tmux is None:
        raise BenchError("--logs needs tmux, which is not installed")

    def mosaic(log_dir: Path, name: str) -> str:
        return writer_command(log_dir, name, DEFAULT_LOG_MAX_BYTES, "launch")

    def cat(log_dir: Path, name: str) -> str:
        return f"cat >> {shlex.quote(str(log_dir / (name + '.log')))}"

    contenders = [("mosaic-hb log", mosaic), ("cat >> file", cat)]
    runs: dict[str, list[WriterResult]] = {label: [] for label, _ in contenders}
    for round_ in range(rounds):
        # Taking turns, so that neither always runs first on a busy machine.
        for label, command_for in contenders if round_ % 2 == 0 else contenders[::-1]:
            ws.log(f"logs: round {round_ + 1}, {label}, {agents} agents x {mb_each} MB")
            runs[label].append(_measure(label, command_for, tmux, agents, mb_each, ws))
    return LogResult(agents, mb_each, [_combined(runs[label]) for label, _ in contenders], rounds)


def _combined(results: list[WriterResult]) -> WriterResult:
    """One WriterResult of several rounds: every agent's memory, and the
    median round's CPU per MB and time."""
    first = results[0]
    return WriterResult(
        first.label, first.command,
        uss_kb=[kb for r in results for kb in r.uss_kb],
        processes=[n for r in results for n in r.processes],
        cpu_s_per_mb=statistics.median(r.cpu_s_per_mb for r in results),
        logged_mb=first.logged_mb,
        seconds=statistics.median(r.seconds for r in results),
    )


def render(result: LogResult, command_line: str) -> str:
    ours, plain = result.writers

    def uss(w: WriterResult) -> float:
        return statistics.median(w.uss_kb)

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "n/a"

    verdict = "met" if max(ours.uss_kb) <= GOAL_USS_KB else "MISSED"
    rows = [
        ("writer processes per agent", f"{statistics.median(ours.processes):g}",
         f"{statistics.median(plain.processes):g}", ""),
        ("private memory (USS) per agent, median", f"{uss(ours):.0f} KB", f"{uss(plain):.0f} KB",
         ratio(uss(ours), uss(plain))),
        ("private memory (USS) per agent, max", f"{max(ours.uss_kb):.0f} KB", f"{max(plain.uss_kb):.0f} KB",
         ratio(max(ours.uss_kb), max(plain.uss_kb))),
        ("CPU (user + system) per MB logged", f"{ours.cpu_s_per_mb * 1000:.2f} ms",
         f"{plain.cpu_s_per_mb * 1000:.2f} ms", ratio(ours.cpu_s_per_mb, plain.cpu_s_per_mb)),
        ("on disk after the run (all agents)", f"{ours.logged_mb:.1f} MB", f"{plain.logged_mb:.1f} MB", ""),
        ("until every log had all the output", f"{ours.seconds:.1f} s", f"{plain.seconds:.1f} s", ""),
    ]
    lines = [
        "## Pane logs",
        "",
        f"Run: `{command_line}`. {result.agents} agents, each printing {result.mb_each} MB "
        "(100-byte lines) through its pane; the writer behind `pipe-pane -O`, measured with "
        f"psutil once every log holds the agent's last line; {result.rounds} rounds, the writers "
        "taking turns (memory: over every agent of every round; CPU and time: the median round).",
        "",
        f"| Metric | `{ours.label}` | `{plain.label}` | ratio |",
        "|---|---|---|---|",
        *[f"| {name} | {a} | {b} | {r} |" for name, a, b, r in rows],
        "",
        f"Goal: at most {GOAL_USS_KB:g} KB of private memory per agent for logging ({verdict}). "
        "`mosaic-hb log` rotates at 10 MB and keeps one old file, so it keeps at most about "
        "20 MB per agent (here the last 10 MB and a bit), where `cat` keeps everything.",
    ]
    return "\n".join(lines)


SECTION_START = "<!-- logs:start -->"
SECTION_END = "<!-- logs:end -->"


def merge_into(document: str, section: str) -> str:
    """DOCUMENT with its pane-log section replaced by SECTION (appended if
    it has none); the rest is left as it was."""
    block = f"{SECTION_START}\n{section}\n{SECTION_END}"
    start, end = document.find(SECTION_START), document.find(SECTION_END)
    if start >= 0 and end > start:
        return document[:start] + block + document[end + len(SECTION_END):]
    return document.rstrip("\n") + "\n\n" + block + "\n"


def existing_section(document: str) -> str:
    """The pane-log section of DOCUMENT (without its markers), or ""."""
    start, end = document.find(SECTION_START), document.find(SECTION_END)
    if start < 0 or end < start:
        return ""
    return document[start + len(SECTION_START):end].strip("\n")
