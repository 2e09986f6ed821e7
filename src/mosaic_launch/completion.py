"""Shell completion's answers: agent names, runtimes, wait states.

Completion itself is Typer's (bash, zsh, fish: ``mosaic --install-completion``
or ``--show-completion``); the shell runs ``mosaic`` with ``_MOSAIC_COMPLETE``
set, and Click asks the callbacks here for the values of an argument or
option. Commands and options complete without any code of mosaic's.

A callback runs inside the user's shell, at each Tab: it must be quick and
must never fail. Anything that goes wrong (no tmux, no run dir, an unsafe or
unreadable one, a bad ``MOSAIC_*`` variable) completes nothing rather than
print an error into the command line.

This module is imported by cli.py at start-up, so it imports nothing heavy
at the top (``mosaic --help`` stays fast).
"""

from __future__ import annotations

from typing import Any

# `mosaic wait --for` values; wait.py checks them (and names these, too).
WAIT_STATES = ("idle", "waiting", "working", "dead", "stopped")
# How long a Tab may wait for tmux: a hung server (stopped, or stuck) must
# not freeze the user's shell for tmux.TIMEOUT_SECONDS; its sessions are
# then left out, and the run dir's names are still offered.
TMUX_TIMEOUT_S = 1.0


def _param(ctx: Any, name: str) -> Any:
    """A value already given on the command line being completed, else None."""
    params = getattr(ctx, "params", None) or {}
    return params.get(name)


def agent_names(socket: str | None = None, run_dir: str | None = None) -> list[str]:
    """Every agent name known on SOCKET (its tmux sessions named like agents)
    and in RUN_DIR (its records), sorted; each None: the setting's variable,
    then its default. Never raises: nothing known is an empty list."""
    names: set[str] = set()
    try:
        import mosaic_hb

        from mosaic_launch import settings, tmux
        from mosaic_launch.fleet import status

        sock = settings.resolve_socket(socket)
        runs = settings.resolve_run_dir(run_dir)
    except Exception:  # completion must never fail: a bad setting completes nothing
        return []
    try:
        names.update(name for name in tmux.panes_by_session(sock, timeout=TMUX_TIMEOUT_S)
                     if mosaic_hb.valid_agent_name(name))
    except Exception:  # no tmux, no server, a tmux that fails
        pass
    try:
        mosaic_hb.check_run_dir(runs)  # as fleet ps: an unsafe run dir is not read
        names.update(agent for agent, _ in status.list_records(runs))
    except Exception:  # no run dir, an unsafe or unreadable one
        pass
    return sorted(names)


def complete_agent_names(ctx: Any, incomplete: str) -> list[str]:
    """Typer autocompletion for an agent NAME argument (attach, stop, send,
    wait, logs): the names known on the command's --socket and --run-dir
    (or their variables and defaults) that start with INCOMPLETE, less the
    names already given."""
    given = _param(ctx, "names") or _param(ctx, "name") or ()
    given = {given} if isinstance(given, str) else set(given)
    return [name for name in agent_names(_param(ctx, "socket"), _param(ctx, "run_dir"))
            if name.startswith(incomplete) and name not in given]


def complete_runtimes(incomplete: str) -> list[str]:
    """Typer autocompletion for --runtime: pi, claude, codex."""
    # settings.RUNTIMES, written out: completing an option must not import mosaic_hb.
    return [name for name in ("pi", "claude", "codex") if name.startswith(incomplete)]


def complete_wait_states(incomplete: str) -> list[str]:
    """Typer autocompletion for `wait --for`."""
    return [state for state in WAIT_STATES if state.startswith(incomplete)]
