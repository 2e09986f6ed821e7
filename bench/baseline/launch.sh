#!/usr/bin/env bash
# The bash launcher that `mosaic launch` replaces, rebuilt for the benchmark:
# the same steps, in the same order, between the command and the first
# heartbeat.
#   1. `tmux has-session`: a running agent is reported, not launched twice
#   2. `tmux new-session -d` running a pane shell that puts the candidate
#      runtime bin dirs in front of PATH, then execs the agent's command
#   3. up to 5 tries, 0.2 s apart, of `tmux list-panes` for the pane's pid
#   4. a detached bash heartbeat sidecar (hb-loop.sh) watching that pid
#
# usage: launch.sh AGENT_NAME
# Settings come from the environment, as for the original:
#   MOSAIC_TMUX_SOCKET (default mosaic-factory), MOSAIC_AGENT_WORKDIR (default
#   $HOME), MOSAIC_AGENT_COMMAND (required here), MOSAIC_RUNTIME_BIN,
#   MOSAIC_HEARTBEAT_RUN_DIR (default ~/.config/mosaic/fleet/run),
#   MOSAIC_HEARTBEAT_INTERVAL (default 15); the name may also come from
#   MOSAIC_AGENT_NAME.
set -euo pipefail

agent=${1:-${MOSAIC_AGENT_NAME:-}}
if [ -z "$agent" ]; then
    echo "launch.sh: an agent name (argument or MOSAIC_AGENT_NAME) is required" >&2
    exit 2
fi
socket=${MOSAIC_TMUX_SOCKET:-mosaic-factory}
workdir=${MOSAIC_AGENT_WORKDIR:-$HOME}
agent_command=${MOSAIC_AGENT_COMMAND:-}
run_dir=${MOSAIC_HEARTBEAT_RUN_DIR:-$HOME/.config/mosaic/fleet/run}
interval=${MOSAIC_HEARTBEAT_INTERVAL:-15}
if [ -z "$agent_command" ]; then
    echo "launch.sh: MOSAIC_AGENT_COMMAND is required" >&2
    exit 2
fi
# Parameter expansion rather than $(dirname ...): no fork the original lacks.
script_dir=${BASH_SOURCE[0]%/*}

if tmux -L "$socket" has-session -t "=$agent" 2>/dev/null; then
    echo "$agent: already running"
    exit 0
fi

# Candidate runtime bin dirs go in front of the pane's PATH even when they are
# already on ours: the tmux server may have been started with another PATH.
pane_path_prefix=""
for bin_dir in ${MOSAIC_RUNTIME_BIN:-} "$HOME/.local/bin" "$HOME/.npm-global/bin" "$HOME/.bun/bin"; do
    if [ -d "$bin_dir" ]; then
        pane_path_prefix="$pane_path_prefix$bin_dir:"
    fi
done
printf -v quoted_prefix '%q' "$pane_path_prefix"
pane_snippet="export PATH=$quoted_prefix\"\$PATH\"; exec $agent_command"

mkdir -p "$workdir"
tmux -L "$socket" new-session -d -s "$agent" -c "$workdir" bash -c "$pane_snippet"

pane_pid=""
for _attempt in 1 2 3 4 5; do
    pane_pid=$(tmux -L "$socket" list-panes -t "=$agent:0.0" -F '#{pane_pid}' 2>/dev/null || true)
    if [ -n "$pane_pid" ]; then
        break
    fi
    sleep 0.2
done

if [ -z "$pane_pid" ]; then
    echo "launch.sh: warning: no pane pid for $agent; heartbeat sidecar not started" >&2
    exit 0
fi
# The sidecar is best-effort: the agent keeps running if it cannot start.
if mkdir -p "$run_dir"; then
    if command -v setsid >/dev/null 2>&1; then
        setsid bash "$script_dir/hb-loop.sh" "$run_dir/$agent.hb" "$pane_pid" "$interval" </dev/null >/dev/null 2>&1 &
    else
        bash "$script_dir/hb-loop.sh" "$run_dir/$agent.hb" "$pane_pid" "$interval" </dev/null >/dev/null 2>&1 &
    fi
    disown $! 2>/dev/null || true
else
    echo "launch.sh: warning: heartbeat sidecar not started for $agent" >&2
fi
