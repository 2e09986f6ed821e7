"""What `mosaic fleet ps` knows about each agent, from the run dir and tmux.

The two sources are read once each (one directory listing, one tmux
``list-panes -a`` call, repeated only in the rare case that tmux must be
nudged to reap a pane, see ``tmux.list_panes``); everything else is
computed here, so the rules for ok / stale / dead live in one place:

* heartbeat `corrupt`: the file breaks the record contract (empty, cut,
  binary, too large, unknown status, missing or duplicate keys, a symlink,
  unreadable), or it is another agent's record (``agent=`` is not the
  file's name);
* `missing`: a tmux session with no record;
* `dead`: the record says so, or its pid is gone, or that pid now belongs to a
  process with another start time (PID reuse);
* `restarting`: the agent died and its sidecar waits out the restart
  delay (``--restart``); ``detail`` says when the restart is due. A dead
  agent whose restarts were stopped by the burst limit is `dead`, with
  ``gave up after N restarts`` in ``detail``;
* `stopped`: stopped on purpose (``mosaic stop``, ``fleet down``: the
  record says who and when, in ``detail``), or the sidecar alone was;
* `lost`: the agent lives, but the sidecar that wrote the record does not:
  its pid is gone, or names another process (another start time than the
  record's ``hb_start``; for an older record without it, a process that
  started after the last beat). Found at once, not after 3 intervals;
* `stale`: the agent and its sidecar live but the last beat is older than
  the stale limit (3 intervals, or --stale-after), on the boot clock where
  the record has ``since_boot``; or an older record's beat lies in the
  future (the wall clock was set back: a future beat never means fresh);
* `ok`: otherwise.

The pane of an agent is the first pane (in tmux's order) of the session named
after it: `alive`, `dead` (the process exited and remain-on-exit kept the
pane; `exit_status` or `exit_signal` says how) or `gone` (no such session).
An agent is healthy when its heartbeat is `ok` and its pane `alive`. An
agent that was stopped on purpose and has no session left is `retired`:
not healthy, but never a problem either; ``fleet ps`` lists it only with
``--all``, and ``--check`` never counts it.

The JSON schema (``fleet ps --json``, schema 1)
-----------------------------------------------
One object: ``{"schema": 1, "socket": str, "run_dir": str, "agents": [ROW,
...]}``, rows sorted by name (problems first with ``--problems``). Each ROW
has exactly these keys; a value that is not known is ``null``; durations are
seconds (float, 3 decimals):

==============  =======  =====================================================
key             type     meaning
==============  =======  =====================================================
name            str      agent name (the tmux session, the record's file name)
host            str      the host, for a multi-host ps; null for this host
runtime         str      from the record (``pi``, ``claude``, ``codex``, ...)
pane            str      ``alive``, ``dead`` or ``gone``
exit_status     int      the pane process's exit status, when pane is dead
exit_signal     int      the signal that killed it, when pane is dead
heartbeat       str      ``ok``, ``stale``, ``lost``, ``dead``, ``restarting``,
                         ``stopped``, ``missing`` or ``corrupt``
detail          str      why: the record is corrupt, the sidecar is lost, the
                         beat is in the future; who stopped the agent, when
healthy         bool     heartbeat is ``ok`` and pane is ``alive``
age_s           float    since the last beat
activity_s      float    since the pane last printed (tmux window activity,
                         whole seconds)
pid             int      the agent's pid (the record's; else the pane's)
hb_pid          int      the heartbeat sidecar's pid
uptime_s        float    since the agent's process started
cpu_percent     float    CPU% of the agent's process tree (100 = one core):
                         over its lifetime; with --watch, since the last refresh
rss_bytes       int      resident memory of the agent's process tree
state           str      ``starting``, ``working``, ``waiting`` (for you),
                         ``idle`` or ``unknown``; null when the pane is dead
                         or gone, or the heartbeat dead or stopped
state_source    str      ``hook`` (the CLI's own hooks said so) or ``pane``
                         (a guess from tmux: output, the bell)
state_age_s     float    since the state began (hook: its epoch; pane idle:
                         since the last output; pane waiting: since the bell)
waiting_for     str      ``permission`` or ``question``, when a hook says
                         what the agent waits for
restart         str      the restart policy, ``on-failure`` or ``always``;
                         null for none (``no``)
restarts        int      restarts by the sidecar since the launch; null
                         without a policy
last_exit_status int     how the agent's last run ended, when it exited
last_exit_signal int     ... or the signal that killed it
last_restart    float    unix time of the last restart
restart_at      float    unix time the next restart is due (``restarting``)
gave_up         bool     the burst limit stopped the restarts
==============  =======  =====================================================

How the state is found (the README's table says the same):

* A hook state: the record's (``state=``, copied by the sidecar) while the
  heartbeat is ``ok``; else (the sidecar stale, lost, absent, or too old to
  copy states) the hook's own file, ``<agent>.state``. ``unknown`` is no
  hook state.
* The pane's guess (source ``pane``): a bell rang (``window_bell_flag``,
  with monitor-bell on) and the pane has printed nothing since:
  ``waiting``; printed within PANE_WORKING_S: ``working``; else ``idle``.
* A hook state wins over the pane's, except a hook ``working`` whose pane
  has been silent for more than PANE_SILENT_S: ``idle`` from the pane (no
  hook fires when Claude is interrupted with Esc).
* No state (null) for a dead or gone pane, or a dead or stopped heartbeat.

New keys may be added within schema 1; a change to the meaning or type of an
existing key bumps ``schema``.
"""

