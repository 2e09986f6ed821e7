"""``mosaic fleet``: ``ps``, ``up`` and ``down``, over many agents.

* ``fleet ps`` reads the run dir (one listing) and tmux (one ``list-panes
  -a`` call) and prints one row per agent (``watch``, ``snapshot``); the
  rules and the JSON schema are in ``status``, the tables in ``render``.
* ``fleet up`` launches every agent of a fleet file (``file``) that is
  not running, through ``launch.launch_agents``, the code path of ``mosaic
  launch``; ``fleet down`` stops them through ``launch.stop_agent``.

Exit status: 0 done; 1 a runtime failure (an agent failed, an unsafe run
dir, ``--check`` found a problem); 2 bad input (options, MOSAIC_* variables,
the fleet file; nothing was launched); 127 tmux is not installed (up/down).
Every failure is one line on stderr, ``mosaic: error: ...``.

This module holds only the commands; the work is in ``watch`` (ps) and
``updown``. It is imported by ``mosaic --help``, so each command imports
its module (and with it mosaic_hb, psutil and the launch code) when it runs.
"""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from mosaic_launch.cli_support import command_group, RunDirOption, SocketOption, OneLineCommand, reporting
from mosaic_launch.errors import seconds


fleet_app = command_group("Commands over a fleet of agents: ps, up, down.")


@fleet_app.callback()
def fleet() -> None:
    """Commands over a fleet of agents: ps, up, down."""


def _seconds_option(value: Optional[str], option: str) -> Optional[float]:
    """VALUE as a finite, positive number of seconds; UsageError otherwise."""
    if value is None:
        return None
    shown = repr(value) if len(value) <= 40 else repr(value[:36]) + "..."
    return seconds(value, f"{option} {shown}")


FileOption = Annotated[
    Optional[str],
    typer.Option("--file", "-f", metavar="FILE", show_default=False,
                 help="The fleet file (TOML); default ~/.config/mosaic/fleet.toml."),
]


# -- fleet ps ------------------------------------------------------------------------


@fleet_app.command("ps", cls=OneLineCommand)
def ps(
    patterns: Annotated[
        Optional[List[str]],
        typer.Argument(metavar="PATTERN", show_default=False,
                       help="Only agents whose name matches one of these globs (e.g. 'web-*')."),
    ] = None,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
    as_json: Annotated[bool, typer.Option("--json",
                                          help="Print one JSON document (schema 1; see the README).")] = False,
    watch: Annotated[
        Optional[str],
        typer.Option("--watch", metavar="SECONDS", show_default=False,
                     help="Refresh every SECONDS until Ctrl-C (with --json: one document per line)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if any agent is not healthy (heartbeat ok, pane alive), "
                                           "apart from agents stopped on purpose."),
    ] = False,
    stale_after: Annotated[
        Optional[str],
        typer.Option("--stale-after", metavar="SECONDS", show_default=False,
                     help="A beat older than this is stale; default 3 intervals of each agent's record."),
    ] = None,
    problems: Annotated[bool, typer.Option("--problems", help="List agents waiting for you first, then "
                                                              "unhealthy agents.")] = False,
    state: Annotated[
        Optional[List[str]],
        typer.Option("--state", metavar="STATE", show_default=False,
                     help="Only agents in STATE: starting, working, waiting, idle or unknown (repeatable)."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="Also list agents stopped on purpose (not listed by default)."),
    ] = False,
    host: Annotated[
        Optional[List[str]],
        typer.Option("--host", metavar="[USER@]HOST[:PORT]", show_default=False,
                     help="Ask HOST instead, over ssh (repeatable; all at once), and add a HOST column. "
                          "Env MOSAIC_FLEET_HOSTS, comma-separated."),
    ] = None,
) -> None:
    """Show every agent: its pane, heartbeat, activity and resources.

    HB is ok, stale (no beat for 3 intervals, or a beat in the future), lost
    (the sidecar is gone), dead (the agent exited, or its pid was reused),
    stopped (by mosaic stop or fleet down: listed only with --all, and never
    a problem for --check), missing (a session without a record) or corrupt
    (a record that cannot be read). A missing run dir or tmux server is an
    empty fleet.

    STATE is what the agent does, from its CLI's hooks: working, waiting
    (for you; :permission or :question when the hook says), idle, starting;
    a trailing ~ marks a guess from the pane (recent output: working; a
    bell: waiting), for agents without hooks. See the README for how it
    combines with HB.

    With --host (or MOSAIC_FLEET_HOSTS), `mosaic fleet ps --json` runs on
    each host over ssh (BatchMode, a connect timeout and a per-host
    deadline) and the rows are merged; a host that cannot be asked is one
    row with its error, and --check fails on it. --socket and --run-dir, if
    given, are passed on; otherwise each host uses its own defaults."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb and psutil.
        from mosaic_launch.fleet.watch import show

        show(patterns=list(patterns or []), socket=socket, run_dir=run_dir, as_json=as_json,
             every=_seconds_option(watch, "--watch"), stale_after=_seconds_option(stale_after, "--stale-after"),
             check=check, problems=problems, host=host, show_all=show_all, states=list(state or []))


# -- fleet up / down -------------------------------------------------------------------


@fleet_app.command(cls=OneLineCommand)
def up(file: FileOption = None) -> None:
    """Launch every agent of the fleet file that is not running.

    The file is read and every agent's settings checked first: if anything
    is wrong, nothing is launched. Each agent then goes through the same
    code as `mosaic launch`, and is reported as launched, already running or
    failed (exit 1 if any failed)."""
    with reporting():
        from mosaic_launch.fleet import updown  # here: `mosaic --help` must not load the launch code

        if not updown.up(file):
            raise typer.Exit(1)


@fleet_app.command(cls=OneLineCommand)
def down(
    file: FileOption = None,
    all_sessions: Annotated[
        bool, typer.Option("--all", help="Stop every agent session on the socket, in the file or not."),
    ] = False,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
) -> None:
    """Stop every agent of the fleet file (or, with --all, every session on
    the socket named like an agent), each as `mosaic stop` does; report
    stopped or not running for each (exit 1 if any failed).

    --socket and --run-dir go with --all; without them --all uses the file's
    socket if -f is given, else MOSAIC_TMUX_SOCKET or mosaic-factory."""
    with reporting():
        from mosaic_launch.fleet import updown  # here: `mosaic --help` must not load the launch code

        if not updown.down(file, all_sessions=all_sessions, socket=socket, run_dir=run_dir):
            raise typer.Exit(1)
