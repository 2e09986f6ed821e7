"""What ``mosaic fleet ps`` knows about the fleet at one moment.

``take_snapshot`` reads the run dir (one listing, after checking that it is
safe to read) and tmux (one ``list-panes -a`` call), applies the state rules
of ``status``, and samples each live agent's process tree. A missing run dir
or tmux server is an empty fleet, with the reason kept for the empty table.
"""

from __future__ import annotations

import errno
import os
from typing import List, Optional

import mosaic_hb

from mosaic_launch import tmux
from mosaic_launch.cli_support import say_warning
from mosaic_launch.errors import MosaicError
from mosaic_launch.fleet import status
from mosaic_launch.fleet.proctable import ProcessTable


class Snapshot:
    """One look at the fleet: the rows, and why the fleet is empty if it is."""

    def __init__(self, rows, empty_reason: Optional[str], hidden: int = 0):
        self.rows = rows
        self.empty_reason = empty_reason
        self.hidden = hidden  # agents stopped on purpose, left out of rows


def run_dir_problem(run_dir) -> Optional[str]:
    """None if RUN_DIR can be read safely or is missing; else why not (like
    ssh for ~/.ssh: a symlink, another owner, writable by others)."""
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


def take_snapshot(socket: str, run_dir, *, patterns=(), stale_after=None, sampler=None) -> Snapshot:
    """The fleet now. Raises MosaicError for an unsafe run dir or a failing
    tmux; a missing run dir or tmux server is an empty fleet."""
    exists = os.path.lexists(run_dir)
    if exists:
        problem = run_dir_problem(run_dir)
        if problem:
            raise MosaicError(problem)
    try:
        panes = tmux.list_panes(socket)
    except tmux.TmuxNotInstalled:
        if not _warned_no_tmux:  # once, not at every --watch refresh
            _warned_no_tmux.append(True)
            say_warning("tmux not found on PATH; showing the records only, every pane as gone")
        panes = []
    # One look at every process serves the sidecar checks and the resource
    # columns alike (fleet/proctable.py).
    table = ProcessTable.take()
    try:
        rows = status.collect(run_dir, panes, stale_after=stale_after, patterns=patterns, table=table)
    except OSError as exc:
        raise MosaicError(f"cannot read run dir {run_dir}: {exc.strerror or exc}") from None
    if sampler is None and any(status.needs_sampling(row) for row in rows):
        sampler = status.ProcessTreeSampler()
    if sampler is not None:
        sampler.fill_all(rows, table=table)
    empty_reason = None
    if not rows:
        records = f"run dir {run_dir} does not exist" if not exists else f"no records in {run_dir}"
        sessions = "no tmux server" if not panes else "no agent sessions"
        empty_reason = f"no agents: {records}; {sessions} on socket {socket}"
        if patterns:
            empty_reason = f"no agents match {' '.join(patterns)} (run dir {run_dir}, socket {socket})"
    return Snapshot(rows, empty_reason)