from __future__ import annotations

import fnmatch
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

import mosaic_hb
import psutil

from mosaic_launch.errors import ascii_digits
from mosaic_launch.fleet.proctable import ProcessTable
from mosaic_hb.record import STATE_SUFFIX, AgentState, read_state_file, record_state

HEARTBEAT_STATES = ("ok", "stale", "lost", "dead", "restarting", "stopped", "missing", "corrupt")
RESTART_POLICIES = ("on-failure", "always")  # as records and rows say them (no policy: null)
# How far a process's start time (from the kernel, in boot-clock ticks turned
# into wall time) may lie after the last beat of the sidecar it is taken for:
# the conversion moves with NTP's adjustments of the wall clock.
START_SLACK_S = 1.0
# A beat this far in the future is not fresh: the wall clock was set back.
FUTURE_SLACK_S = 1.0
PANE_STATES = ("alive", "dead", "gone")
# The pane's guess at an agent's state: output within this many seconds is
# working, older output idle (window_activity is in whole seconds).
PANE_WORKING_S = 5.0
# A hook `working` whose pane has printed nothing for this long is idle (the
# Esc gap: no hook fires on an interrupt).
PANE_SILENT_S = 30.0
# Heartbeat states that leave an agent without a state.
STATELESS_HEARTBEATS = ("dead", "restarting", "stopped")
SCHEMA_VERSION = 1
RECORD_SUFFIX = ".hb"


class PaneState(Protocol):
    """What fleet ps needs from tmux about one pane (tmux.PaneInfo)."""

    session: str
    pid: int
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    activity: int  # unix seconds of the last output; 0 if unknown
    bell: bool  # a bell rang and nobody has looked at the window since
    bell_at: int  # window_activity when the last bell rang; 0 if unknown


