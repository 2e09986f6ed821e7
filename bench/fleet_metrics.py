"""Fleet-level measurements: launch to first heartbeat on a real tmux, and
`mosaic fleet ps --json` over many records.

Every launch gets its own tmux server (`tmux -L <unique name>`, socket in a
temporary TMUX_TMPDIR), its own temporary HOME and run dir, and is torn down
(`kill-server`, then a sweep of everything it started) before the next.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .contenders import BASELINE_DIR, Toolbox
from .procs import BenchError, kill_and_reap, spawn, sweep, tail
from .settings import Settings
from .workspace import Workspace

AGENT = "bench-agent"
AGENT_COMMAND = "sleep 3600"
# The heartbeat interval launched agents get. Only the first beat is timed,
# so this is the real default rather than a fast one.
LAUNCH_INTERVAL = "15"
LAUNCH_TIMEOUT_S = 20.0
FIRST_BEAT_POLL_S = 0.0005
NOT_AVAILABLE = "n/a (command not available)"


@dataclass
class FleetResult:
    launch_s: dict[str, list[float]] = field(default_factory=lambda: {"bash": [], "mosaic": []})
    launch_errors: dict[str, str] = field(default_factory=dict)   # "bash"/"mosaic" -> why
    ps_s: dict[int, list[float]] = field(default_factory=dict)    # agents -> wall times
    ps_error: str = ""
    cli_startup_s: list[float] = field(default_factory=list)     # `mosaic --version`
    cli_startup_error: str = ""


def _isolated_env(ws: Workspace, scope: str, base: Path) -> dict[str, str]:
    """A temporary HOME and tmux socket dir: nothing here reaches the user's
    ~/.config/mosaic or tmux servers."""
    home = base / "home"
    tmux_dir = base / "tmux"
    home.mkdir()
    tmux_dir.mkdir(mode=0o700)
    env = ws.env(scope, HOME=str(home), TMUX_TMPDIR=str(tmux_dir),
                 XDG_CONFIG_HOME=str(home / ".config"))
    for inherited in ("TMUX", "TMUX_PANE", "MOSAIC_TMUX_SOCKET", "MOSAIC_HEARTBEAT_RUN_DIR",
                      "MOSAIC_HEARTBEAT_INTERVAL", "MOSAIC_AGENT_NAME"):
        env.pop(inherited, None)
    return env


def cli_available(toolbox: Toolbox, ws: Workspace, *subcommand: str) -> bool:
    """Whether `mosaic SUBCOMMAND --help` works (asked with a temporary HOME).
    Also warms the interpreter's caches before anything is timed."""
    if toolbox.mosaic_cli is None:
        return False
    base = ws.fresh_dir("cli-check")
    scope = ws.scope("cli-check")
    try:
        done = subprocess.run([*toolbox.mosaic_cli, *subcommand, "--help"],
                              env=_isolated_env(ws, scope, base), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        sweep(ws.marker, scope)
    return done.returncode == 0


def launch_once(kind: str, toolbox: Toolbox, ws: Workspace) -> float:
    """Seconds from starting the launcher to the agent's first heartbeat on
    disk. KIND is "bash" (baseline/launch.sh) or "mosaic" (`mosaic launch`)."""
    base = ws.fresh_dir(f"launch-{kind}")
    scope = ws.scope(f"launch-{kind}")
    env = _isolated_env(ws, scope, base)
    socket = f"mosaic-bench-{kind}-{secrets.token_hex(6)}"
    run_dir = base / "run"
    workdir = base / "work"
    hb = run_dir / f"{AGENT}.hb"
    log = base / "launcher.log"
    if kind == "bash":
        env.update(MOSAIC_TMUX_SOCKET=socket, MOSAIC_AGENT_WORKDIR=str(workdir),
                   MOSAIC_AGENT_COMMAND=AGENT_COMMAND, MOSAIC_HEARTBEAT_RUN_DIR=str(run_dir),
                   MOSAIC_HEARTBEAT_INTERVAL=LAUNCH_INTERVAL)
        argv = ["bash", str(BASELINE_DIR / "launch.sh"), AGENT]
    else:
        argv = [*toolbox.mosaic_cli, "launch", AGENT, "--socket", socket, "--run-dir", str(run_dir),
                "--interval", LAUNCH_INTERVAL, "--command", AGENT_COMMAND, "--workdir", str(workdir)]
    launcher = None
    try:
        started = time.perf_counter()
        launcher = spawn(argv, env, output=log)
        while not hb.exists():
            if launcher.poll() not in (None, 0):
                raise BenchError(f"exit {launcher.returncode}: {tail(log)}")
            if time.perf_counter() - started > LAUNCH_TIMEOUT_S:
                raise BenchError(f"no heartbeat within {LAUNCH_TIMEOUT_S:g} s: {tail(log)}")
            time.sleep(FIRST_BEAT_POLL_S)
        elapsed = time.perf_counter() - started
        try:
            launcher.wait(timeout=LAUNCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BenchError("the launcher did not return") from None
        return elapsed
    finally:
        kill_and_reap(launcher)
        try:
            subprocess.run([toolbox.tmux, "-L", socket, "kill-server"], env=env,
                           capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # The sidecar and the agent were detached; the marker still finds them.
        sweep(ws.marker, scope)


def measure_launch(toolbox: Toolbox, settings: Settings, ws: Workspace, result: FleetResult) -> None:
    if toolbox.tmux is None:
        result.launch_errors["bash"] = result.launch_errors["mosaic"] = "n/a (tmux not installed)"
        return
    if not cli_available(toolbox, ws, "launch"):
        result.launch_errors["mosaic"] = NOT_AVAILABLE
    # Trial 0 is a warm-up, not timed: the first tmux and bash of the run
    # would otherwise pay for cold caches on bash's side only.
    for trial in range(0, settings.launch_trials + 1):
        for kind in ("bash", "mosaic"):   # taking turns, as everywhere
            if kind in result.launch_errors:
                continue
            ws.log(f"launch {'warm-up' if trial == 0 else f'trial {trial}/{settings.launch_trials}'}: {kind}")
            try:
                elapsed = launch_once(kind, toolbox, ws)
            except BenchError as exc:
                result.launch_errors[kind] = f"failed: {exc}"
                continue
            if trial > 0:
                result.launch_s[kind].append(elapsed)


def _unused_pids(count: int) -> list[int]:
    """PIDs that no process has now, from the top of the PID range down."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    pids = []
    candidate = pid_max - 1
    while len(pids) < count and candidate > 1:
        try:
            os.kill(candidate, 0)
        except ProcessLookupError:
            pids.append(candidate)
        except PermissionError:
            pass
        candidate -= 1
    return pids


def write_synthetic_records(run_dir: Path, agents: int) -> None:
    """AGENTS records in the sidecar's format, for processes that do not
    exist; one in ten says status=dead, as a real fleet's would."""
    now = datetime.now(timezone.utc).astimezone()
    ts = now.strftime("%Y-%m-%dT%H:%M:%S%z")
    epoch = f"{now.timestamp():.3f}"
    pids = _unused_pids(2 * agents)
    for i in range(agents):
        agent = f"agent-{i:04d}"
        status = "dead" if i % 10 == 9 else "ok"
        (run_dir / f"{agent}.hb").write_text(
            f"ts={ts}\npid={pids[2 * i]}\nstatus={status}\nagent={agent}\nepoch={epoch}\n"
            f"seq={i + 1}\ninterval={LAUNCH_INTERVAL}\nhb_pid={pids[2 * i + 1]}\n"
            f"pid_start={1000 + i}\n")


def measure_fleet_ps(toolbox: Toolbox, settings: Settings, ws: Workspace, result: FleetResult) -> None:
    if not cli_available(toolbox, ws, "fleet", "ps"):
        result.ps_error = NOT_AVAILABLE
        return
    run_dirs = {}
    for agents in settings.fleet_sizes:
        run_dirs[agents] = ws.fresh_dir(f"fleet-{agents}")
        write_synthetic_records(run_dirs[agents], agents)
        result.ps_s[agents] = []
    base = ws.fresh_dir("fleet-env")
    scope = ws.scope("fleet-ps")
    env = _isolated_env(ws, scope, base)
    # A socket with no server behind it: only the records are listed.
    socket = f"mosaic-bench-ps-{secrets.token_hex(6)}"
    try:
        for run in range(1, settings.fleet_runs + 1):
            ws.log(f"fleet ps run {run}/{settings.fleet_runs}")
            for agents in settings.fleet_sizes:
                argv = [*toolbox.mosaic_cli, "fleet", "ps", "--json",
                        "--run-dir", str(run_dirs[agents]), "--socket", socket]
                started = time.perf_counter()
                done = subprocess.run(argv, env=env, capture_output=True, timeout=120)
                elapsed = time.perf_counter() - started
                if done.returncode != 0:
                    stderr = " ".join(done.stderr.decode(errors="replace").split())[-300:]
                    raise BenchError(f"exit {done.returncode}: {stderr}")
                try:
                    json.loads(done.stdout)
                except ValueError:
                    raise BenchError("output is not JSON") from None
                result.ps_s[agents].append(elapsed)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        result.ps_error = f"failed: {exc}"
    finally:
        sweep(ws.marker, scope)


def measure_cli_startup(toolbox: Toolbox, settings: Settings, ws: Workspace, result: FleetResult) -> None:
    """Wall time of `mosaic --version`: what every mosaic command pays before
    it does anything (interpreter, imports), to read the launch and fleet ps
    rows against."""
    if toolbox.mosaic_cli is None or not cli_available(toolbox, ws):
        result.cli_startup_error = NOT_AVAILABLE
        return
    base = ws.fresh_dir("cli-startup")
    scope = ws.scope("cli-startup")
    env = _isolated_env(ws, scope, base)
    try:
        for _ in range(settings.fleet_runs):
            started = time.perf_counter()
            done = subprocess.run([*toolbox.mosaic_cli, "--version"], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                result.cli_startup_error = NOT_AVAILABLE
                return
            result.cli_startup_s.append(elapsed)
    except subprocess.TimeoutExpired:
        result.cli_startup_error = "failed: `mosaic --version` did not return"
    finally:
        sweep(ws.marker, scope)
