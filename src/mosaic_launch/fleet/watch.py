"""``mosaic fleet ps``'s output: one look, or one every SECONDS until Ctrl-C.

``show`` prints the fleet of this host (a ``snapshot``) or of other hosts
(``hosts``), as a table (``render``) or as JSON; with ``every`` it redraws
through ``loop``, the watch loop, in place on a terminal.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Callable, List, Optional

import typer
from mosaic_hb.record import STATES

from mosaic_launch import settings
from mosaic_launch.errors import UsageError
from mosaic_launch.fleet import render, status
from mosaic_launch.fleet.snapshot import Snapshot, take_snapshot


def show(*, patterns: List[str], socket: Optional[str], run_dir: Optional[str], as_json: bool,
         every: Optional[float], check: bool, stale_after: Optional[float], problems: bool,
         host: Optional[List[str]], show_all: bool = False, states: List[str] = ()) -> None:
    """fleet ps, once or every EVERY seconds; typer.Exit(1) if CHECK finds
    an agent that needs its operator. Agents stopped on purpose are listed
    only with SHOW_ALL; with STATES, only agents in one of them."""
    if every is not None and check:
        raise UsageError("--check and --watch cannot be combined")
    states = check_states(states)
    if host or settings.ENV_HOSTS in os.environ:
        # Here, not at the top: a fleet ps of this host alone needs no ssh code.
        from mosaic_launch.fleet import hosts as fleet_hosts

        hosts = fleet_hosts.parse_hosts(host)
        if hosts:
            if socket is not None:
                settings.resolve_socket(socket)  # the same rule here as on the hosts
            _show_hosts(hosts, socket=socket, run_dir=run_dir, patterns=patterns, show_all=show_all,
                        stale_after=stale_after, as_json=as_json, check=check, problems=problems, every=every,
                        states=states)
            return
    sock = settings.resolve_socket(socket)
    runs = settings.resolve_run_dir(run_dir)
    color = not as_json and render.color_wanted()

    if every is None:
        snapshot = _listed(take_snapshot(sock, runs, patterns=patterns, stale_after=stale_after), show_all,
                           states)
        if as_json:
            text = _ps_json(snapshot, socket=sock, run_dir=runs, problems=problems, indent=2)
        else:
            text = "\n".join(_ps_lines(snapshot, problems=problems, color=color))
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        if check and any(row.problem for row in snapshot.rows):
            raise typer.Exit(1)
        return

    sampler = status.ProcessTreeSampler()
    tty = not as_json and sys.stdout.isatty()

    def frame() -> List[str]:
        snapshot = _listed(take_snapshot(sock, runs, patterns=patterns, stale_after=stale_after, sampler=sampler),
                           show_all, states)
        if as_json:
            return [_ps_json(snapshot, socket=sock, run_dir=runs, problems=problems, indent=None)]
        head = f"every {every:g}s: socket {sock}, run dir {runs}  {time.strftime('%H:%M:%S')}"
        lines = [head, "", *_ps_lines(snapshot, problems=problems, color=color)]
        return lines if tty else [*lines, ""]

    loop(every, frame, tty=tty)


def check_states(states) -> List[str]:
    """The --state values, each one of STATES; UsageError otherwise."""
    for state in states:
        if state not in STATES:
            shown = repr(state) if len(state) <= 40 else repr(state[:36]) + "..."
            raise UsageError(f"invalid --state {shown}: expected one of {', '.join(STATES)}")
    return list(dict.fromkeys(states))


def _listed(snapshot: Snapshot, show_all: bool, states: List[str] = ()) -> Snapshot:
    """SNAPSHOT without the agents stopped on purpose, unless SHOW_ALL (as
    ``docker ps`` leaves out stopped containers without ``-a``), and with
    STATES only the agents in one of them."""
    if states:
        rows = status.with_states(snapshot.rows, states)
        if len(rows) != len(snapshot.rows):
            empty_reason = snapshot.empty_reason or f"no agents in state {', '.join(states)}"
            snapshot = Snapshot(rows, empty_reason, hidden=snapshot.hidden)
    if show_all:
        return snapshot
    rows = [row for row in snapshot.rows if not row.retired]
    hidden = len(snapshot.rows) - len(rows)
    if not hidden:
        return snapshot
    empty_reason = snapshot.empty_reason
    if not rows:
        empty_reason = "no agents running; " + render.stopped_hint(hidden)
    return Snapshot(rows, empty_reason, hidden=hidden)


def _ps_lines(snapshot: Snapshot, *, problems: bool, color: bool) -> List[str]:
    if not snapshot.rows:
        return [snapshot.empty_reason or "no agents"]
    rows = status.problems_first(snapshot.rows) if problems else snapshot.rows
    return [*render.render_table(rows, color=color), render.summary(rows, snapshot.hidden)]


def _ps_json(snapshot: Snapshot, *, socket: str, run_dir, problems: bool, indent) -> str:
    rows = status.problems_first(snapshot.rows) if problems else snapshot.rows
    return json.dumps(status.to_document(rows, socket=socket, run_dir=run_dir), indent=indent,
                      allow_nan=False)


def _show_hosts(hosts, *, socket, run_dir, patterns, show_all, stale_after, as_json, check, problems,
                every, states=()) -> None:
    """fleet ps on HOSTS over ssh (fleet.hosts), merged, with a HOST column.
    STATES filters here, not on the hosts: an older mosaic there has no
    --state; a host's error row is always kept."""
    from mosaic_launch.fleet import hosts as fleet_hosts  # see show

    color = not as_json and render.color_wanted()

    def look():
        results = fleet_hosts.ps_hosts(hosts, socket=socket, run_dir=run_dir, stale_after=stale_after,
                                       patterns=patterns, show_all=show_all)
        if states:
            for result in results:
                result.agents = status.with_states(result.agents, states)
        return results

    def lines(results, indent) -> List[str]:
        if as_json:
            return [json.dumps(fleet_hosts.to_document(results, problems=problems), indent=indent,
                               allow_nan=False)]
        rows = fleet_hosts.merged_rows(results, problems=problems)
        table = render.render_hosts_table(rows, color=color) if rows else []
        return [*table, render.hosts_summary(results)]

    if every is None:
        results = look()
        sys.stdout.write("\n".join(lines(results, 2)) + "\n")
        sys.stdout.flush()
        if check and not fleet_hosts.all_healthy(results):
            raise typer.Exit(1)
        return

    tty = not as_json and sys.stdout.isatty()

    def frame() -> List[str]:
        results = look()
        if as_json:
            return lines(results, None)
        noun = "host" if len(hosts) == 1 else "hosts"
        head = f"every {every:g}s: {len(hosts)} {noun}  {time.strftime('%H:%M:%S')}"
        out = [head, "", *lines(results, None)]
        return out if tty else [*out, ""]

    loop(every, frame, tty=tty)


def loop(interval: float, frame: Callable[[], List[str]], *, tty: bool) -> None:
    """Print FRAME() every INTERVAL seconds until Ctrl-C, or until the reader
    of stdout is gone (cli_support.ClosedPipeGuard); on a terminal, in place
    (cursor home, each line cleared to its end)."""
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
            if getattr(out, "reader_gone", False):
                return  # `fleet ps --watch | head`: nobody is left to watch
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
