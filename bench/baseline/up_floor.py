"""The least a Typer launcher doing mosaic's tmux and sidecar work can do
for a fleet: the floor under `mosaic fleet up`, for the benchmark.

It starts the interpreter, imports typer (the CLI framework the design
requires) and only the mosaic modules it calls (not the launch code or
fleet ps's), creates the agents' sessions with mosaic's own batched tmux
call (the same pane command, environment, remain-on-exit and pane-log
writer as `fleet up`), then starts one mosaic-hb sidecar per agent and
waits for every first beat. It reads no fleet file, resolves no settings, checks nothing,
takes no locks and prints nothing: whatever `fleet up` spends beyond this
is its own; this much every such launcher spends.

usage: python up_floor.py NAME...
Settings come from the environment, as for launch.sh: MOSAIC_TMUX_SOCKET,
MOSAIC_AGENT_WORKDIR, MOSAIC_AGENT_COMMAND, MOSAIC_HEARTBEAT_RUN_DIR,
MOSAIC_HEARTBEAT_INTERVAL, and MOSAIC_LOG_DIR (the pane logs' dir).
"""

import os
import sys
from pathlib import Path

import typer  # noqa: F401  (its import is part of any Typer CLI's start)

import mosaic_hb
from mosaic_launch import logs, shellcmd, tmux
from mosaic_launch.settings import DEFAULT_LOG_MAX_BYTES, ENV_NAME, ENV_RUN_DIR, ENV_RUNTIME


def main(names: list[str]) -> int:
    env = os.environ
    socket, workdir = env["MOSAIC_TMUX_SOCKET"], env["MOSAIC_AGENT_WORKDIR"]
    command, run_dir = env["MOSAIC_AGENT_COMMAND"], env["MOSAIC_HEARTBEAT_RUN_DIR"]
    interval = float(env.get("MOSAIC_HEARTBEAT_INTERVAL", "15"))
    log_dir = Path(env["MOSAIC_LOG_DIR"])
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    os.makedirs(log_dir, mode=0o700, exist_ok=True)
    os.makedirs(workdir, exist_ok=True)
    requests = [
        tmux.SessionRequest(name, [shellcmd.SHELL, "-c", shellcmd.exec_form(command)], workdir,
                            ((ENV_NAME, name), (ENV_RUNTIME, "pi"), (ENV_RUN_DIR, run_dir)),
                            env.get("PATH"), logs.writer_command(log_dir, name, DEFAULT_LOG_MAX_BYTES, logs.LAUNCH))
        for name in names
    ]
    pane_pids = tmux.new_sessions(socket, requests)
    failed = [name for name, pid in zip(names, pane_pids) if not isinstance(pid, int)]
    if failed:
        print(f"up_floor.py: no session for {', '.join(failed)}", file=sys.stderr)
        return 1
    starting = [mosaic_hb.spawn_start(name, pid, run_dir, interval, runtime="pi")
                for name, pid in zip(names, pane_pids)]
    for one in starting:
        one.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
