"""The results as a Markdown table with targets, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import statistics
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .contenders import Contender, Toolbox
from .fleet_metrics import FleetResult
from .settings import Settings
from .sidecar_metrics import SidecarResult

DASH = "—"


@dataclass
class Target:
    text: str
    verdict: str = "n/a"    # met, missed, n/a
    detail: str = ""

    def cell(self) -> str:
        verdict = "**missed**" if self.verdict == "missed" else self.verdict
        return f"{verdict} ({self.detail})" if self.detail else verdict


def _num(value: float) -> str:
    """Whole numbers from 100 up, one decimal from 10, two below."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _clip(message: str, limit: int = 80) -> str:
    """A table cell's share of an error message; stderr has all of it."""
    return message if len(message) <= limit else message[:limit - 1] + "…"


def _median(values: list[float], scale: float = 1.0) -> float | None:
    return statistics.median(values) * scale if values else None


def _ratio(a: float, b: float) -> str:
    """A over B, as "1.30×" or, when A is under half of B, "1/95"."""
    if b == 0 or a == 0:
        return "?"
    return f"{a / b:.2f}×" if 2 * a >= b else f"1/{b / a:.0f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


class Table:
    def __init__(self, contenders: list[Contender]):
        self.contenders = contenders
        self.rows: list[list[str]] = []

    def add(self, metric: str, cells: dict[str, str], target: Target | None) -> None:
        row = [metric] + [cells.get(c.key, DASH) for c in self.contenders]
        row += [target.text, target.cell()] if target else [DASH, DASH]
        self.rows.append(row)

    def markdown(self) -> str:
        header = ["Metric"] + [c.label for c in self.contenders] + ["Target (mosaic)", "Verdict"]
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] + ["---:"] * len(self.contenders) + ["---", "---"]) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                  for row in self.rows]
        return "\n".join(lines)


def _per_contender(contenders, results, metric_key, value_of, fmt) -> tuple[dict[str, str], dict[str, float]]:
    """Cells and raw values for one metric; a missing value shows why."""
    cells, values = {}, {}
    for c in contenders:
        if not c.available:
            cells[c.key] = f"n/a ({c.why_not})"
            continue
        result = results[c.key]
        value = value_of(result)
        if value is None:
            why = result.errors.get(metric_key, "no data")
            cells[c.key] = why if why.startswith("n/a") else f"error: {_clip(why)}"
            continue
        values[c.key] = value
        cells[c.key] = fmt(value)
    return cells, values