@dataclass
class AgentStatus:
    """One row of `fleet ps`; its JSON form is the documented schema."""

    name: str
    runtime: str | None = None
    pane: str = "gone"                 # one of PANE_STATES
    exit_status: int | None = None     # when pane == "dead"
    exit_signal: int | None = None     # when pane == "dead" by a signal
    heartbeat: str = "missing"         # one of HEARTBEAT_STATES
    age_s: float | None = None         # since the last beat
    activity_s: float | None = None    # since the pane last printed
    pid: int | None = None
    hb_pid: int | None = None
    uptime_s: float | None = None
    cpu_percent: float | None = None   # of the agent's process tree
    rss_bytes: int | None = None       # of the agent's process tree
    detail: str | None = None          # why: corrupt, lost, future beat; who stopped it
    host: str | None = None            # set by a multi-host ps
    state: str | None = None           # one of STATES
    state_source: str | None = None    # one of STATE_SOURCES
    state_age_s: float | None = None   # since the state began
    waiting_for: str | None = None     # one of WAITING_FOR, when waiting
    restart: str | None = None         # one of RESTART_POLICIES; None: no policy
    restarts: int | None = None        # by the sidecar since the launch
    last_exit_status: int | None = None
    last_exit_signal: int | None = None
    last_restart: float | None = None  # unix seconds
    restart_at: float | None = None    # unix seconds, while restarting
    gave_up: bool = False              # the burst limit stopped the restarts
    _pid_start: int = field(default=0, repr=False)  # 0: not known

    @property
    def healthy(self) -> bool:
        return self.heartbeat == "ok" and self.pane == "alive"

    @property
    def retired(self) -> bool:
        """Stopped on purpose, with no session left: nothing to look at."""
        return self.heartbeat == "stopped" and self.pane == "gone"

    @property
    def problem(self) -> bool:
        """Needs its operator: not healthy, and not retired."""
        return not self.healthy and not self.retired

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "host": self.host,
            "runtime": self.runtime,
            "pane": self.pane,
            "exit_status": self.exit_status,
            "exit_signal": self.exit_signal,
            "heartbeat": self.heartbeat,
            "detail": self.detail,
            "healthy": self.healthy,
            "age_s": _seconds(self.age_s),
            "activity_s": _seconds(self.activity_s),
            "pid": self.pid,
            "hb_pid": self.hb_pid,
            "uptime_s": _seconds(self.uptime_s),
            "cpu_percent": self.cpu_percent,
            "rss_bytes": self.rss_bytes,
            "state": self.state,
            "state_source": self.state_source,
            "state_age_s": _seconds(self.state_age_s),
            "waiting_for": self.waiting_for,
            "restart": self.restart,
            "restarts": self.restarts,
            "last_exit_status": self.last_exit_status,
            "last_exit_signal": self.last_exit_signal,
            "last_restart": self.last_restart,
            "restart_at": self.restart_at,
            "gave_up": self.gave_up,
        }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def list_records(run_dir: Path) -> list[tuple[str, Path]]:
    """(agent, path) of every record in RUN_DIR; none if RUN_DIR is missing.
    Temp and lock files, and anything whose name is not an agent name, are
    not agents. Other OSErrors (e.g. permission denied) propagate."""
    return _scan_run_dir(run_dir)[0]


def _scan_run_dir(run_dir: Path) -> tuple[list[tuple[str, Path]], dict[str, Path]]:
    """list_records(RUN_DIR), and the ``.state`` files (agent -> path), from
    the same one listing."""
    try:
        entries = os.scandir(run_dir)
    except FileNotFoundError:
        return [], {}
    found = []
    state_files: dict[str, Path] = {}
    valid = mosaic_hb.valid_agent_name
    with entries:
        for entry in entries:
            name = entry.name
            if name.endswith(STATE_SUFFIX):
                state_files[name[: -len(STATE_SUFFIX)]] = Path(entry.path)
                continue
            if not name.endswith(RECORD_SUFFIX):
                continue
            agent = name[: -len(RECORD_SUFFIX)]
            if valid(agent):
                found.append((agent, Path(entry.path)))
    return found, state_files


def _alive(pid: int, pid_start: int, table: ProcessTable | None = None) -> bool:
    seen = table.alive(pid, pid_start) if table is not None else None
    if seen is not None:
        return seen
    try:
        return mosaic_hb.alive(pid, pid_start)
    except OSError:  # cannot tell (e.g. /proc unreadable): do not call it dead
        return True


def sidecar_problem(record: mosaic_hb.Record, table: ProcessTable | None = None) -> str | None:
    """None if the sidecar that wrote RECORD (``hb_pid``) still runs; else
    why not. Cannot tell (no permission): None.

    A record that names its writer's start time (``hb_start``) is matched
    on it exactly. An older record only has the time of its last beat: a
    pid that now names a process started after it is another process (the
    sidecar was alive at that beat); a wall-clock step of over
    START_SLACK_S can fool that test, which is why sidecars now write
    ``hb_start``.

    TABLE, a look at every process taken for this snapshot, answers without
    a read of its own; a pid it does not hold is looked up afresh (a sidecar
    may have started since the table was taken)."""
    if record.hb_start:
        return _writer_problem(record, table)
    seen = table.processes.get(record.hb_pid) if table is not None else None
    if seen is not None:
        if seen.zombie:
            return _gone(record)
        if seen.created > record.epoch + START_SLACK_S:
            return _reused(record)
        return None
    try:
        proc = psutil.Process(record.hb_pid)
        with proc.oneshot():
            created = proc.create_time()
            zombie = proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return _gone(record)
    except (psutil.Error, OSError):
        return None
    if zombie:
        return _gone(record)
    if created > record.epoch + START_SLACK_S:
        return _reused(record)
    return None


