"""`mosaic wait`: block until agents reach a state.

What an agent's state is comes from ``fleet.status`` (the same rules as
``fleet ps``, so that `wait` and `ps` never disagree): ``idle``, ``waiting``
and ``working`` are its STATE column; ``dead`` is a dead heartbeat or a dead
pane; ``stopped`` is a heartbeat stopped on purpose.

How it waits without busy-polling. Every change that matters reaches the
run dir as a file: a hook writes ``AGENT.state`` and its sidecar rewrites
``AGENT.hb`` at once (SIGUSR2); a death is written within milliseconds by the
sidecar; ``mosaic stop`` writes the stopped record. So `wait` sleeps on
those files:

* on Linux, on an inotify watch of the run dir (through ctypes: no
  dependency), woken by the change itself;
* elsewhere, or with ``MOSAIC_WAIT_WATCH=poll``, by looking at the files'
  stat every POLL_S (10 wake-ups a second, a few stat calls each).

Either way the whole state (one ``tmux list-panes`` call, the records) is
evaluated on each change, and at least every EVALUATE_EVERY_S for what only
tmux knows (the pane's guess of a state, from its output; a pane that died
with no sidecar watching it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mosaic_launch import tmux
from mosaic_launch.completion import WAIT_STATES
from mosaic_launch.errors import MosaicError, UsageError, show
from mosaic_launch.fleet import status

LIVE_STATES = ("idle", "waiting", "working")
WATCH_ENV = "MOSAIC_WAIT_WATCH"  # "poll": the stat watcher, even where inotify works
POLL_S = 0.1
# How far a state's start may seem to lie before it began: tmux keeps the
# times of output and bells in whole seconds; a hook's epoch has milliseconds.
PANE_SLACK_S = 1.0
HOOK_SLACK_S = 0.01
EVALUATE_EVERY_S = 1.0
# The least time between two evaluations. Every beat rewrites a record, so
# inotify wakes on each (ten agents beating every 0.2 s: 50 a second, each
# evaluation a tmux call and the records); the events of this gap are
# taken together, and a change is still seen within this much.
MIN_EVALUATE_GAP_S = 0.05


def check_state(value: str, option: str = "--for") -> str:
    if value not in WAIT_STATES:
        raise UsageError(f"invalid {option} {show(value)}: choose one of {', '.join(WAIT_STATES)}")
    return value


def status_of(row: status.AgentStatus | None) -> str:
    """What `wait` compares with the wanted state: one of WAIT_STATES, a
    state of the agent that is none of them (``starting``, ``unknown``), or
    ``gone`` (no record and no session)."""
    if row is None:
        return "gone"
    if row.heartbeat == "stopped":
        return "stopped"
    if row.heartbeat == "dead" or row.pane == "dead":
        return "dead"
    if row.pane == "gone":
        return "no session"
    return row.state or "unknown"


def began_since(row: status.AgentStatus, since: float, now: float) -> bool:
    """ROW's live state began at or after SINCE (unix time): a hook's state
    by its epoch; the pane's guess by the last output (or bell) that made
    it, give or take the whole second tmux keeps those times in."""
    age = row.state_age_s if row.state_age_s is not None else row.activity_s
    if age is None:
        return False
    slack = PANE_SLACK_S if row.state_source == "pane" else HOOK_SLACK_S
    return now - age >= since - slack


def hopeless(current: str, wanted: str) -> bool:
    """An agent in state CURRENT can no longer reach WANTED (short of a
    relaunch): a dead or stopped agent never becomes idle, and an agent
    with no record and no session becomes nothing."""
    return current == "gone" or (wanted in LIVE_STATES and current in ("dead", "stopped"))


@dataclass
class WaitOutcome:
    reached: list[str]  # the agents in the wanted state, when it ended
    done: bool  # the condition was met
    message: str | None = None  # why not


class _StatWatcher:
    """Wakes when one of FILES changes (inode, size, mtime), looking every POLL_S."""

    def __init__(self, files: list[Path]):
        self._files = files
        self._last = self._look()

    def _look(self):
        seen = []
        for path in self._files:
            try:
                st = os.stat(path, follow_symlinks=False)
                seen.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                seen.append(None)
        return seen

    def wait(self, timeout: float) -> bool:
        """True as soon as a file changed; False after TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while True:
            now = self._look()
            if now != self._last:
                self._last = now
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(POLL_S, left))

    def close(self) -> None:
        pass


# <sys/inotify.h>
_IN_ATTRIB, _IN_CLOSE_WRITE, _IN_MOVED_FROM, _IN_MOVED_TO = 0x4, 0x8, 0x40, 0x80
_IN_CREATE, _IN_DELETE, _IN_DELETE_SELF, _IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
_IN_Q_OVERFLOW, _IN_IGNORED = 0x4000, 0x8000
_IN_ONLYDIR, _IN_DONT_FOLLOW = 0x01000000, 0x02000000
_WATCH_MASK = (_IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
               | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR | _IN_DONT_FOLLOW)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