def build_table(toolbox: Toolbox, settings: Settings, sidecars: dict[str, SidecarResult],
                fleet: FleetResult) -> tuple[Table, list[Target]]:
    contenders = toolbox.contenders
    table = Table(contenders)
    targets = []

    def add(metric, metric_key, value_of, fmt, target=None):
        cells, values = _per_contender(contenders, sidecars, metric_key, value_of, fmt)
        if target is not None:
            target_builder, target_text = target
            t = Target(target_text)
            target_builder(t, values)
            targets.append(t)
            table.add(metric, cells, t)
        else:
            table.add(metric, cells, None)

    def cpu_target(t, v):
        if {"mosaic", "c", "bash"} <= v.keys():
            near_floor = v["mosaic"] <= 1.5 * v["c"]
            far_below_bash = v["mosaic"] <= v["bash"] / 20
            t.verdict = _verdict(near_floor and far_below_bash)
            t.detail = (f"{_ratio(v['mosaic'], v['c'])} C loop: {_verdict(near_floor)}; "
                        f"{_ratio(v['mosaic'], v['bash'])} of bash: {_verdict(far_below_bash)}")
            if v["c"] > v["bash"] / 20:
                # Then no sidecar that writes a file per beat can meet it here.
                t.detail += f"; the floor (c) itself is {_ratio(v['c'], v['bash'])} of bash"

    def at_most(limit, unit=""):
        def check(t, v):
            if "mosaic" in v:
                t.verdict = _verdict(v["mosaic"] <= limit)
                t.detail = f"{_num(v['mosaic'])}{unit}"
        return check

    def below(limit, unit=""):
        def check(t, v):
            if "mosaic" in v:
                t.verdict = _verdict(v["mosaic"] < limit)
                t.detail = f"{_num(v['mosaic'])}{unit}"
        return check

    rounds = f"median of {settings.cpu_rounds}"
    add(f"CPU per beat, µs ({rounds})", "cpu",
        lambda r: _median(r.cpu_per_beat_s, 1e6), _num,
        (cpu_target, "≤ 1.5× (c) and ≤ 1/20 of (a)"))
    add("System calls per beat", "syscalls", lambda r: r.syscalls_per_beat, _num,
        (at_most(8), "≤ 8"))
    add("Forks per beat", "syscalls", lambda r: r.forks_per_beat, _num,
        (at_most(0), "0"))
    add("Private memory (USS), KB", "cpu", lambda r: _median(r.uss_kb), lambda x: f"{x:.0f}",
        (at_most(300, " KB"), "≤ 300 KB"))
    add("Proportional memory (PSS), KB", "cpu", lambda r: _median(r.pss_kb), lambda x: f"{x:.0f}")
    detect = f"{settings.detect_trials} kills at a {settings.detect_interval:g} s interval"
    add(f"Death detection, median ms ({detect})", "detect",
        lambda r: _median(r.detect_s, 1e3), _num,
        (below(50, " ms"), "< 50 ms"))
    add("Death detection, max ms", "detect",
        lambda r: max(r.detect_s) * 1e3 if r.detect_s else None, _num)

    # Launch: the bash launcher sits in the bash column, `mosaic launch` in mosaic's.
    launch_cells, launch_values = {}, {}
    for kind in ("bash", "mosaic"):
        if kind in fleet.launch_errors:
            launch_cells[kind] = _clip(fleet.launch_errors[kind])
        elif fleet.launch_s[kind]:
            launch_values[kind] = _median(fleet.launch_s[kind], 1e3)
            launch_cells[kind] = _num(launch_values[kind])
    launch_target = Target("≤ launch.sh")
    if launch_values.keys() == {"bash", "mosaic"}:
        launch_target.verdict = _verdict(launch_values["mosaic"] <= launch_values["bash"])
        launch_target.detail = f"{_ratio(launch_values['mosaic'], launch_values['bash'])} launch.sh"
    targets.append(launch_target)
    table.add(f"Launch to first heartbeat, ms (launch.sh vs `mosaic launch`, median of "
              f"{settings.launch_trials})", launch_cells, launch_target)

    startup = fleet.cli_startup_error or (
        _num(_median(fleet.cli_startup_s, 1e3)) if fleet.cli_startup_s else "no data")
    table.add(f"`mosaic --version`, ms: the CLI's start-up alone (median of {settings.fleet_runs})",
              {"mosaic": startup}, None)

    for agents in settings.fleet_sizes:
        times = fleet.ps_s.get(agents)
        cell = _clip(fleet.ps_error) or (_num(_median(times, 1e3)) if times else "no data")
        target = None
        if agents == max(settings.fleet_sizes):
            target = Target("< 300 ms")
            if times and not fleet.ps_error:
                ms = _median(times, 1e3)
                target.verdict = _verdict(ms < 300)
                target.detail = f"{_num(ms)} ms"
            targets.append(target)
        table.add(f"`mosaic fleet ps --json`, {agents} agents, ms (median of {settings.fleet_runs})",
                  {"mosaic": cell}, target)
    return table, targets


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding PATH (ext4, tmpfs, ...): a beat's
    cost is mostly the file system's, so the report must say which."""
    target = str(path.resolve())
    best, fstype = "", "unknown"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount_point = fields[1].replace("\\040", " ")
                inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, fstype = mount_point, fields[2]
    except OSError:
        pass
    return fstype


