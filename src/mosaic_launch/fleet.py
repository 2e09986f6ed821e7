"""``mosaic fleet``: ``ps``, ``up`` and ``down``, over many agents.

* ``fleet ps`` reads the run dir (one listing) and tmux (one ``list-panes
  -a`` call) and prints one row per agent; the rules and the JSON schema are
  in ``fleet_status``.
* ``fleet up`` launches every agent of a fleet file (``fleet_file``) that is
  not running, through ``launch.launch_agent``, the code path of ``mosaic
  launch``; ``fleet down`` stops them through ``launch.stop_agent``.

Exit status: 0 done; 1 a runtime failure (an agent failed, an unsafe run
dir, ``--check`` found a problem); 2 bad input (options, MOSAIC_* variables,
the fleet file; nothing was launched); 127 tmux is not installed (up/down).
Every failure is one line on stderr, ``mosaic: error: ...``.

This module is imported by ``mosaic --help``: the heavy ones (mosaic_hb,
psutil, json, tomllib, launch) are imported inside the commands.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, List, Optional

import typer

from mosaic_launch.cli_support import command_group, RunDirOption, SocketOption, OneLineCommand, reporting, say_warning
from mosaic_launch.errors import MosaicError, NotRunning, UsageError, one_line



fleet_app = command_group("Commands over a fleet of agents: ps, up, down.")


@fleet_app.callback()
def fleet() -> None:
    """Commands over a fleet of agents: ps, up, down."""


def _seconds_option(value: Optional[str], option: str) -> Optional[float]:
    """VALUE as a finite, positive number of seconds; UsageError otherwise."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not (0 < seconds < float("inf")):  # also rejects nan
        shown = repr(value) if len(value) <= 40 else repr(value[:36]) + "..."
        raise UsageError(f"invalid {option} {shown}: expected a finite number of seconds greater than 0")
    return seconds


FileOption = Annotated[
    Optional[str],
    typer.Option("--file", "-f", metavar="FILE", show_default=False,
                 help="The fleet file (TOML); default ~/.config/mosaic/fleet.toml."),
]


# -- fleet ps ------------------------------------------------------------------------