class _InotifyWatcher:
    """Wakes on an inotify event for one of NAMES in DIRECTORY. If the
    directory goes (deleted, moved), it goes on as a _StatWatcher."""

    def __init__(self, directory: Path, names: set[str], fallback: _StatWatcher):
        self._names = {os.fsencode(n) for n in names}
        self._fallback = fallback
        self._fd = -1
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        if libc.inotify_add_watch(fd, os.fsencode(directory), _WATCH_MASK) < 0:
            code = ctypes.get_errno()
            os.close(fd)
            raise OSError(code, os.strerror(code))
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def _relevant(self) -> bool:
        """Read the queued events: True if one is about a watched file, or
        the directory itself (then the watch is over)."""
        hit = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return hit
            at = 0
            while at + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, at)
                name = data[at + _EVENT.size: at + _EVENT.size + length].rstrip(b"\0")
                at += _EVENT.size + length
                if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED):
                    self._stop_watching()
                    return True
                if mask & _IN_Q_OVERFLOW or name in self._names:
                    hit = True

    def _stop_watching(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._fd >= 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._poll.poll(max(1, int(left * 1000 + 0.999))) and self._relevant():
                return True
        return self._fallback.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._stop_watching()


def watcher(run_dir: Path, names: list[str]):
    """The watcher of the files of agents NAMES: inotify on Linux, unless
    MOSAIC_WAIT_WATCH=poll or inotify cannot be had; else stat polling."""
    files = [run_dir / f"{name}{suffix}" for name in names
             for suffix in (status.RECORD_SUFFIX, status.STATE_SUFFIX)]
    fallback = _StatWatcher(files)
    if sys.platform.startswith("linux") and os.environ.get(WATCH_ENV) != "poll":
        try:
            return _InotifyWatcher(run_dir, {f.name for f in files}, fallback)
        except (OSError, AttributeError):  # no run dir yet, no inotify (a sandbox, a libc without it)
            pass
    return fallback


def _rows(socket: str, run_dir: Path, patterns: list[str], now: float | None = None
          ) -> dict[str, status.AgentStatus]:
    try:
        panes = tmux.list_panes(socket)
    except tmux.TmuxNotInstalled:
        panes = []
    try:
        rows = status.collect(run_dir, panes, patterns=patterns, now=now)
    except OSError as exc:
        raise MosaicError(f"cannot read run dir {run_dir}: {exc.strerror or exc}") from None
    return {row.name: row for row in rows}


def resolve_agents(socket: str, run_dir: Path, patterns: list[str]) -> list[str]:
    """The agents NAMES (names or globs) stand for now, known to the run dir
    or to tmux; MosaicError naming those that match nothing."""
    from mosaic_launch.fleet.snapshot import run_dir_problem

    problem = run_dir_problem(run_dir)
    if problem:
        raise MosaicError(problem)
    rows = _rows(socket, run_dir, patterns)
    missing = [p for p in patterns if not any(status.matches(name, [p]) for name in rows)]
    if missing:
        raise MosaicError(f"no agent {' '.join(missing)}: no record in {run_dir} and no session on "
                          f"tmux socket {socket}")
    return sorted(rows)


def wait_for(socket: str, run_dir: Path, agents: list[str], wanted: str, *,
             any_agent: bool = False, timeout: float | None = None,
             since: float | dict[str, float] | None = None) -> WaitOutcome:
    """Block until every agent of AGENTS (with ANY_AGENT: one of them) is in
    state WANTED, TIMEOUT seconds pass (None: no limit), or that can no
    longer happen (see hopeless). With SINCE (unix time), a live state
    counts only if it began then or later (see began_since; a dict: each
    agent's own time, missing ones not checked): the turn that
    a send at SINCE started, not the one before it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    watch = watcher(run_dir, agents)
    try:
        while True:
            looked = time.monotonic()
            now = time.time()
            rows = _rows(socket, run_dir, agents, now)
            current = {name: status_of(rows.get(name)) for name in agents}
            if since is not None and wanted in LIVE_STATES:
                for name in agents:
                    began = since.get(name) if isinstance(since, dict) else since
                    if began is None:
                        continue
                    if current[name] == wanted and not began_since(rows[name], began, now):
                        current[name] = f"{wanted} since before the send"
            reached = [name for name in agents if current[name] == wanted]
            if reached and (any_agent or len(reached) == len(agents)):
                return WaitOutcome(reached, True)
            blocked = [name for name in agents if hopeless(current[name], wanted)]
            if blocked and (not any_agent or len(blocked) == len(agents)):
                what = ", ".join(f"{name} is {current[name]}" for name in blocked)
                return WaitOutcome(reached, False, f"{what}: it cannot become {wanted}"
                                   if len(blocked) == 1 else f"{what}: they cannot become {wanted}")
            left = EVALUATE_EVERY_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                others = ", ".join(f"{name} is {current[name]}" for name in agents if name not in reached)
                return WaitOutcome(reached, False, f"timed out after {timeout:g}s waiting for {wanted}: {others}")
            if watch.wait(min(EVALUATE_EVERY_S, left)):
                gap = MIN_EVALUATE_GAP_S - (time.monotonic() - looked)
                if deadline is not None:
                    gap = min(gap, deadline - time.monotonic())
                if gap > 0:
                    time.sleep(gap)
    finally:
        watch.close()