def _writer_problem(record: mosaic_hb.Record, table: ProcessTable | None) -> str | None:
    """sidecar_problem for a record with ``hb_start``: its writer is the
    process with that pid and that start time.

    TABLE can only say yes: a pid that it holds as another process (or
    not at all) is looked up afresh, since the writer may have started on
    that pid after the table was taken (a launch beside fleet ps)."""
    pid = record.hb_pid
    if table is not None and table.alive(pid, record.hb_start):
        return None
    try:
        if mosaic_hb.alive(pid, record.hb_start):
            return None
        running = mosaic_hb.alive(pid)
    except OSError:  # not ours to look at
        return None
    return _reused(record) if running else _gone(record)


def _gone(record: mosaic_hb.Record) -> str:
    return f"its sidecar (pid {record.hb_pid}) is gone"


def _reused(record: mosaic_hb.Record) -> str:
    return f"its sidecar's pid {record.hb_pid} now names another process"


def _heartbeat_state(record: mosaic_hb.Record, now: float, stale_after: float | None,
                     table: ProcessTable | None = None) -> tuple[str, str | None, float]:
    """The heartbeat state of a valid record, the detail that goes with it,
    and the age of its last beat. The age is read on the boot clock
    (Record.beat_age) only once the record's sidecar is found running, so
    on this boot: a record left from an earlier boot has a since_boot on
    that boot's clock, which this one may have passed (a beat of days ago
    would look seconds old). Otherwise it is read on the wall clock."""
    wall_age = now - record.epoch
    if record.status == "stopped":
        who = record.extra.get("stopped_by")
        return "stopped", f"stopped by {who}" if who else "the sidecar was stopped", wall_age
    if record.status == "dead" and record.extra.get("gave_up") == "1":
        return "dead", f"gave up after {record.extra.get('restarts', '?')} restarts", wall_age
    if record.status == "dead" and "restart_at" in record.extra:
        lost = sidecar_problem(record, table)
        if lost:
            return "dead", f"{lost}: no restart will come", wall_age
        due = _number(record.extra.get("restart_at"))
        return ("restarting", f"restart in {max(0.0, due - now):.1f}s" if due is not None else None,
                record.beat_age(now))
    if record.status != "ok":
        return record.status, None, wall_age
    if not _alive(record.pid, record.pid_start, table):
        return "dead", None, wall_age
    lost = sidecar_problem(record, table)
    if lost:
        return "lost", lost, wall_age
    age = record.beat_age(now)
    if age < -FUTURE_SLACK_S:
        return "stale", f"the last beat is {-age:.0f}s in the future (was the clock set back?)", age
    return ("stale" if age > record.stale_limit(stale_after) else "ok"), None, age


def _number(text: str | None) -> float | None:
    """TEXT (a record's value) as a finite non-negative number, else None."""
    try:
        value = float(text) if text is not None and ascii_digits(text.replace(".", "", 1)) else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _restart_facts(row: AgentStatus, record: mosaic_hb.Record) -> None:
    """The restart keys of RECORD (a sidecar with a restart policy) in ROW;
    a value that is not what the sidecar writes is left out."""
    extra = record.extra
    if extra.get("restart") not in RESTART_POLICIES:
        return
    row.restart = extra["restart"]
    restarts = extra.get("restarts", "")
    row.restarts = int(restarts) if ascii_digits(restarts) and len(restarts) <= 18 else None
    for key in ("last_exit_status", "last_exit_signal"):
        value = extra.get(key, "")
        if ascii_digits(value) and len(value) <= 3:
            setattr(row, key, int(value))
    row.last_restart = _number(extra.get("last_restart"))
    row.restart_at = _number(extra.get("restart_at")) if record.status == "dead" else None
    row.gave_up = extra.get("gave_up") == "1"


