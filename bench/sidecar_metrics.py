"""Per-sidecar measurements: CPU per beat, memory, system calls, forks and
death-detection latency.

A "beat" here is one record written (one rename over AGENT.hb), the last
one included. Every run starts from a fresh run dir and a fresh watched
process (`sleep 3600`), and is ended by SIGKILLing that process.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from .contenders import Contender
from .procs import BenchError, kill_and_reap, memory_kb, spawn, tail, try_reap, wait_exit
from .settings import Settings
from .workspace import Workspace

AGENT = "bench-agent"
# The harness stats the record this often to count beats: 50 times per
# beat at a 0.05 s interval, so no rename goes unseen.
POLL_S = 0.001
# How often the harness reads the record while waiting for status=dead.
DEATH_POLL_S = 0.0002
STARTUP_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 10.0

RENAME_CALLS = {"rename", "renameat", "renameat2"}
FORK_CALLS = {"fork", "vfork", "clone", "clone3"}


@dataclass
class SidecarResult:
    cpu_per_beat_s: list[float] = field(default_factory=list)
    uss_kb: list[int] = field(default_factory=list)
    pss_kb: list[int] = field(default_factory=list)
    syscalls_per_beat: float | None = None
    forks_per_beat: float | None = None
    detect_s: list[float] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)   # metric -> why it is missing
    notes: list[str] = field(default_factory=list)


class RecordWatch:
    """Counts replacements of a record file by stat()ing it from outside, so
    that counting costs the sidecar nothing. Every beat renames a freshly
    written file over the record, so (inode, mtime) changes on every beat;
    the inode alone would not do (ext4 hands a freed inode number straight
    back), and ctime must stay out: the replaced file's ctime changes while
    it is unlinked, a moment stat() can catch before the new file is in
    place."""

    def __init__(self, path: Path):
        self.path = path
        self.writes = 0
        self._last = None

    def poll(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        signature = (st.st_ino, st.st_mtime_ns)
        if signature != self._last:
            self._last = signature
            self.writes += 1


def read_record(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@dataclass
class BeatRun:
    writes: int              # records written, per seq= where the record has it
    polled_writes: int       # records seen by RecordWatch
    cpu_s: float             # the sidecar's and its reaped children's user + sys
    memory: tuple[int, int] | None


def run_beats(contender: Contender, beats: int, interval: float, ws: Workspace, *,
              wrap: list[str] = (), sample_memory: bool = False) -> BeatRun:
    """Run CONTENDER until it has written BEATS records, then kill the
    watched process and wait for the sidecar to end. WRAP prefixes the
    sidecar's argv (strace)."""
    run_dir = ws.fresh_dir("run")
    log = run_dir.parent / f"{run_dir.name}.log"
    hb = Contender.hb_path(run_dir, AGENT)
    env = ws.env()
    watched = spawn(["sleep", "3600"], env)
    sidecar = None
    try:
        sidecar = spawn([*wrap, *contender.argv(AGENT, watched.pid, run_dir, interval)], env,
                        output=log)
        watch = RecordWatch(hb)
        memory = None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S + 4 * beats * interval
        while watch.writes < beats:
            time.sleep(POLL_S)
            watch.poll()
            if sample_memory and memory is None and watch.writes >= max(1, beats // 2):
                memory = memory_kb(sidecar.pid)
            if try_reap(sidecar) is not None:
                raise BenchError(f"{contender.label} exited after {watch.writes} beats: {tail(log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{contender.label} wrote {watch.writes} of {beats} beats in time")
        # Killed right after a beat: each sidecar writes at most one more
        # record (mosaic's status=dead) before it exits.
        kill_and_reap(watched)
        ended = wait_exit(sidecar, EXIT_TIMEOUT_S + interval)
        watch.poll()
        writes = watch.writes
        if contender.reports_death:
            record = read_record(hb)
            if record.get("status") != "dead":
                raise BenchError(f"{contender.label} ended without status=dead: {tail(log)}")
            writes = int(record["seq"])
        return BeatRun(writes, watch.writes, ended.cpu_s, memory)
    finally:
        kill_and_reap(sidecar)
        kill_and_reap(watched)


def measure_cpu_and_memory(contenders: list[Contender], settings: Settings, ws: Workspace,
                           results: dict[str, SidecarResult]) -> None:
    """CPU per beat as the difference of a long and a short run, so that
    start-up (exec, dynamic linking, Python's import) cancels out:
        (cpu_long - cpu_short) / (beats_long - beats_short)
    Contenders take turns, A B C D A B C D ..., so drift hits all alike."""
    for round_no in range(1, settings.cpu_rounds + 1):
        for contender in contenders:
            result = results[contender.key]
            if "cpu" in result.errors:
                continue
            ws.log(f"cpu round {round_no}/{settings.cpu_rounds}: {contender.label}")
            try:
                short = run_beats(contender, settings.cpu_short_beats, settings.beat_interval, ws)
                long = run_beats(contender, settings.cpu_long_beats, settings.beat_interval, ws,
                                 sample_memory=True)
            except BenchError as exc:
                result.errors["cpu"] = str(exc)
                continue
            for run in (short, long):
                if run.writes != run.polled_writes:
                    result.notes.append(f"the harness saw {run.polled_writes} of {run.writes} "
                                        "beats (seq=): polling missed some")
            result.cpu_per_beat_s.append((long.cpu_s - short.cpu_s) / (long.writes - short.writes))
            if long.memory is not None:
                result.uss_kb.append(long.memory[0])
                result.pss_kb.append(long.memory[1])


def parse_strace_summary(path: Path) -> dict[str, tuple[int, int]]:
    """syscall -> (calls, errors) from `strace -c` output."""
    counts = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        # "% time seconds usecs/call calls [errors] syscall"
        if len(parts) not in (5, 6) or parts[-1] == "total":
            continue
        try:
            float(parts[0])
            calls = int(parts[3])
            errors = int(parts[4]) if len(parts) == 6 else 0
        except ValueError:
            continue
        counts[parts[-1]] = (calls, errors)
    if not counts:
        raise BenchError("strace wrote no summary")
    return counts


def _succeeded(counts: dict[str, tuple[int, int]], names: set[str]) -> int:
    return sum(calls - errors for name, (calls, errors) in counts.items() if name in names)


def measure_syscalls(contenders: list[Contender], settings: Settings, strace: str | None,
                     ws: Workspace, results: dict[str, SidecarResult]) -> None:
    """System calls and forks per beat, under `strace -f -c`, in runs of
    their own (tracing slows a sidecar down). Beats are the successful
    renames strace counted; the difference of a long and a short run
    removes start-up, as for CPU. System calls are counted, not timed, so
    one pair of runs per contender is enough."""
    for contender in contenders:
        result = results[contender.key]
        if strace is None:
            result.errors["syscalls"] = "n/a (strace not installed)"
            continue
        ws.log(f"syscalls: {contender.label}")
        summaries = []
        try:
            for beats in (settings.strace_short_beats, settings.strace_long_beats):
                out = ws.fresh_dir("strace") / "summary.txt"
                run_beats(contender, beats, settings.beat_interval, ws,
                          wrap=[strace, "-f", "-c", "-o", str(out), "--"])
                summaries.append(parse_strace_summary(out))
        except BenchError as exc:
            result.errors["syscalls"] = str(exc)
            continue
        short, long = summaries
        beats = _succeeded(long, RENAME_CALLS) - _succeeded(short, RENAME_CALLS)
        if beats <= 0:
            result.errors["syscalls"] = "strace saw no beats"
            continue
        total = sum(calls for calls, _ in long.values()) - sum(calls for calls, _ in short.values())
        forks = _succeeded(long, FORK_CALLS) - _succeeded(short, FORK_CALLS)
        result.syscalls_per_beat = total / beats
        result.forks_per_beat = forks / beats


def detect_once(contender: Contender, interval: float, phase_s: float, ws: Workspace) -> float:
    """Seconds from SIGKILL of the watched process until the sidecar has
    noticed: its record says status=dead (mosaic), or it has exited (the
    bash and C loops, which write nothing when they notice)."""
    run_dir = ws.fresh_dir("detect")
    log = run_dir.parent / f"{run_dir.name}.log"
    hb = Contender.hb_path(run_dir, AGENT)
    env = ws.env()
    watched = spawn(["sleep", "3600"], env)
    sidecar = None
    try:
        sidecar = spawn(contender.argv(AGENT, watched.pid, run_dir, interval), env, output=log)
        watch = RecordWatch(hb)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while watch.writes < 1:
            time.sleep(POLL_S)
            watch.poll()
            if try_reap(sidecar) is not None:
                raise BenchError(f"{contender.label} exited before its first beat: {tail(log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{contender.label} wrote no beat within {STARTUP_TIMEOUT_S:g} s")
        # Where in the beat cycle the death falls decides the loops' latency.
        time.sleep(phase_s)
        killed_at = time.perf_counter()
        # Reaped at once: `kill -0` would take a zombie for alive.
        kill_and_reap(watched)
        if not contender.reports_death:
            wait_exit(sidecar, EXIT_TIMEOUT_S + interval)
            return time.perf_counter() - killed_at
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while True:
            if read_record(hb).get("status") == "dead":
                return time.perf_counter() - killed_at
            if try_reap(sidecar) is not None and read_record(hb).get("status") != "dead":
                raise BenchError(f"{contender.label} exited without status=dead: {tail(log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{contender.label} wrote no status=dead within {EXIT_TIMEOUT_S:g} s")
            time.sleep(DEATH_POLL_S)
    finally:
        kill_and_reap(sidecar)
        kill_and_reap(watched)


def measure_detection(contenders: list[Contender], settings: Settings, ws: Workspace,
                      results: dict[str, SidecarResult]) -> None:
    """Taking turns; in each round every contender gets the same phase (the
    time from its first beat to the kill), drawn from a fixed seed."""
    phases = random.Random(5).uniform
    for trial in range(1, settings.detect_trials + 1):
        phase_s = phases(0, settings.detect_interval)
        ws.log(f"detection trial {trial}/{settings.detect_trials}")
        for contender in contenders:
            result = results[contender.key]
            if "detect" in result.errors:
                continue
            try:
                result.detect_s.append(detect_once(contender, settings.detect_interval, phase_s, ws))
            except BenchError as exc:
                result.errors["detect"] = str(exc)
