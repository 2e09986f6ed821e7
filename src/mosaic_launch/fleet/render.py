"""Every table, duration, size and summary that ``mosaic fleet`` prints.

* ``fleet ps``: ``render_table`` (one row per agent), ``render_hosts_table``
  (the same with a HOST column, for ``--host``), ``summary`` and
  ``hosts_summary`` (the last line);
* ``fleet up`` and ``fleet down``: ``up_outcome`` and ``down_outcome`` (one
  line per agent) and ``tally`` (the last line).

Colour is decided in one place, ``color_wanted()``, and applied by one
function, ``_paint``; it never changes a column's width.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import TYPE_CHECKING, Mapping, Sequence

from mosaic_launch import launch
from mosaic_launch.fleet.status import HEARTBEAT_STATES, AgentStatus

if TYPE_CHECKING:  # hosts (ssh, threads) is loaded only by --host: fleet up and down never need it
    from mosaic_launch.fleet.hosts import HostResult


def color_wanted() -> bool:
    """Colour only on a terminal, and never with NO_COLOR (no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


# -- fleet ps ------------------------------------------------------------------

COLUMNS = ("NAME", "RUNTIME", "PANE", "HB", "STATE", "RESTARTS", "AGE", "ACTIVITY", "PID", "UPTIME", "CPU%",
           "RSS")
_RIGHT = {"AGE", "ACTIVITY", "PID", "UPTIME", "CPU%", "RSS"}

_RESET = "\x1b[0m"
_STYLES = {"green": "\x1b[32m", "yellow": "\x1b[33m", "red": "\x1b[31m", "dim": "\x1b[2m", "bold": "\x1b[1m"}
_HB_STYLE = {"ok": "green", "stale": "yellow", "stopped": "yellow", "missing": "yellow",
             "restarting": "yellow", "dead": "red", "corrupt": "red"}
_PANE_STYLE = {"alive": "green", "dead": "red", "gone": "dim"}
_STATE_STYLE = {"waiting": "yellow", "working": "green"}
# Marks a state guessed from the pane (tmux's output and bell), not told by a hook.
PANE_GUESS_MARK = "~"


def duration(seconds: float | None) -> str:
    """850ms, 12s, 4m10s, 3h02m, 2d04h; '-' for unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def size(nbytes: int | None) -> str:
    """12.3M, 512K, 1.2G; '-' for unknown."""
    if nbytes is None:
        return "-"
    value = float(nbytes)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1000 or unit == "T":
            break
        value /= 1024
    if unit == "B":
        return f"{int(value)}B"
    return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"


def pane_text(row: AgentStatus) -> str:
    """The PANE column: alive, dead (exit N), dead (signal N) or gone."""
    if row.pane != "dead":
        return row.pane
    if row.exit_signal is not None:
        return f"dead (signal {row.exit_signal})"
    if row.exit_status is not None:
        return f"dead (exit {row.exit_status})"
    return "dead"


def state_text(row: AgentStatus) -> str:
    """The STATE column: ``working``, ``waiting:permission`` (what a hook
    says it waits for), ``idle~`` (``~``: a guess from the pane); '-' for none.
    One word, so that the table splits on whitespace."""
    if row.state is None:
        return "-"
    text = row.state
    if row.waiting_for:
        text += f":{row.waiting_for}"
    if row.state_source == "pane":
        text += PANE_GUESS_MARK
    return text


def restarts_text(row: AgentStatus, now: float | None = None) -> str:
    """The RESTARTS column, as kubectl's: ``3 (2m10s ago)``, ``5 (gave up)``,
    ``0``; '-' for an agent without a restart policy."""
    if row.restarts is None:
        return "-"
    if row.gave_up:
        return f"{row.restarts} (gave up)"
    if row.restarts and row.last_restart is not None:
        ago = duration((time.time() if now is None else now) - row.last_restart)
        return f"{row.restarts} ({ago} ago)"
    return str(row.restarts)


def row_cells(row: AgentStatus) -> tuple[str, ...]:
    return (
        row.name,
        row.runtime or "-",
        pane_text(row),
        row.heartbeat,
        state_text(row),
        restarts_text(row),
        duration(row.age_s),
        duration(row.activity_s),
        "-" if row.pid is None else str(row.pid),
        duration(row.uptime_s),
        "-" if row.cpu_percent is None else f"{row.cpu_percent:.1f}",
        size(row.rss_bytes),
    )


def _paint(text: str, style: str | None, color: bool) -> str:
    if not color or not style:
        return text
    return f"{_STYLES[style]}{text}{_RESET}"


def render_table(rows: list[AgentStatus], *, color: bool = False) -> list[str]:
    """The table's lines: a header, then one line per row. Colours (only if
    COLOR) never change the column widths."""
    cells = [row_cells(row) for row in rows]
    widths = [max([len(title)] + [len(c[i]) for c in cells]) for i, title in enumerate(COLUMNS)]

    def line(values: tuple[str, ...], styles: tuple[str | None, ...]) -> str:
        parts = []
        for title, value, width, style in zip(COLUMNS, values, widths, styles):
            padded = value.rjust(width) if title in _RIGHT else value.ljust(width)
            parts.append(_paint(padded, style, color))
        return "  ".join(parts).rstrip()

    lines = [line(COLUMNS, ("bold",) * len(COLUMNS))]
    for row, values in zip(rows, cells):
        styles: list[str | None] = [None] * len(COLUMNS)
        styles[0] = "bold" if row.problem else None
        styles[2] = _PANE_STYLE.get(row.pane)
        styles[3] = _HB_STYLE.get(row.heartbeat)
        styles[4] = _STATE_STYLE.get(row.state or "")
        styles[5] = "red" if row.gave_up else None
        lines.append(line(values, tuple(styles)))
    return lines


def summary(rows: list[AgentStatus], hidden: int = 0) -> str:
    """'3 agents: 2 ok, 1 dead; 1 not healthy; 1 waiting' (by heartbeat
    state; then how many wait for their operator), then how many agents
    stopped on purpose are HIDDEN (listed with --all)."""
    counts = {state: 0 for state in HEARTBEAT_STATES}
    for row in rows:
        counts[row.heartbeat] = counts.get(row.heartbeat, 0) + 1
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    unhealthy = sum(row.problem for row in rows)
    noun = "agent" if len(rows) == 1 else "agents"
    text = f"{len(rows)} {noun}: {', '.join(parts)}"
    if unhealthy:
        text += f"; {unhealthy} not healthy"
    waiting = sum(row.state == "waiting" for row in rows)
    if waiting:
        text += f"; {waiting} waiting"
    return text + stopped_hint(hidden, "; ")


def stopped_hint(hidden: int, lead: str = "") -> str:
    """The note for agents stopped on purpose that ps does not list."""
    if not hidden:
        return ""
    return f"{lead}{hidden} stopped on purpose, not listed (--all lists them)"


def render_hosts_table(rows: Sequence[AgentStatus], *, color: bool = False) -> list[str]:
    """fleet ps's table with a HOST column first; an error row is its host
    and the error, across the other columns."""
    from mosaic_launch.fleet.hosts import is_error

    agent_rows = [row for row in rows if not is_error(row)]
    table = render_table(agent_rows, color=color)
    width = max([len("HOST")] + [len(row.host or "-") for row in rows])
    lines = [f"{_paint('HOST'.ljust(width), 'bold', color)}  {table[0]}"]
    body = iter(table[1:])
    for row in rows:
        host = (row.host or "-").ljust(width)
        if is_error(row):
            lines.append(f"{host}  {_paint(f'error: {row.detail}', 'red', color)}")
        else:
            lines.append(f"{host}  {next(body)}")
    return lines


def hosts_summary(results: Sequence[HostResult]) -> str:
    """'4 agents: 3 ok, 1 dead; 2 hosts, 1 not reached'."""
    agents = [row for result in results if result.error is None for row in result.agents]
    failed = sum(result.error is not None for result in results)
    text = summary(agents) if agents else "0 agents"
    noun = "host" if len(results) == 1 else "hosts"
    text += f"; {len(results)} {noun}"
    if failed:
        text += f", {failed} not reached"
    return text


# -- fleet up and down ---------------------------------------------------------

FAILED = "failed"
UP_COUNTS = ("launched", "already running", FAILED)
DOWN_COUNTS = ("stopped", "not running", FAILED)


def up_outcome(result: launch.LaunchResult) -> tuple[str, str]:
    """(what fleet up counts RESULT as, its line after ``NAME: ``)."""
    pids = result.pids()
    detail = f" ({', '.join(pids)})" if pids else ""
    if result.outcome == launch.LAUNCHED and result.sidecar_pid is None:
        return FAILED, f"failed: launched, but no heartbeat sidecar runs{detail}"
    if result.outcome == launch.LAUNCHED:
        return "launched", f"launched{detail}"
    if result.outcome == launch.HEARTBEAT_RESTARTED:
        parts = [part for part in (result.restart_reason(), ", ".join(pids)) if part]
        detail = f" ({'; '.join(parts)})" if parts else ""
        return "already running", f"already running, heartbeat restarted{detail}"
    return "already running", f"already running{detail}"


def down_outcome(result: launch.StopResult) -> tuple[str, str]:
    """(what fleet down counts RESULT as, its line after ``NAME: ``)."""
    if result.stopped:
        how = " (it had already exited)" if result.was_dead else ""
        return "stopped", f"stopped{how}"
    return FAILED, f"failed: pid {result.pane_pid} is still alive"


def tally(verb: str, counts: Mapping[str, int]) -> str:
    """'fleet up: 2 launched, 0 already running, 1 failed'."""
    return f"fleet {verb}: " + ", ".join(f"{n} {what}" for what, n in counts.items())