def _read(path: Path) -> mosaic_hb.Record | str | None:
    """The record at PATH; a string saying why it is corrupt; None if it
    vanished since the listing."""
    try:
        return mosaic_hb.read(path)
    except FileNotFoundError:
        return None
    except mosaic_hb.RecordError as exc:
        return str(exc) or "corrupt"
    except (OSError, ValueError) as exc:  # read() promises RecordError; be safe anyway
        return f"unreadable: {getattr(exc, 'strerror', None) or exc}"


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True if NAME matches any of the glob PATTERNS (or there are none)."""
    patterns = list(patterns)
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def collect(
    run_dir: Path,
    panes: Iterable[PaneState],
    *,
    stale_after: float | None = None,
    now: float | None = None,
    patterns: Iterable[str] = (),
    table: ProcessTable | None = None,
) -> list[AgentStatus]:
    """One AgentStatus per agent known to the run dir or to tmux (sessions
    named like agents), sorted by name; only names matching PATTERNS."""
    now = time.time() if now is None else now
    patterns = list(patterns)
    rows: dict[str, AgentStatus] = {}
    hook_states: dict[str, AgentState] = {}  # from records written by a live sidecar
    agent_panes: dict[str, PaneState] = {}
    # The .state files are known from the same listing: an agent without
    # one costs no failed open (a file created since is read next time).
    records, state_files = _scan_run_dir(run_dir)
    for agent, path in records:
        if patterns and not matches(agent, patterns):
            continue
        record = _read(path)
        if record is None:  # removed between listing and reading
            continue
        row = rows[agent] = AgentStatus(name=agent)
        if isinstance(record, str):
            row.heartbeat = "corrupt"
            row.detail = record
            continue
        if record.agent != agent:  # a copied or renamed file: whose is it?
            row.heartbeat = "corrupt"
            row.detail = f"the record is agent {record.agent}'s, not {agent}'s"
            continue
        row.runtime = record.runtime
        row.pid = record.pid
        row.hb_pid = record.hb_pid
        row._pid_start = record.pid_start
        row.heartbeat, row.detail, age = _heartbeat_state(record, now, stale_after, table)
        row.age_s = max(0.0, age)
        _restart_facts(row, record)
        hook = record_state(record) if row.heartbeat == "ok" else None
        if hook is not None and hook.state != "unknown":
            hook_states[agent] = hook
    seen_sessions = set()
    for pane in panes:
        # The agent runs in its session's first pane; others are the user's.
        session = pane.session
        if session in seen_sessions:
            continue
        seen_sessions.add(session)
        if not mosaic_hb.valid_agent_name(session) or (patterns and not matches(session, patterns)):
            continue
        row = rows.get(session)
        if row is None:
            row = rows[session] = AgentStatus(name=session)
        agent_panes[session] = pane
        if pane.dead:
            row.pane = "dead"
            row.exit_status = pane.dead_status
            row.exit_signal = pane.dead_signal
        else:
            row.pane = "alive"
            if row.pid is None:
                row.pid = pane.pid
                row._pid_start = 0
        if pane.activity:
            row.activity_s = max(0.0, now - pane.activity)
    for row in rows.values():
        _fill_state(row, state_files.get(row.name), hook_states.get(row.name), agent_panes.get(row.name), now)
    return sorted(rows.values(), key=lambda row: row.name)


def _state_file(path: Path, agent: str) -> AgentState | None:
    """The state in AGENT's own ``.state`` file at PATH (written by its
    hooks); None if it is gone, or not valid (never a reason to fail ps)."""
    try:
        return read_state_file(path, agent)
    except (OSError, ValueError):  # missing, a symlink, unreadable, malformed, another agent's
        return None


def _fill_state(row: AgentStatus, state_path: Path | None, hook: AgentState | None, pane: PaneState | None,
                now: float) -> None:
    """ROW's state, by the rules of the module doc. HOOK: the state in the
    record of a live sidecar, if any. STATE_PATH: the agent's .state file,
    if the run dir's listing saw one."""
    if pane is None or pane.dead or row.heartbeat in STATELESS_HEARTBEATS:
        return
    if hook is None and state_path is not None:
        hook = _state_file(state_path, row.name)
    if hook is not None and hook.state == "unknown":
        hook = None
    silent = max(0.0, now - pane.activity) if pane.activity else None
    if hook is not None:
        # The Esc gap: silent since both the last output and the hook itself.
        # A hook epoch in the future (the clock set back since) would hold
        # the state until the clock caught up: only the pane counts then.
        hook_since = hook.epoch if hook.epoch and hook.epoch <= now + FUTURE_SLACK_S else 0.0
        since = max(pane.activity or 0.0, hook_since)
        esc_gap = hook.state == "working" and silent is not None and now - since > PANE_SILENT_S
        if not esc_gap:
            row.state, row.state_source, row.waiting_for = hook.state, hook.source, hook.waiting_for
            row.state_age_s = None if hook.epoch is None else max(0.0, now - hook.epoch)
            return
    row.state_source = "pane"
    if pane.bell and not (pane.bell_at and pane.activity > pane.bell_at):
        # A bell, and no output after it (to the second): the agent asks.
        row.state = "waiting"
        row.state_age_s = max(0.0, now - pane.bell_at) if pane.bell_at else None
    elif silent is None:
        row.state, row.state_source = "unknown", None
    elif silent <= PANE_WORKING_S:
        row.state = "working"
    else:
        row.state, row.state_age_s = "idle", silent


