"""Fleet commands over LIVE agents, for one or two mosaic installs side by side.

`python -m bench --fleet-live` measures:

1. `mosaic fleet ps --json` over 1, 10, 100 and 300 live agents (tmux
   sessions whose process has a child, each watched by a real `mosaic-hb`
   sidecar), with and without unrelated idle processes on the host. Records
   of dead pids would never reach the process-tree sampler, so they would
   hide its cost; here every pid lives.
2. `mosaic fleet down` of agents that take HANGUP_EXIT_S to exit on hangup.
3. `mosaic fleet up` to every agent's first heartbeat on disk, against the
   same number of runs of the bash launcher (bench/baseline/launch.sh).

With `--compare PYTHON`, every measurement is also made with the mosaic
installed for that interpreter (e.g. another virtualenv holding an older
checkout), taking turns, and the report gives both columns and their ratio.

Every process carries the bench's marker (see procs.py): tmux servers, panes,
sidecars and the idle processes are swept at the end of each measurement.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .contenders import BASELINE_DIR, _first_line, _mosaic_cli, find_sidecar
from .fleet_metrics import _isolated_env
from .procs import BenchError, sweep, tail
from .workspace import Workspace

# The agent of the fleet ps runs: a live process with a child, as a coding
# agent has (its tool processes).
PS_AGENT_COMMAND = "sh -c 'sleep 3600 & wait'"
# An agent that takes HANGUP_EXIT_S to exit on hangup or SIGTERM.
HANGUP_EXIT_S = 0.5
SLOW_EXIT_COMMAND = ("bash -c 'trap \"sleep %g; exit 0\" HUP TERM; "
                     "while :; do sleep 1 & wait; done'" % HANGUP_EXIT_S)
IDLE_COMMAND = ["sleep", "3600"]
# Only the first beat is timed, and the fleet ps agents must not beat during
# the runs: the real default interval.
INTERVAL = "15"
POLL_S = 0.001
RECORD_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 180.0
TMUX_BATCH = 50          # new-session commands per tmux invocation

BEGIN = "<!-- fleet-live:begin -->"
END = "<!-- fleet-live:end -->"


@dataclass(frozen=True)
class LiveSettings:
    ps_sizes: tuple[int, ...] = (1, 10, 100, 300)
    idle_processes: int = 500
    ps_runs: int = 7  # the per-agent cost is a small difference of two medians: 3 runs swung it by 0.05 ms
    down_agents: int = 20
    up_agents: int = 20
    updown_trials: int = 5


LIVE_FULL = LiveSettings()
LIVE_QUICK = LiveSettings(ps_sizes=(1, 5), idle_processes=20, ps_runs=1,
                          down_agents=3, up_agents=3, updown_trials=1)


@dataclass
class Install:
    label: str
    mosaic: list[str]        # argv prefix for `mosaic ...`
    sidecar: str | None      # its mosaic-hb, to start the fleet ps sidecars
    version: str = ""


@dataclass
class LiveResult:
    # (label, agents, idle) -> wall times in seconds
    ps_s: dict[tuple[str, int, bool], list[float]] = field(default_factory=dict)
    ps_error: str = ""
    down_s: dict[str, list[float]] = field(default_factory=dict)    # label -> seconds
    up_s: dict[str, list[float]] = field(default_factory=dict)      # label or "bash"
    updown_error: str = ""
    hangup_exit_s: float | None = None
    host_processes: int = 0
    load: str = ""


# ---------------------------------------------------------------- installs

def this_install(label: str) -> Install:
    cli = _mosaic_cli()
    if cli is None:
        raise BenchError("no mosaic CLI installed for this interpreter (run `pip install -e .`)")
    sidecar, _ = find_sidecar(None)
    return Install(label, cli, sidecar, _version(cli))


def other_install(python: str, label: str) -> Install:
    """The mosaic installed for another interpreter, e.g. another venv's
    bin/python (not resolved: a venv's python is a symlink)."""
    exe = Path(python)
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise BenchError(f"--compare: {python} is not an executable file")
    beside = exe.parent / "mosaic"
    cli = [str(beside)] if beside.is_file() else [str(exe), "-m", "mosaic_launch"]
    try:
        done = subprocess.run([str(exe), "-c", "import mosaic_hb; print(mosaic_hb.sidecar_path() or '')"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"--compare: {python} cannot be run: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"--compare: {python} has no mosaic_hb installed")
    version = _version(cli)
    if not version:
        raise BenchError(f"--compare: `mosaic --version` fails for {python}")
    return Install(label, cli, done.stdout.strip() or None, version)


def _version(cli: list[str]) -> str:
    return _first_line([*cli, "--version"])


def install_commit(install: Install) -> str:
    """The short git commit of the checkout an editable install runs, or ''."""
    python = install.mosaic[0] if install.mosaic[1:2] == ["-m"] else str(Path(install.mosaic[0]).parent / "python")
    try:
        done = subprocess.run([python, "-c", "import mosaic_launch; print(mosaic_launch.__file__)"],
                              capture_output=True, text=True, timeout=60)
        where = Path(done.stdout.strip()).parent
        rev = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if rev.returncode != 0:
        return ""
    dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10)
    return rev.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


# ---------------------------------------------------------------- helpers

def _run(argv: list[str], env: dict[str, str], timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`{' '.join(argv[-6:])}` did not return within {timeout:g} s") from None
    if done.returncode != 0:
        why = " ".join(done.stderr.decode(errors="replace").split())[-300:]
        raise BenchError(f"`{' '.join(argv[-6:])}` exit {done.returncode}: {why}")
    return done


def _tmux(tmux: str, socket: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return _run([tmux, "-L", socket, *args], env, timeout=60)


def _kill_server(tmux: str, socket: str, env: dict[str, str]) -> None:
    try:
        subprocess.run([tmux, "-L", socket, "kill-server"], env=env, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _wait_records(run_dir: Path, names: list[str], started: float) -> float:
    """Seconds from STARTED until every NAME.hb exists in RUN_DIR."""
    missing = [run_dir / f"{name}.hb" for name in names]
    while True:
        missing = [p for p in missing if not p.exists()]
        if not missing:
            return time.perf_counter() - started
        if time.perf_counter() - started > RECORD_TIMEOUT_S:
            raise BenchError(f"{len(missing)} of {len(names)} records missing after {RECORD_TIMEOUT_S:g} s")
        time.sleep(POLL_S)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _count_processes() -> int:
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


# ---------------------------------------------------------------- fleet ps

def _add_agents(tmux: str, sidecar: str, socket: str, run_dir: Path, env: dict[str, str],
                first: int, count: int) -> None:
    """Sessions agent-FIRST.. (COUNT of them) running PS_AGENT_COMMAND, each
    watched by a detached mosaic-hb, as `mosaic launch` would leave them."""
    names = [f"agent-{i:04d}" for i in range(first, first + count)]
    for start in range(0, len(names), TMUX_BATCH):
        args: list[str] = []
        for name in names[start:start + TMUX_BATCH]:
            if args:
                args.append(";")
            args += ["new-session", "-d", "-s", name, f"exec {PS_AGENT_COMMAND}"]
        _tmux(tmux, socket, env, *args)
    listing = _tmux(tmux, socket, env, "list-panes", "-a", "-F", "#{session_name} #{pane_pid}")
    pids = dict(line.split() for line in listing.stdout.decode().splitlines() if line.strip())
    for name in names:
        _run([sidecar, name, pids[name], "--run-dir", str(run_dir), "--interval", INTERVAL], env, timeout=30)
    _wait_records(run_dir, names, time.perf_counter())


def _check_rows(stdout: bytes, agents: int) -> None:
    try:
        document = json.loads(stdout)
    except ValueError:
        raise BenchError("`fleet ps --json` printed no valid JSON") from None
    rows = document.get("agents") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise BenchError("`fleet ps --json` printed no agents list")
    if len(rows) != agents:
        raise BenchError(f"`fleet ps --json` listed {len(rows)} agents, not {agents}")
    # Every agent must be live and healthy, or the process-tree sampler may
    # not have run for it, which is what this measures.
    unhealthy = [row.get("name") for row in rows if not (isinstance(row, dict) and row.get("healthy"))]
    if unhealthy:
        raise BenchError(f"`fleet ps --json` shows {len(unhealthy)} unhealthy agents, e.g. {unhealthy[0]}")


def _start_idle(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    return [subprocess.Popen(IDLE_COMMAND, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def _stop_idle(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def measure_ps(installs: list[Install], tmux: str, settings: LiveSettings, ws: Workspace,
               result: LiveResult) -> None:
    base = ws.fresh_dir("live-ps")
    scope = ws.scope("live-ps")
    env = _isolated_env(ws, scope, base)
    socket = f"mosaic-bench-live-{secrets.token_hex(6)}"
    run_dir = base / "run"
    run_dir.mkdir(mode=0o700)
    sidecar = installs[0].sidecar
    idle: list[subprocess.Popen] = []
    try:
        if sidecar is None:
            raise BenchError("no mosaic-hb to watch the agents")
        agents = 0
        for size in settings.ps_sizes:
            ws.log(f"fleet ps: growing the fleet to {size} live agents")
            _add_agents(tmux, sidecar, socket, run_dir, env, agents, size - agents)
            agents = size
            for with_idle in (False, True):
                if with_idle:
                    idle = _start_idle(settings.idle_processes, ws.env(scope))
                argv_of = {i.label: [*i.mosaic, "fleet", "ps", "--json", "--socket", socket,
                                     "--run-dir", str(run_dir)] for i in installs}
                for i in installs:   # untimed: warms the page cache for this install
                    _check_rows(_run(argv_of[i.label], env).stdout, size)
                for run in range(settings.ps_runs):
                    for i in installs:   # taking turns, so drift hits both alike
                        started = time.perf_counter()
                        done = _run(argv_of[i.label], env)
                        elapsed = time.perf_counter() - started
                        _check_rows(done.stdout, size)
                        result.ps_s.setdefault((i.label, size, with_idle), []).append(elapsed)
                times = ", ".join(f"{i.label} {1000 * _median(result.ps_s[(i.label, size, with_idle)]):.0f} ms"
                                  for i in installs)
                ws.log(f"fleet ps, {size} agents{' + idle' if with_idle else ''}: {times}")
                if with_idle:
                    _stop_idle(idle)
                    idle = []
    except BenchError as exc:
        result.ps_error = f"failed: {exc}"
        ws.log(f"fleet ps: {result.ps_error}")
    finally:
        _stop_idle(idle)
        _kill_server(tmux, socket, env)
        sweep(ws.marker, scope)


# ---------------------------------------------------------------- up / down

def measure_hangup_exit(tmux: str, ws: Workspace) -> float:
    """How long SLOW_EXIT_COMMAND really takes to exit once its session is
    killed: seen through a pidfd on the pane's process."""
    base = ws.fresh_dir("hangup")
    scope = ws.scope("hangup")
    env = _isolated_env(ws, scope, base)
    socket = f"mosaic-bench-hup-{secrets.token_hex(6)}"
    try:
        done = _tmux(tmux, socket, env, "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", "hup",
                     f"exec {SLOW_EXIT_COMMAND}")
        pid = int(done.stdout.split()[0])
        time.sleep(0.3)   # not synchronisation: lets bash reach its loop, as a real agent would be
        pidfd = os.pidfd_open(pid)
        try:
            started = time.perf_counter()
            _tmux(tmux, socket, env, "kill-session", "-t", "=hup")
            ready, _, _ = select.select([pidfd], [], [], 10)
            if not ready:
                raise BenchError("the slow-exit agent did not exit within 10 s of its hangup")
            return time.perf_counter() - started
        finally:
            os.close(pidfd)
    finally:
        _kill_server(tmux, socket, env)
        sweep(ws.marker, scope)


def _fleet_file(path: Path, socket: str, run_dir: Path, workdir: Path, names: list[str]) -> None:
    lines = [f"socket = {json.dumps(socket)}", f"run_dir = {json.dumps(str(run_dir))}",
             f"interval = {INTERVAL}", ""]
    for name in names:
        lines += ["[[agent]]", f"name = {json.dumps(name)}", f"workdir = {json.dumps(str(workdir))}",
                  f"command = {json.dumps(SLOW_EXIT_COMMAND)}", ""]
    path.write_text("\n".join(lines))


def _launcher_env(ws: Workspace, prefix: str) -> tuple[str, dict[str, str], str, Path]:
    """(scope, env, tmux socket, run dir) for one timed launcher run: the
    settings launch.sh and up_floor.py read, in a fresh directory."""
    base = ws.fresh_dir(prefix)
    scope = ws.scope(prefix)
    env = _isolated_env(ws, scope, base)
    socket = f"mosaic-bench-{prefix}-{secrets.token_hex(6)}"
    run_dir = base / "run"
    env.update(MOSAIC_TMUX_SOCKET=socket, MOSAIC_AGENT_WORKDIR=str(base / "work"),
               MOSAIC_AGENT_COMMAND=SLOW_EXIT_COMMAND, MOSAIC_HEARTBEAT_RUN_DIR=str(run_dir),
               MOSAIC_HEARTBEAT_INTERVAL=INTERVAL, MOSAIC_LOG_DIR=str(base / "logs"))
    return scope, env, socket, run_dir


def _bash_launches(tmux: str, names: list[str], ws: Workspace) -> float:
    """Seconds for len(NAMES) runs of launch.sh, one after another as a
    shell loop would run them, until every agent's first beat is on disk."""
    scope, env, socket, run_dir = _launcher_env(ws, "live-up-bash")
    try:
        started = time.perf_counter()
        for name in names:
            _run(["bash", str(BASELINE_DIR / "launch.sh"), name], env, timeout=60)
        return _wait_records(run_dir, names, started)
    finally:
        _kill_server(tmux, socket, env)
        sweep(ws.marker, scope)


def _floor_launches(tmux: str, names: list[str], ws: Workspace) -> float:
    """Seconds for bench/baseline/up_floor.py (the interpreter, typer's
    import, mosaic's tmux and sidecar calls, nothing else) to every first
    beat: the floor under `fleet up` for a Typer launcher doing that work."""
    scope, env, socket, run_dir = _launcher_env(ws, "live-up-floor")
    try:
        started = time.perf_counter()
        done = _run([sys.executable, str(BASELINE_DIR / "up_floor.py"), *names], env, timeout=60)
        if done.returncode != 0:
            raise BenchError(f"up_floor.py exit {done.returncode}: {done.stderr.decode(errors='replace').strip()}")
        return _wait_records(run_dir, names, started)
    finally:
        _kill_server(tmux, socket, env)
        sweep(ws.marker, scope)


def _mosaic_up_down(install: Install, tmux: str, up_names: list[str], down_count: int,
                    ws: Workspace) -> tuple[float, float]:
    """(seconds of `fleet up` to every first beat, seconds of `fleet down`
    of the first DOWN_COUNT of those agents)."""
    base = ws.fresh_dir(f"live-updown-{install.label}")
    scope = ws.scope(f"live-updown-{install.label}")
    env = _isolated_env(ws, scope, base)
    socket = f"mosaic-bench-up-{secrets.token_hex(6)}"
    run_dir = base / "run"
    up_file, down_file = base / "up.toml", base / "down.toml"
    _fleet_file(up_file, socket, run_dir, base / "work", up_names)
    _fleet_file(down_file, socket, run_dir, base / "work", up_names[:down_count])
    try:
        started = time.perf_counter()
        launcher = subprocess.Popen([*install.mosaic, "fleet", "up", "-f", str(up_file)], env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=open(base / "up.log", "wb"))
        try:
            up_s = _wait_records(run_dir, up_names, started)
            if launcher.wait(timeout=COMMAND_TIMEOUT_S) != 0:
                raise BenchError(f"`fleet up` exit {launcher.returncode}: {tail(base / 'up.log')}")
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
        # Let every agent's bash reach its loop (and trap) before hanging up.
        time.sleep(0.3)
        started = time.perf_counter()
        _run([*install.mosaic, "fleet", "down", "-f", str(down_file)], env)
        down_s = time.perf_counter() - started
        return up_s, down_s
    finally:
        _kill_server(tmux, socket, env)
        sweep(ws.marker, scope)


def measure_updown(installs: list[Install], tmux: str, settings: LiveSettings, ws: Workspace,
                   result: LiveResult) -> None:
    try:
        result.hangup_exit_s = measure_hangup_exit(tmux, ws)
        ws.log(f"the slow-exit agent exits {1000 * result.hangup_exit_s:.0f} ms after its hangup")
        names = [f"agent-{i:02d}" for i in range(max(settings.up_agents, settings.down_agents))]
        up_names = names[:settings.up_agents]
        for trial in range(settings.updown_trials + 1):   # trial 0: warm-up, not kept
            what = "warm-up" if trial == 0 else f"trial {trial}/{settings.updown_trials}"
            bash_s = _bash_launches(tmux, up_names, ws)
            floor_s = _floor_launches(tmux, up_names, ws)
            if trial:
                result.up_s.setdefault("bash", []).append(bash_s)
                result.up_s.setdefault("floor", []).append(floor_s)
            for install in installs:
                if len(up_names) < settings.down_agents:
                    raise BenchError("up_agents must be at least down_agents")
                up_s, down_s = _mosaic_up_down(install, tmux, up_names, settings.down_agents, ws)
                if trial:
                    result.up_s.setdefault(install.label, []).append(up_s)
                    result.down_s.setdefault(install.label, []).append(down_s)
                ws.log(f"fleet up/down {what}, {install.label}: up {1000 * up_s:.0f} ms "
                       f"(bash {1000 * bash_s:.0f} ms, floor {1000 * floor_s:.0f} ms), down {1000 * down_s:.0f} ms")
    except (BenchError, OSError) as exc:
        result.updown_error = f"failed: {exc}"
        ws.log(f"fleet up/down: {result.updown_error}")


# ---------------------------------------------------------------- report

def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    ms = value * 1000
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def _x(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "**missed**"


def render_section(installs: list[Install], settings: LiveSettings, result: LiveResult,
                   facts: dict[str, str], command: str, note: str) -> str:
    s = settings
    cur = installs[0].label
    other = installs[1].label if len(installs) > 1 else None
    small, big = s.ps_sizes[0], s.ps_sizes[-1]
    lines = [BEGIN, "## Fleet with live agents", ""]
    if note:
        lines += [f"**{note}**", ""]
    commits = "; ".join(f"`{i.label}`: {i.version}" + (f" at {c}" if (c := install_commit(i)) else "")
                        for i in installs)
    lines += [
        f"- Date: {facts['date']}",
        f"- CPU: {facts['cpu']}; kernel {facts['kernel']}",
        f"- Installs: {commits}",
        f"- On the host before the run: {result.host_processes} processes, load average "
        f"{result.load} (the 1, 5, 15 min figures)",
        f"- Run: `{command}`",
        "",
    ]
    # fleet ps
    head = ["Live agents"]
    for i in installs:
        head += [f"`{i.label}`, ms", f"`{i.label}` + {s.idle_processes} idle, ms"]
    if other:
        head += [f"`{cur}` / `{other}`", f"`{cur}` / `{other}` + idle"]
    lines += [f"`mosaic fleet ps --json`, median of {s.ps_runs} (wall time of the whole command):", "",
              "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]

    def med(label, n, idle):
        return _median(result.ps_s.get((label, n, idle), []))

    for n in s.ps_sizes:
        cells = [str(n)]
        for i in installs:
            cells += [_ms(med(i.label, n, False)), _ms(med(i.label, n, True))]
        if other:
            cells += [_x(med(cur, n, False), med(other, n, False)), _x(med(cur, n, True), med(other, n, True))]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if result.ps_error:
        lines += [f"fleet ps: {result.ps_error}", ""]

    def per_agent(label, idle):
        a, b = med(label, big, idle), med(label, small, idle)
        return None if a is None or b is None else (a - b) / (big - small)

    def growth(label, idle):
        a, b = med(label, big, idle), med(label, small, idle)
        return None if a is None or b is None or b == 0 else a / b

    goal_rows = [["Derived", "Goal", *[f"`{i.label}`" for i in installs], f"Verdict (`{cur}`)"],
                 ["---", "---", *["---:"] * len(installs), "---"]]
    for idle in (False, True):
        tag = f" + {s.idle_processes} idle" if idle else ""
        costs = [per_agent(i.label, idle) for i in installs]
        goal_rows.append([f"per-agent cost (t{big} − t{small}) / {big - small}, ms{tag}", "≤ 0.2 ms",
                          *[_ms(c) if c is None else f"{1000 * c:.3f}" for c in costs],
                          _verdict(None if costs[0] is None else costs[0] <= 0.0002)])
    for idle in (False, True):
        tag = f" + {s.idle_processes} idle" if idle else ""
        ratios = [growth(i.label, idle) for i in installs]
        goal_rows.append([f"t{big} / t{small}{tag}", "< 2",
                          *["—" if r is None else f"{r:.2f}" for r in ratios],
                          _verdict(None if ratios[0] is None else ratios[0] < 2)])
    # up / down
    down = [_median(result.down_s.get(i.label, [])) for i in installs]
    goal_rows.append([f"`fleet down` of {s.down_agents} agents that exit {HANGUP_EXIT_S:g} s after "
                      f"hangup, ms (median of {s.updown_trials})", f"≤ {1000 * 2 * HANGUP_EXIT_S:.0f} ms",
                      *[_ms(d) for d in down],
                      _verdict(None if down[0] is None else down[0] <= 2 * HANGUP_EXIT_S)])
    bash_up = _median(result.up_s.get("bash", []))
    ups = [_median(result.up_s.get(i.label, [])) for i in installs]
    goal_rows.append([f"`fleet up` of {s.up_agents} agents to every first beat, ms (median of "
                      f"{s.updown_trials})", "—", *[_ms(u) for u in ups], "—"])
    goal_rows.append([f"{s.up_agents} runs of launch.sh to every first beat, ms", "—",
                      *[_ms(bash_up)] * len(installs), "—"])
    up_ratio = [None if u is None or bash_up is None else u / bash_up for u in ups]
    goal_rows.append(["`fleet up` / launch.sh runs", "≤ 0.5",
                      *["—" if r is None else f"{r:.2f}" for r in up_ratio],
                      _verdict(None if up_ratio[0] is None else up_ratio[0] <= 0.5)])
    floor_up = _median(result.up_s.get("floor", []))
    goal_rows.append(["floor: `bench/baseline/up_floor.py` (python, typer's import, the same tmux "
                      "and sidecar calls, nothing else), ms", "—", *[_ms(floor_up)] * len(installs), "—"])
    goal_rows.append(["floor / launch.sh runs (the least a Typer launcher doing the same tmux and sidecar "
                      "work can reach)", "—",
                      *["—" if floor_up is None or bash_up is None else f"{floor_up / bash_up:.2f}"]
                      * len(installs), "—"])
    lines += ["| " + " | ".join(row) + " |" for row in goal_rows]
    lines.append("")
    if result.updown_error:
        lines += [f"fleet up/down: {result.updown_error}", ""]
    exit_seen = "not measured" if result.hangup_exit_s is None else f"{1000 * result.hangup_exit_s:.0f} ms"
    lines += [
        "Method:",
        "",
        f"- **Live agents.** One tmux server; each agent is a session running `{PS_AGENT_COMMAND}` (a live "
        "pid with a child), watched by a detached `mosaic-hb` (interval 15 s) that the bench starts as "
        "`mosaic launch` does. The fleet grows from one size to the next; at each size every install runs "
        "once untimed, then the installs take turns. The idle processes are "
        f"`{shlex.join(IDLE_COMMAND)}`, started before and killed after the runs with idle.",
        f"- **`fleet down`.** `mosaic fleet up -f FILE` launches agents running `{SLOW_EXIT_COMMAND}`; "
        f"then `mosaic fleet down -f FILE` of {s.down_agents} of them is timed to its exit. Measured "
        f"exit of that agent after its session is killed: {exit_seen}.",
        f"- **`fleet up`.** From starting `mosaic fleet up -f FILE` ({s.up_agents} agents, same command) "
        f"until every agent's record exists (checked every {POLL_S * 1000:g} ms), against {s.up_agents} "
        "runs, one after another, of `bench/baseline/launch.sh` (the bash launcher mosaic replaces) to "
        "every record. One untimed warm-up round, then taking turns. The floor row runs "
        "`bench/baseline/up_floor.py`: the same sessions (pane command, environment, pane log writer) "
        "through mosaic's batched tmux call and the same sidecars, after only the interpreter's start, "
        "typer's import and the mosaic modules it calls; no fleet file, settings, checks, locks or output.",
        "- Each measurement has its own tmux socket, HOME, TMUX_TMPDIR and run dir; every process "
        "carries the bench's marker and is killed afterwards.",
        END,
    ]
    return "\n".join(lines)


def merge_into(document: str, section: str) -> str:
    """DOCUMENT with its fleet-live section replaced by SECTION (or SECTION
    appended)."""
    start, stop = document.find(BEGIN), document.find(END)
    if start != -1 and stop > start:
        return document[:start] + section + document[stop + len(END):]
    return document.rstrip("\n") + "\n\n" + section + "\n"


def existing_section(document: str) -> str:
    start, stop = document.find(BEGIN), document.find(END)
    return document[start:stop + len(END)] if start != -1 and stop > start else ""


def run(installs: list[Install], tmux: str, settings: LiveSettings, ws: Workspace) -> LiveResult:
    result = LiveResult(host_processes=_count_processes())
    try:
        result.load = ", ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        result.load = "unknown"
    measure_ps(installs, tmux, settings, ws, result)
    measure_updown(installs, tmux, settings, ws, result)
    return result


def command_line(argv: list[str]) -> str:
    """The command as a reader would retype it (no paths of this machine)."""
    shown = []
    skip: str | bool = False
    for arg in argv:
        if skip:
            if arg.startswith("/"):
                arg = "OTHER_VENV/bin/python" if skip == "--compare" else Path(arg).name
            shown.append(arg)
            skip = False
            continue
        shown.append(arg)
        skip = arg if arg in ("--compare", "--output", "--scratch") else False
    return "python -m bench " + shlex.join(shown)


def main_error(message: str) -> int:
    print(f"python -m bench: {message}", file=sys.stderr)
    return 2
