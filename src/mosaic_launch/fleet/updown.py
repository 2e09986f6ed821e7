"""``mosaic fleet up`` and ``fleet down``: one tally loop over the agents.

Each agent goes through the code of ``mosaic launch`` (``launch.launch_agents``: the
steps of ``launch_agent``, with the sidecars' first beats waited for together)
or ``mosaic stop`` (``launch.stop_agents``, all agents at once); ``tally`` prints one line per
agent, ``NAME: OUTCOME``, then the counts (``render.tally``). An agent's
failure is its line; only a missing tmux ends the loop early.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Tuple

import mosaic_hb
import typer

from mosaic_launch import launch, settings, tmux
from mosaic_launch.cli_support import say_warning
from mosaic_launch.errors import MosaicError, NotRunning, UsageError, one_line
from mosaic_launch.fleet import file as fleet_file
from mosaic_launch.fleet import render


def tally(verb: str, kinds: Tuple[str, ...], names: Iterable[str],
          step: Callable[[str], Tuple[str, str]]) -> bool:
    """STEP(NAME) for each of NAMES, which returns (KIND, TEXT) or raises
    MosaicError (a failure); prints ``NAME: TEXT`` for each, then the count
    of each of KINDS. True if none failed."""
    counts = dict.fromkeys(kinds, 0)
    for name in names:
        try:
            kind, text = step(name)
        except tmux.TmuxNotInstalled:
            raise
        except MosaicError as exc:
            kind, text = render.FAILED, f"failed: {one_line(exc)}"
        typer.echo(f"{name}: {text}")
        counts[kind] += 1
    typer.echo(render.tally(verb, counts))
    return not counts[render.FAILED]


def _load(file: Optional[str]) -> fleet_file.FleetFile:
    if file == "":
        raise UsageError("--file is empty")
    return fleet_file.load(file if file is not None else fleet_file.default_path())


def up(file: Optional[str]) -> bool:
    """Launch every agent of FILE that is not running; False if any failed."""
    fleet = _load(file)
    agents = {item.name: item for item in fleet.launch_settings()}
    if not agents:
        typer.echo(f"nothing to launch: no agents in {fleet.path}")
        return True
    for item in agents.values():  # all or nothing: every check before any launch
        launch.precheck(item)

    # Every agent is launched first (see launch.launch_agents: the sidecars
    # come up together); the lines follow, in the file's order. One listing
    # per socket serves every agent.
    items = list(agents.values())
    outcomes = {}
    for sock in dict.fromkeys(item.socket for item in items):
        try:
            listing = tmux.panes_by_session(sock)
        except tmux.TmuxNotInstalled:
            raise
        except tmux.TmuxError:
            listing = None  # each launch looks for itself, and fails on its own line
        group = [item for item in items if item.socket == sock]
        outcomes.update(zip((item.name for item in group), launch.launch_agents(group, sessions=listing)))

    return tally("up", render.UP_COUNTS, agents, lambda name: _reported(outcomes[name], render.up_outcome))


def down(file: Optional[str], *, all_sessions: bool, socket: Optional[str], run_dir: Optional[str]) -> bool:
    """Stop every agent of FILE (or every agent session on the socket);
    False if any failed."""
    if (socket is not None or run_dir is not None) and not all_sessions:
        raise UsageError("--socket and --run-dir go with --all; otherwise the fleet file names them")
    if all_sessions and file is None:
        sock, runs = settings.resolve_socket(socket), settings.resolve_run_dir(run_dir)
    else:
        fleet = _load(file)
        sock = settings.resolve_socket(socket) if socket is not None else fleet.resolve_socket()
        runs = settings.resolve_run_dir(run_dir) if run_dir is not None else fleet.resolve_run_dir()

    if not all_sessions and not fleet.agents:
        typer.echo(f"nothing to stop: no agents in {fleet.path}")
        return True
    sessions = tmux.panes_by_session(sock)  # one listing for every agent
    if all_sessions:
        names = [name for name in sessions if mosaic_hb.valid_agent_name(name)]
        if not names:
            typer.echo(f"nothing to stop: no agent sessions on tmux socket {sock}")
            return True
    else:
        names = [agent.name for agent in fleet.agents]

    # Every agent is stopped at once; the lines follow, in the file's order.
    outcomes = dict(zip(names, launch.stop_agents(sock, names, runs, sessions=sessions, clear=False)))

    def step(name: str) -> Tuple[str, str]:
        if isinstance(outcomes[name], NotRunning):
            return "not running", "not running"
        return _reported(outcomes[name], render.down_outcome)

    return tally("down", render.DOWN_COUNTS, names, step)


def _reported(result, describe: Callable[..., Tuple[str, str]]) -> Tuple[str, str]:
    """RESULT's line (see tally) after its warnings; a failure is raised for
    tally to report."""
    if isinstance(result, MosaicError):
        raise result
    for warning in result.warnings:
        say_warning(warning)
    return describe(result)