def machine_facts(scratch: Path) -> dict[str, str]:
    """Date, CPU, kernel and the scratch filesystem; no paths, no host names."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    uname = platform.uname()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu or platform.processor() or uname.machine}, {os.cpu_count()} logical CPUs",
        "kernel": f"{uname.system} {uname.release} ({uname.machine})",
        "filesystem": filesystem_type(scratch),
    }


def summary_lines(targets: list[Target]) -> list[str]:
    missed = [t for t in targets if t.verdict == "missed"]
    unknown = [t for t in targets if t.verdict == "n/a"]
    met = len(targets) - len(missed) - len(unknown)
    lines = [f"Targets: {met} met, {len(missed)} missed, {len(unknown)} not measured."]
    lines += [f"- missed: {t.text} ({t.detail})" for t in missed]
    return lines


def notes_lines(toolbox: Toolbox, sidecars: dict[str, SidecarResult]) -> list[str]:
    lines = []
    for c in toolbox.contenders:
        for note in dict.fromkeys(sidecars[c.key].notes):
            lines.append(f"- {c.label}: {note}")
    return lines


def _bullets(paragraphs: list[str]) -> list[str]:
    return [textwrap.fill(" ".join(text.split()), width=92, initial_indent="- ",
                          subsequent_indent="  ", break_on_hyphens=False)
            for text in paragraphs]


def _paragraph(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=92, break_on_hyphens=False)


def render_document(table: Table, targets: list[Target], toolbox: Toolbox, settings: Settings,
                    sidecars: dict[str, SidecarResult], facts: dict[str, str], quick: bool) -> str:
    s = settings
    versions = ", ".join(v for v in toolbox.versions.values() if v)
    mode = ("`python -m bench --quick` (smoke-test sizes: not for conclusions)" if quick
            else "`python -m bench`")
    notes = notes_lines(toolbox, sidecars)
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m bench`; edit bench/report.py, not this file. -->",
        "",
        "mosaic-hb against the bash heartbeat sidecar it replaces, measured in one run.",
        "",
        f"- Date: {facts['date']}",
        f"- CPU: {facts['cpu']}",
        f"- Kernel: {facts['kernel']}",
        f"- Run dirs: temporary directories on {facts['filesystem']}",
        f"- Tools: {versions}",
        f"- Run: {mode}",
        "",
        table.markdown(),
        "",
        *summary_lines(targets),
        "",
    ]
    if notes:
        parts += ["Notes from this run:", "", *notes, ""]
    parts += ["## Contenders", ""]
    parts += _bullets([
        """**(a) bash loop**: `bench/baseline/hb-loop.sh`, the bash sidecar mosaic replaces,
        rebuilt beat for beat: `kill -0`, then `date`, a temp file and `mv`, then `sleep`;
        three forks per beat.""",
        """**(b) mosaic-hb**: the packaged executable, with `--foreground` so that it is the
        bench's own child and its CPU can be read from `wait4()`.""",
        """**(c) C loop**: `bench/c_loop.c`, the beat of (a) in C with nothing added
        (`kill(pid, 0)`, `strftime`, write a temp file, `rename`, `nanosleep`): the floor for
        any sidecar that writes a file per beat. Built with `cc -O2` into a temporary
        directory.""",
        """**(d) mosaic_hb.run()**: the same C loop as (b), called through the Cython binding in
        a fresh Python process.""",
    ])
    parts += ["", _paragraph(
        """Targets apply to (b). Every run gets its own temporary run dir and a fresh watched
        process (`sleep 3600`), and ends with SIGKILL of that process, which the bench reaps at
        once (`kill -0` would take a zombie for alive)."""), "", "## Method", ""]
    parts += _bullets([
        f"""**CPU per beat.** Each contender beats every {s.beat_interval:g} s (mosaic-hb's
        shortest interval) until it has written N records; then the watched process is killed
        and the sidecar's user + system time, its reaped children's included (the forks of
        (a)), is read from `wait4()`. Start-up (exec, dynamic linking, and Python's imports for
        (d)) is removed by running twice, N = {s.cpu_long_beats} and N = {s.cpu_short_beats}:
        CPU per beat = (cpu_long − cpu_short) / (beats_long − beats_short). Contenders take
        turns (a b c d a b c d …) for {s.cpu_rounds} rounds, so drift hits all alike; the
        table gives the median.""",
        """**Counting beats** costs the sidecar nothing: the harness `stat()`s the record every
        millisecond (50 times per beat) and counts changes of (inode, mtime), since each beat
        renames a freshly written file over the record. The inode alone would not do (ext4
        hands a freed inode number straight back), nor may ctime count: the replaced file's
        ctime changes as it is unlinked, which `stat()` can catch just before the new file is
        in place. For (b) and (d) the record's own `seq=` is the count, and the harness's
        count is checked against it.""",
        """**A beat's cost is mostly the file system's**: creating, writing and renaming a
        file. The run dirs' file system is given above; `--scratch DIR` measures on another
        (a tmpfs makes every file-writing contender cheaper, and the fork-bound bash loop
        relatively dearer).""",
        f"""**System calls and forks per beat.** Separate runs under `strace -f -c` (tracing
        slows a sidecar down), N = {s.strace_long_beats} and N = {s.strace_short_beats}.
        Beats are the successful `rename*` calls that strace counted (`mv` first tries
        `renameat2` with `RENAME_NOREPLACE`, which fails); forks are the successful `clone`,
        `clone3`, `fork` and `vfork`. As for CPU, the long run minus the short one removes
        start-up. Without strace these cells say n/a.""",
        """**Memory.** `/proc/PID/smaps_rollup` of the sidecar process halfway through each
        long CPU run: USS = `Private_Clean` + `Private_Dirty`, PSS = `Pss`. For (a), the bash
        process alone (its children live for milliseconds); for (d), the whole Python
        process.""",
        f"""**Death detection.** Interval {s.detect_interval:g} s for all. After the first beat
        the bench waits a random phase in [0, interval) (the same for every contender in a
        round, from a fixed seed), SIGKILLs and reaps the watched process, and times until
        the sidecar has noticed: for (b) and (d), until the record says `status=dead` (read
        every 0.2 ms); for (a) and (c), which write nothing when they notice, until the
        sidecar exits (seen through a pidfd, no polling). {s.detect_trials} rounds; median
        and max.""",
        f"""**Launch to first heartbeat.** `bench/baseline/launch.sh` (the bash launcher,
        rebuilt: `has-session`, `new-session -d` with the runtime bin dirs on the pane's PATH,
        up to 5 `list-panes` 0.2 s apart, then `setsid bash hb-loop.sh`) against `mosaic
        launch`, from starting the command until the agent's record exists (checked every
        0.5 ms). Each launch starts its own tmux server on a unique `tmux -L` socket, with a
        temporary HOME, TMUX_TMPDIR and run dir, and the agent command `sleep 3600`;
        afterwards the bench runs `kill-server` and kills whatever the launch left, sidecars
        included. One untimed warm-up launch of each, then taking turns; median of
        {s.launch_trials}.""",
        """**`mosaic --version`.** Wall time of a command that does nothing: the interpreter's
        start-up and the CLI's imports, which `mosaic launch` and `mosaic fleet ps` pay
        too.""",
        f"""**`mosaic fleet ps --json`.** Wall time of the whole command over
        {", ".join(str(n) for n in s.fleet_sizes)} synthetic records (in the sidecar's
        format, for PIDs that no process has, one in ten `status=dead`), against a tmux
        socket with no server; taking turns; median of {s.fleet_runs}.""",
    ])
    parts += ["", _paragraph(
        """Every process the bench starts carries a marker in its environment; after each
        launch and at the end, the bench kills whatever still carries it, so nothing outlives
        a run, not even a detached sidecar."""), "", _paragraph(
        """Reproduce: `pip install -e .`, then `python -m bench` from the repository root
        (`--quick` for a smoke run, `--no-write` to leave this file alone, `--output PATH`,
        `--scratch DIR` to put the run dirs on another file system). `python -m bench
        --fleet-live [--compare OTHER_PYTHON]` measures the fleet commands over live agents
        and rewrites only the section "Fleet with live agents" below, which this run keeps."""), ""]
    return "\n".join(parts)