def problems_first(rows: list[AgentStatus]) -> list[AgentStatus]:
    """ROWS (sorted by name) with the agents waiting for their operator
    first, then the other problems, each group by name."""
    waiting = [row for row in rows if row.state == "waiting"]
    rest = [row for row in rows if row.state != "waiting"]
    return waiting + [row for row in rest if row.problem] + [row for row in rest if not row.problem]


def with_states(rows: list[AgentStatus], states: Iterable[str]) -> list[AgentStatus]:
    """The ROWS whose state is one of STATES (all of them if none given)."""
    wanted = set(states)
    return [row for row in rows if not wanted or row.state in wanted]


def needs_sampling(row: AgentStatus) -> bool:
    """Whether the row's pid is worth asking psutil about."""
    return row.pid is not None and row.heartbeat not in ("dead", "corrupt") and row.pane != "dead"


class ProcessTreeSampler:
    """CPU% and RSS of each agent's process tree.

    Every process on the host is looked at once per snapshot (a
    ``proctable.ProcessTable``), and each agent's tree is then read off that
    table: the cost is one pass plus a few lookups per agent, not a scan per
    agent.

    A single look gives CPU% as CPU time over the agent's lifetime (as ps(1)
    does); a sampler kept across refreshes (`--watch`) gives the CPU% since
    the previous refresh (as top(1) does)."""

    def __init__(self) -> None:
        self._previous: dict[tuple[int, float], tuple[float, float]] = {}  # (pid, created) -> (wall, cpu s)

    def fill_all(self, rows: Iterable[AgentStatus], now: float | None = None,
                 table: ProcessTable | None = None) -> None:
        rows = [row for row in rows if needs_sampling(row)]
        if not rows:
            return
        if table is None:
            table = ProcessTable.take()
        wall = time.time() if now is None else now
        for row in rows:
            self._fill(row, table, wall)

    def _fill(self, row: AgentStatus, table: ProcessTable, wall: float) -> None:
        root = table.processes.get(row.pid)
        if root is None:
            return
        if row._pid_start and not _alive(row.pid, row._pid_start, table):
            return  # not our agent any more
        cpu_seconds, rss = table.usage(row.pid)
        row.uptime_s = max(0.0, wall - root.created)
        row.rss_bytes = rss
        key = (row.pid, round(root.created, 2))
        previous = self._previous.get(key)
        self._previous[key] = (wall, cpu_seconds)
        if previous and wall > previous[0]:
            row.cpu_percent = round(100.0 * max(0.0, cpu_seconds - previous[1]) / (wall - previous[0]), 1)
        elif row.uptime_s > 0:
            row.cpu_percent = round(100.0 * cpu_seconds / row.uptime_s, 1)


def to_document(rows: list[AgentStatus], *, socket: str, run_dir: Path) -> dict:
    """The whole `fleet ps --json` document (schema above)."""
    return {
        "schema": SCHEMA_VERSION,
        "socket": socket,
        "run_dir": str(run_dir),
        "agents": [row.to_json() for row in rows],
    }