def _color_wanted() -> bool:
    """Colour only on a terminal, and never with NO_COLOR (no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class _Snapshot:
    """One look at the fleet: the rows, and why the fleet is empty if it is."""

    def __init__(self, rows, empty_reason: Optional[str]):
        self.rows = rows
        self.empty_reason = empty_reason


def _run_dir_problem(run_dir) -> Optional[str]:
    """None if RUN_DIR can be read safely or is missing; else why not (like
    ssh for ~/.ssh: a symlink, another owner, writable by others)."""
    import errno

    import mosaic_hb

    try:
        mosaic_hb.check_run_dir(run_dir)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        why = exc.strerror or str(exc)
        if why.startswith("run dir "):
            return f"refusing to read {run_dir}: {why}"
        return f"run dir {run_dir}: {why}"
    return None


_warned_no_tmux: List[bool] = []


def take_snapshot(socket: str, run_dir, *, patterns=(), stale_after=None, sampler=None) -> _Snapshot:
    """The fleet now. Raises MosaicError for an unsafe run dir or a failing
    tmux; a missing run dir or tmux server is an empty fleet."""
    from mosaic_launch import fleet_status, tmux

    exists = os.path.lexists(run_dir)
    if exists:
        problem = _run_dir_problem(run_dir)
        if problem:
            raise MosaicError(problem)
    try:
        panes = tmux.list_panes(socket)
    except tmux.TmuxNotInstalled:
        if not _warned_no_tmux:  # once, not at every --watch refresh
            _warned_no_tmux.append(True)
            say_warning("tmux not found on PATH; showing the records only, every pane as gone")
        panes = []
    try:
        rows = fleet_status.collect(run_dir, panes, stale_after=stale_after, patterns=patterns)
    except OSError as exc:
        raise MosaicError(f"cannot read run dir {run_dir}: {exc.strerror or exc}") from None
    if sampler is None and any(fleet_status.needs_sampling(row) for row in rows):
        sampler = fleet_status.ProcessTreeSampler()
    if sampler is not None:
        for row in rows:
            sampler.fill(row)
    empty_reason = None
    if not rows:
        records = f"run dir {run_dir} does not exist" if not exists else f"no records in {run_dir}"
        sessions = "no tmux server" if not panes else "no agent sessions"
        empty_reason = f"no agents: {records}; {sessions} on socket {socket}"
        if patterns:
            empty_reason = f"no agents match {' '.join(patterns)} (run dir {run_dir}, socket {socket})"
    return _Snapshot(rows, empty_reason)


def _ps_lines(snapshot: _Snapshot, *, problems: bool, color: bool) -> List[str]:
    from mosaic_launch import fleet_status

    if not snapshot.rows:
        return [snapshot.empty_reason or "no agents"]
    rows = fleet_status.problems_first(snapshot.rows) if problems else snapshot.rows
    return [*fleet_status.render_table(rows, color=color), fleet_status.summary(rows)]


def _ps_json(snapshot: _Snapshot, *, socket: str, run_dir, problems: bool, indent) -> str:
    import json

    from mosaic_launch import fleet_status

    rows = fleet_status.problems_first(snapshot.rows) if problems else snapshot.rows
    return json.dumps(fleet_status.to_document(rows, socket=socket, run_dir=run_dir), indent=indent)


def _watch(interval: float, frame, *, tty: bool) -> None:
    """Print FRAME() every INTERVAL seconds until Ctrl-C; on a terminal, in
    place (cursor home, each line cleared to its end)."""
    import time

    out = sys.stdout
    if tty:
        out.write("\x1b[?25l\x1b[H\x1b[2J")  # hide the cursor, clear the screen
    try:
        while True:
            started = time.monotonic()
            lines = frame()
            if tty:
                out.write("\x1b[H" + "".join(f"{line}\x1b[K\n" for line in lines) + "\x1b[J")
            else:
                out.write("".join(f"{line}\n" for line in lines))
            out.flush()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        if tty:
            try:
                out.write("\x1b[?25h")
                out.flush()
            except (OSError, ValueError):
                pass


@fleet_app.command("ps", cls=OneLineCommand)
def ps(
    patterns: Annotated[
        Optional[List[str]],
        typer.Argument(metavar="PATTERN", show_default=False,
                       help="Only agents whose name matches one of these globs (e.g. 'web-*')."),
    ] = None,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (schema 1; see the README).")] = False,
    watch: Annotated[
        Optional[str],
        typer.Option("--watch", metavar="SECONDS", show_default=False,
                     help="Refresh every SECONDS until Ctrl-C (with --json: one document per line)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if any agent is not healthy (heartbeat ok, pane alive)."),
    ] = False,
    stale_after: Annotated[
        Optional[str],
        typer.Option("--stale-after", metavar="SECONDS", show_default=False,
                     help="A beat older than this is stale; default 3 intervals of each agent's record."),
    ] = None,
    problems: Annotated[bool, typer.Option("--problems", help="List unhealthy agents first.")] = False,
    host: Annotated[
        Optional[List[str]],
        typer.Option("--host", metavar="[USER@]HOST[:PORT]", show_default=False,
                     help="Ask HOST instead, over ssh (repeatable; all at once), and add a HOST column. "
                          "Env MOSAIC_FLEET_HOSTS, comma-separated."),
    ] = None,
) -> None:
    """Show every agent: its pane, heartbeat, activity and resources.

    HB is ok, stale (no beat for 3 intervals), dead (the agent exited, or its
    pid was reused), stopped (the sidecar was stopped), missing (a session
    without a record) or corrupt (a record that cannot be read). A missing
    run dir or tmux server is an empty fleet.

    With --host (or MOSAIC_FLEET_HOSTS), `mosaic fleet ps --json` runs on
    each host over ssh (BatchMode, a connect timeout and a per-host
    deadline) and the rows are merged; a host that cannot be asked is one
    row with its error, and --check fails on it. --socket and --run-dir, if
    given, are passed on; otherwise each host uses its own defaults."""
    with reporting():
        from mosaic_launch import settings

        every = _seconds_option(watch, "--watch")
        limit = _seconds_option(stale_after, "--stale-after")
        if every is not None and check:
            raise UsageError("--check and --watch cannot be combined")
        if host or "MOSAIC_FLEET_HOSTS" in os.environ:
            from mosaic_launch import fleet_hosts

            hosts = fleet_hosts.parse_hosts(host)
            if hosts:
                if socket is not None:
                    settings.resolve_socket(socket)  # the same rule here as on the hosts
                _ps_hosts(hosts, socket=socket, run_dir=run_dir, patterns=list(patterns or []),
                          stale_after=limit, as_json=as_json, check=check, problems=problems, every=every)
                return
        sock = settings.resolve_socket(socket)
        runs = settings.resolve_run_dir(run_dir)
        globs = list(patterns or [])
        color = not as_json and _color_wanted()

        if every is None:
            snapshot = take_snapshot(sock, runs, patterns=globs, stale_after=limit)
            if as_json:
                text = _ps_json(snapshot, socket=sock, run_dir=runs, problems=problems, indent=2)
            else:
                text = "\n".join(_ps_lines(snapshot, problems=problems, color=color))
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            if check and any(not row.healthy for row in snapshot.rows):
                raise typer.Exit(1)
            return

        from mosaic_launch import fleet_status

        sampler = fleet_status.ProcessTreeSampler()
        tty = not as_json and sys.stdout.isatty()

        def frame() -> List[str]:
            import time

            snapshot = take_snapshot(sock, runs, patterns=globs, stale_after=limit, sampler=sampler)
            if as_json:
                return [_ps_json(snapshot, socket=sock, run_dir=runs, problems=problems, indent=None)]
            head = f"every {every:g}s: socket {sock}, run dir {runs}  {time.strftime('%H:%M:%S')}"
            lines = [head, "", *_ps_lines(snapshot, problems=problems, color=color)]
            return lines if tty else [*lines, ""]

        _watch(every, frame, tty=tty)


def _ps_hosts(hosts, *, socket, run_dir, patterns, stale_after, as_json, check, problems, every) -> None:
    """fleet ps on HOSTS over ssh (fleet_hosts), merged, with a HOST column."""
    import json

    from mosaic_launch import fleet_hosts

    color = not as_json and _color_wanted()

    def look():
        return fleet_hosts.ps_hosts(hosts, socket=socket, run_dir=run_dir, stale_after=stale_after,
                                    patterns=patterns)

    def lines(results, indent) -> List[str]:
        if as_json:
            return [json.dumps(fleet_hosts.to_document(results, problems=problems), indent=indent)]
        rows = fleet_hosts.merged_rows(results, problems=problems)
        table = fleet_hosts.render_hosts_table(rows, color=color) if rows else []
        return [*table, fleet_hosts.hosts_summary(results)]

    if every is None:
        results = look()
        sys.stdout.write("\n".join(lines(results, 2)) + "\n")
        sys.stdout.flush()
        if check and not fleet_hosts.all_healthy(results):
            raise typer.Exit(1)
        return

    tty = not as_json and sys.stdout.isatty()

    def frame() -> List[str]:
        import time

        results = look()
        if as_json:
            return lines(results, None)
        noun = "host" if len(hosts) == 1 else "hosts"
        head = f"every {every:g}s: {len(hosts)} {noun}  {time.strftime('%H:%M:%S')}"
        out = [head, "", *lines(results, None)]
        return out if tty else [*out, ""]

    _watch(every, frame, tty=tty)


# -- fleet up / down -------------------------------------------------------------------


def _load(file: Optional[str]):
    from mosaic_launch import fleet_file

    if file == "":
        raise UsageError("--file is empty")
    return fleet_file.load(file if file is not None else fleet_file.default_path())


@fleet_app.command(cls=OneLineCommand)
def up(file: FileOption = None) -> None:
    """Launch every agent of the fleet file that is not running.

    The file is read and every agent's settings checked first: if anything
    is wrong, nothing is launched. Each agent then goes through the same
    code as `mosaic launch`, and is reported as launched, already running or
    failed (exit 1 if any failed)."""
    with reporting():
        fleet = _load(file)
        agents = fleet.launch_settings()
        if not agents:
            typer.echo(f"nothing to launch: no agents in {fleet.path}")
            return

        from mosaic_launch import launch, tmux

        counts = {"launched": 0, "already running": 0, "failed": 0}
        for item in agents:
            try:
                result = launch.launch_agent(item)
            except tmux.TmuxNotInstalled:
                raise
            except MosaicError as exc:
                typer.echo(f"{item.name}: failed: {one_line(exc)}")
                counts["failed"] += 1
                continue
            for warning in result.warnings:
                say_warning(warning)
            facts = []
            if result.pane_pid is not None:
                facts.append(f"pane pid {result.pane_pid}")
            if result.sidecar_pid is not None:
                facts.append(f"sidecar pid {result.sidecar_pid}")
            detail = f" ({', '.join(facts)})" if facts else ""
            if result.outcome == launch.LAUNCHED and result.sidecar_pid is None:
                typer.echo(f"{item.name}: failed: launched, but no heartbeat sidecar runs{detail}")
                counts["failed"] += 1
            elif result.outcome == launch.LAUNCHED:
                typer.echo(f"{item.name}: launched{detail}")
                counts["launched"] += 1
            elif result.outcome == launch.HEARTBEAT_RESTARTED:
                typer.echo(f"{item.name}: already running, heartbeat restarted{detail}")
                counts["already running"] += 1
            else:
                typer.echo(f"{item.name}: already running{detail}")
                counts["already running"] += 1
        typer.echo("fleet up: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        if counts["failed"]:
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
        from mosaic_launch import settings

        if (socket is not None or run_dir is not None) and not all_sessions:
            raise UsageError("--socket and --run-dir go with --all; otherwise the fleet file names them")
        if all_sessions and file is None:
            sock, runs = settings.resolve_socket(socket), settings.resolve_run_dir(run_dir)
        else:
            fleet = _load(file)
            sock = settings.resolve_socket(socket) if socket is not None else fleet.resolve_socket()
            runs = settings.resolve_run_dir(run_dir) if run_dir is not None else fleet.resolve_run_dir()

        import mosaic_hb

        from mosaic_launch import launch, tmux

        if not all_sessions and not fleet.agents:
            typer.echo(f"nothing to stop: no agents in {fleet.path}")
            return
        sessions = tmux.panes_by_session(sock)  # one listing for every agent
        if all_sessions:
            names = [name for name in sessions if mosaic_hb.valid_agent_name(name)]
            if not names:
                typer.echo(f"nothing to stop: no agent sessions on tmux socket {sock}")
                return
        else:
            names = [agent.name for agent in fleet.agents]

        counts = {"stopped": 0, "not running": 0, "failed": 0}
        for name in names:
            try:
                result = launch.stop_agent(sock, name, runs, sessions=sessions)
            except tmux.TmuxNotInstalled:
                raise
            except NotRunning:
                typer.echo(f"{name}: not running")
                counts["not running"] += 1
                continue
            except MosaicError as exc:
                typer.echo(f"{name}: failed: {one_line(exc)}")
                counts["failed"] += 1
                continue
            for warning in result.warnings:
                say_warning(warning)
            if result.stopped:
                how = " (it had already exited)" if result.was_dead else ""
                typer.echo(f"{name}: stopped{how}")
                counts["stopped"] += 1
            else:
                typer.echo(f"{name}: failed: pid {result.pane_pid} is still alive")
                counts["failed"] += 1
        typer.echo("fleet down: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        if counts["failed"]:
            raise typer.Exit(1)
