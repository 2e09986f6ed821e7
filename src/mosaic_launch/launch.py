"""Launching, attaching to and stopping one agent.

Plain functions over ``settings.LaunchSettings`` that return result dataclasses
and raise ``MosaicError`` subclasses; they print nothing, so ``mosaic fleet``
runs the very same code path for each of its agents.

The agent is the pane's process: ``bash -c 'exec COMMAND'`` (/bin/sh
without bash; see ``shellcmd``, also for compound commands). One tmux call creates the session,
prints the pane pid and sets ``remain-on-exit``; the heartbeat sidecar
(``mosaic_hb.spawn``) then watches that pid.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import mosaic_hb
from mosaic_hb.record import format_record

from mosaic_launch import hooks, logs, runfiles, shellcmd, tmux
from mosaic_launch.errors import MosaicError, NotRunning, UsageError, one_line
from mosaic_launch.fleet.status import sidecar_problem
from mosaic_launch.settings import (DEFAULT_SOCKET, ENV_NAME, ENV_RUN_DIR, ENV_RUNTIME, ENV_TEXTFILE_DIR,
                                    LaunchSettings, lookup)

LAUNCHED = "launched"
ALREADY_RUNNING = "already running"
HEARTBEAT_RESTARTED = "heartbeat restarted"

LOCK_WAIT = 30.0  # seconds a launch waits for a concurrent launch of the same agent
MISSING = "missing"
OTHER_PID = "for another pid"
STOP_TIMEOUT = 10.0  # seconds `stop` waits for the agent and its record
SIDECAR_KILL_WAIT = 1.0  # seconds to wait for a sidecar killed because it missed the stop


@dataclass(frozen=True)
class LaunchResult:
    name: str
    outcome: str  # LAUNCHED | ALREADY_RUNNING | HEARTBEAT_RESTARTED
    socket: str
    pane_pid: int | None  # None only if a concurrent launch won and its pane is gone
    sidecar_pid: int | None  # None: not started (see warnings) or not known
    run_dir: Path
    hb_file: Path
    attach_command: str
    warnings: tuple[str, ...] = ()
    # HEARTBEAT_RESTARTED: what was wrong with the heartbeat (heartbeat_problem)
    heartbeat_was: str | None = None

    def describe(self) -> str:
        """The one line ``mosaic launch`` prints."""
        if self.outcome == LAUNCHED:
            head = f"launched {self.name}"
        elif self.outcome == HEARTBEAT_RESTARTED:
            reason = self.restart_reason()
            head = f"{self.name} already running, heartbeat restarted" + (f" ({reason})" if reason else "")
        else:
            head = f"{self.name} already running"
        facts = self.pids()
        if self.sidecar_pid is None and self.outcome == LAUNCHED:
            facts.append("no sidecar")
        detail = f": {', '.join(facts)}" if facts else ""
        return f"{head}{detail}; attach: {self.attach_command}"

    def restart_reason(self) -> str | None:
        """'it was stale': why the heartbeat was restarted; None if it was not."""
        if self.outcome != HEARTBEAT_RESTARTED or self.heartbeat_was is None:
            return None
        return f"it was {self.heartbeat_was}"

    def pids(self) -> list[str]:
        """``pane pid N`` and ``sidecar pid N``, each if known (for
        ``describe`` and ``mosaic fleet up``'s lines)."""
        facts = []
        if self.pane_pid is not None:
            facts.append(f"pane pid {self.pane_pid}")
        if self.sidecar_pid is not None:
            facts.append(f"sidecar pid {self.sidecar_pid}")
        return facts

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "socket": self.socket,
            "pane_pid": self.pane_pid,
            "sidecar_pid": self.sidecar_pid,
            "run_dir": str(self.run_dir),
            "hb_file": str(self.hb_file),
            "attach_command": self.attach_command,
            "warnings": list(self.warnings),
            "heartbeat_was": self.heartbeat_was,
        }


@dataclass(frozen=True)
class StopResult:
    name: str
    socket: str
    pane_pid: int | None  # None: there was no session, only a record to clear
    stopped: bool  # the agent's process is gone
    was_dead: bool  # it had exited before the stop (remain-on-exit kept it)
    exit_status: int | None  # as tmux kept it, for a pane that was dead
    signal_sent: str | None  # escalation beyond tmux's SIGHUP: "SIGTERM" or "SIGKILL"
    hb_status: str | None  # the record's status afterwards; None: no record (or cleared)
    watched: bool = True  # a live sidecar was watching the agent when the stop began
    cleared: str | None = None  # the status of the record this stop removed
    warnings: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        if self.pane_pid is None:
            return f"cleared {self.name}: no session; removed its {self.cleared} record"
        if self.was_dead:
            status = f"exit status {self.exit_status}" if self.exit_status is not None else "dead"
            text = f"stopped {self.name}: it had already exited ({status}); session removed"
        else:
            text = f"stopped {self.name}: pane pid {self.pane_pid}"
            if self.signal_sent:
                text += f" (needed {self.signal_sent})"
        if self.cleared is not None:
            text += f"; removed its {self.cleared} record"
        elif self.hb_status is not None:
            text += f"; heartbeat: {self.hb_status}"
        if not self.watched and not self.was_dead:
            text += "; no sidecar was watching"
        return text


def attach_command(name: str, socket: str) -> str:
    """The command line that attaches to NAME; --socket only if not the default."""
    words = ["mosaic", "attach", name]
    if socket != DEFAULT_SOCKET:
        words += ["--socket", socket]
    return shlex.join(words)


def pane_argv(command: str, shell: str = shellcmd.SHELL) -> list[str]:
    """The pane's argv: the user's command as one element for ``SHELL -c``."""
    return [shell, "-c", shellcmd.exec_form(command)]


def agent_command(settings: LaunchSettings) -> str:
    """The command the pane runs: the user's, with the state hooks of its
    CLI inserted (hooks.launch_command) unless hooks are off."""
    return hooks.launch_command(settings.command) if settings.hooks else settings.command


def pane_env(settings: LaunchSettings) -> list[tuple[str, str]]:
    """Variables set in the pane on top of the tmux server's environment
    (PATH apart, see tmux.new_session): the agent's own name, runtime and
    run dir (where its hook program, mosaic-hb state, writes), then --env
    pairs (which win)."""
    return [
        (ENV_NAME, settings.name),
        (ENV_RUNTIME, settings.runtime),
        (ENV_RUN_DIR, str(settings.run_dir)),
        *settings.env,
    ]


def heartbeat_problem(hb_file: Path, pid: int, now: float | None = None) -> str | None:
    """None if HB_FILE is a live heartbeat of PID, else what is wrong with it:
    missing, corrupt, for another pid, dead, stopped, stale, or its sidecar
    is gone."""
    return _record_problem(*_load_record(hb_file), pid, now)


def _load_record(hb_file: Path) -> tuple[mosaic_hb.Record | None, str | None]:
    """(the record, None), or (None, why there is none: missing or corrupt)."""
    try:
        return mosaic_hb.read(hb_file), None
    except FileNotFoundError:
        return None, MISSING
    except (mosaic_hb.RecordError, OSError):
        return None, "corrupt"


def _record_problem(record: mosaic_hb.Record | None, unreadable: str | None, pid: int,
                    now: float | None = None) -> str | None:
    if record is None:
        return unreadable
    if record.pid != pid:
        return OTHER_PID
    if record.status != "ok":
        return record.status
    # The sidecar first, as fleet ps does (lost before stale): a gone
    # sidecar's record also turns stale, but "stale" would say it hangs.
    # And a beat's age is read on the boot clock only once its writer is
    # known to run on this boot (Record.beat_age).
    if sidecar_problem(record):
        return "without a sidecar"
    if record.is_stale(time.time() if now is None else now):
        return "stale"
    return None


def _read_record(hb_file: Path) -> mosaic_hb.Record | None:
    return _load_record(hb_file)[0]


STOPPING_SUFFIX = ".stopping"  # <run dir>/<name>.stopping: a deliberate stop; no restart


def restart_args(settings: LaunchSettings) -> list[str]:
    """The sidecar's restart options for SETTINGS (none without a policy).
    A restart command is given with the pane's environment and hooks, as
    the launch command is; without one, tmux reruns the pane's first
    command, which carries them already."""
    r = settings.restart
    if not r.on:
        return []
    args = ["--restart", r.policy, "--tmux", tmux.tmux_path(), "--tmux-socket", settings.socket]
    for option, value in (("--restart-delay-ms", r.delay_ms), ("--restart-slots", r.slots),
                          ("--restart-slot-hold-ms", r.slot_hold_ms)):
        if value is not None:
            args += [option, str(value)]
    log_command = _log_command(settings, logs.RESTART)
    if log_command is not None:  # a new writer marks each restart in the log
        args += ["--respawn-log", tmux.pipe_command_word(log_command)]
    if r.command is not None:
        command = hooks.launch_command(r.command) if settings.hooks else r.command
        args += ["--respawn", *tmux.respawn_words(pane_argv(command, settings.shell),
                                                  env=pane_env(settings), path=settings.pane_path)]
    return args


def _mark_stop(run_dir: Path, names: list[str]) -> None:
    """Mark each of NAMES as stopping on purpose, before its session ends:
    its sidecar looks for the mark right before it would respawn the pane,
    so a deliberate stop is never undone by a restart (best effort: the
    stop also ends the session, which no respawn survives)."""
    for name in names:
        try:
            runfiles.replace(run_dir, f"{name}{STOPPING_SUFFIX}", b"")
        except (OSError, ValueError):
            pass


def _unmark_stop(run_dir: Path, name: str) -> None:
    """A fresh launch: NAME may be restarted again. A mark that cannot be
    removed (a directory planted under its name) would silently turn the
    restarts off, so an empty directory is removed and anything else stops
    the launch with its reason."""
    filename = f"{name}{STOPPING_SUFFIX}"
    try:
        runfiles.remove(run_dir, filename)
    except FileNotFoundError:  # no run dir yet
        pass
    except IsADirectoryError:
        try:
            os.rmdir(Path(run_dir, filename))
        except OSError as exc:
            raise MosaicError(f"cannot remove {filename} from the run dir {run_dir} "
                              f"({exc.strerror or exc}): remove it by hand") from None
    except OSError as exc:
        raise MosaicError(f"cannot remove {filename} from the run dir {run_dir} "
                          f"({exc.strerror or exc}): remove it by hand") from None


def restarting(record: mosaic_hb.Record | None) -> bool:
    """RECORD is a dead agent's whose sidecar waits to restart it."""
    return record is not None and record.status == "dead" and "restart_at" in record.extra


def _start_sidecar(settings: LaunchSettings, pane_pid: int) -> tuple[int | None, tuple[str, ...]]:
    """Start the sidecar for PANE_PID; never raises: a failure is a warning."""
    try:
        return mosaic_hb.spawn(settings.name, pane_pid, settings.run_dir, settings.interval,
                               runtime=settings.runtime, restart=restart_args(settings)), ()
    except (mosaic_hb.SidecarError, OSError, ValueError) as exc:
        return _sidecar_failed(settings, pane_pid, one_line(exc))


_SidecarOutcome = Callable[[], "tuple[int | None, tuple[str, ...]]"]


def _begin_sidecar(settings: LaunchSettings, pane_pid: int, deferred: bool) -> _SidecarOutcome:
    """Start the sidecar for PANE_PID; what _start_sidecar returns comes
    from the callable returned. If DEFERRED, the sidecar's first beat is
    waited for only when it is called (``fleet up`` starts many sidecars
    before it waits for any); else before this returns."""
    if not deferred:
        outcome = _start_sidecar(settings, pane_pid)
        return lambda: outcome
    try:
        spawning = mosaic_hb.spawn_start(settings.name, pane_pid, settings.run_dir, settings.interval,
                                         runtime=settings.runtime, restart=restart_args(settings))
    except (mosaic_hb.SidecarError, OSError, ValueError) as exc:
        reason = one_line(exc)
        return lambda: _sidecar_failed(settings, pane_pid, reason)

    def finish() -> tuple[int | None, tuple[str, ...]]:
        try:
            return spawning.wait(), ()
        except (mosaic_hb.SidecarError, OSError, ValueError) as exc:
            return _sidecar_failed(settings, pane_pid, one_line(exc))

    return finish


def _sidecar_failed(settings: LaunchSettings, pane_pid: int, reason: str) -> tuple[None, tuple[str, ...]]:
    """The sidecar for PANE_PID could not start, for REASON: the warning."""
    if not mosaic_hb.alive(pane_pid):
        # The agent died before a sidecar could watch it: leave the record a
        # sidecar would have left, so that `fleet ps` shows it dead.
        try:
            mosaic_hb.beat(settings.name, pane_pid, settings.run_dir, status="dead",
                           interval=settings.interval, pid_start=0, runtime=settings.runtime)
        except (OSError, ValueError):
            pass
        panes = [p for p in _panes_or_empty(settings.socket, settings.name) if p.pid == pane_pid]
        how = ""
        if panes and panes[0].dead_status is not None:
            how = f" with exit status {panes[0].dead_status}"
        elif panes and panes[0].dead_signal is not None:
            how = f" on signal {panes[0].dead_signal}"
        return None, (
            f"{settings.name} exited right away{how}; its pane is kept: "
            f"{attach_command(settings.name, settings.socket)}",
        )
    return None, (f"heartbeat sidecar not started for {settings.name}: {reason}",)


def _panes_or_empty(socket: str, name: str) -> list[tmux.PaneInfo]:
    try:
        return tmux.session_panes(socket, name)
    except tmux.TmuxError:
        return []


def _missing_dirs(path: Path) -> list[Path]:
    """PATH and those of its ancestors that do not exist, outermost first."""
    missing = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    return missing[::-1]


def _make_dirs(path: Path) -> list[Path]:
    """mkdir -p PATH; return the directories this call created, outermost
    first. On failure, removes them again and raises MosaicError."""
    created: list[Path] = []
    try:
        for directory in _missing_dirs(path):
            try:
                os.mkdir(directory)
            except FileExistsError:
                if not directory.is_dir():
                    raise
                continue
            created.append(directory)
    except OSError as exc:
        _remove_dirs(created)
        # A usage error like the pre-checks in settings: the workdir given
        # cannot be made (seen with paths under /proc, which pass them).
        raise UsageError(f"cannot create workdir {path}: {exc.strerror or exc}") from None
    return created


def _remove_dirs(created: list[Path]) -> None:
    for directory in reversed(created):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def launch_agent(settings: LaunchSettings) -> LaunchResult:
    """Make sure agent NAME runs in its tmux session with a heartbeat.

    * No session: create the workdir if needed, then the session (one tmux
      call), then the sidecar -> "launched".
    * A session whose agent pane is alive: "already running"; if its
      heartbeat is missing, corrupt, stale, dead or stopped, a new sidecar is
      started -> "heartbeat restarted".
    * A session whose agent pane is dead (kept by remain-on-exit): the dead
      pane is removed and the agent launched afresh.

    Launches of one agent are serialised by a lock file in the run dir,
    ``NAME.launch.lock``, held from the first look at tmux until the sidecar
    is up: a second launch then finds the first one's session *and*
    heartbeat, and says "already running". (Launches that use different run
    dirs still get one session: tmux lets one new-session win and the other
    reports "already running".)

    A sidecar that cannot start is a warning in the result, not an error.
    Raises TmuxNotInstalled, TmuxError or MosaicError; on an error, nothing
    this call created is left behind."""
    s = settings
    tmux.tmux_path()  # before anything is created
    precheck(s)
    with _prepared(s) as lock_file:
        with _launch_lock(lock_file, s.name):
            return _launch_locked(s, None, deferred=False)()


LAUNCH_BATCH = 32  # agents whose locks and starting sidecars `launch_agents` holds at once


def launch_agents(items: list[LaunchSettings], *,
                  sessions: dict[str, list[tmux.PaneInfo]] | None = None) -> list[LaunchResult | MosaicError]:
    """launch_agent for each of ITEMS, in order; one LaunchResult, or the
    MosaicError that prevented the launch, per item (``mosaic fleet up``).
    Raises TmuxNotInstalled before anything is created. Every item must
    have passed ``precheck`` (``fleet up`` checks the whole file first, so
    that a bad agent launches nothing).

    The same steps as launch_agent, with less waiting: each sidecar's first
    beat is waited for only after the next agents' sessions and sidecars
    have been started (up to LAUNCH_BATCH of them); each agent's launch lock
    is held until then, so a concurrent launch still finds a session *and*
    its heartbeat. A lock held elsewhere is waited for only once this call
    holds no other lock (so two of them can never wait for each other).

    SESSIONS is a ``tmux.panes_by_session`` listing taken before any of
    these launches; an agent it shows no session for is created without a
    tmux call to look (tmux refuses a duplicate, and a session another
    launch created meanwhile is then looked at afresh); an agent it shows is
    looked at afresh under its lock."""
    tmux.tmux_path()
    results: list[LaunchResult | MosaicError | None] = [None] * len(items)
    held: list[tuple[int, int, Callable[[], LaunchResult]]] = []  # (index, lock fd, finish)
    # Locked agents that need a new session: (index, lock fd, dirs made,
    # whether a dead agent pane was replaced).
    to_create: list[tuple[int, int, list[Path], bool]] = []

    def create() -> None:
        """The sessions of TO_CREATE, in as few tmux calls as fit; then
        their sidecars are started (and their locks join HELD)."""
        requests = [_session_request(items[index], relaunch) for index, _, _, relaunch in to_create]
        with _interrupts_held():  # no session without its sidecar
            create_held(requests)

    def create_held(requests: list[tmux.SessionRequest]) -> None:
        try:
            created = tmux.new_sessions(items[0].socket, requests) if requests else []
        except BaseException:
            for _, fd, dirs, _ in to_create:
                _remove_dirs(dirs)
                os.close(fd)
            to_create.clear()
            raise
        for (index, fd, dirs, _), pane_pid in zip(to_create, created):
            s = items[index]
            try:
                if isinstance(pane_pid, tmux.DuplicateSession):
                    listed = sessions is not None and s.name not in sessions
                    finish = _lost_to_duplicate(s, _result_fields(s), listed=listed, deferred=True)
                elif isinstance(pane_pid, tmux.TmuxError):
                    _remove_dirs(dirs)
                    raise pane_pid
                else:
                    finish = _created(s, pane_pid, _result_fields(s), deferred=True)
            except MosaicError as exc:
                results[index] = exc
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            held.append((index, fd, finish))
        to_create.clear()

    def settle() -> None:
        create()
        while held:
            index, fd, finish = held.pop(0)
            try:
                results[index] = finish()
            finally:
                os.close(fd)

    try:
        for index, s in enumerate(items):
            if s.socket != items[0].socket:
                raise ValueError("launch_agents takes the agents of one tmux socket")
            try:
                with _prepared(s) as lock_file:
                    fd = _open_lock(lock_file)
                    try:
                        if not _try_lock(fd):
                            settle()  # wait for no lock while holding others
                            _wait_lock(fd, lock_file, s.name)
                        finish, relaunch = _look_locked(s, sessions, deferred=True)
                        dirs = _make_launch_dirs(s) if finish is None else []
                    except BaseException:
                        os.close(fd)
                        raise
                if finish is None:
                    to_create.append((index, fd, dirs, relaunch))
                else:
                    held.append((index, fd, finish))
                if len(held) + len(to_create) >= LAUNCH_BATCH:
                    settle()
            except tmux.TmuxNotInstalled:
                raise
            except MosaicError as exc:
                results[index] = exc
        settle()
    finally:
        for _, fd, _ in held:  # only on an exception that ends the whole call
            os.close(fd)
        for _, fd, dirs, _ in to_create:
            _remove_dirs(dirs)
            os.close(fd)
    return results  # type: ignore[return-value]


@contextmanager
def _prepared(s: LaunchSettings) -> Iterator[Path]:
    """The run dir checked (created if missing); yields the agent's lock
    file. If the body fails, a run dir this made is removed again."""
    missing = _missing_dirs(s.run_dir)
    lock_file = s.run_dir / f"{s.name}.launch.lock"
    done = False
    try:
        try:
            mosaic_hb.check_run_dir(s.run_dir, create=True)
        except OSError as exc:
            raise MosaicError(f"run dir {s.run_dir}: {exc.strerror or exc}") from None
        yield lock_file
        done = True
    finally:
        if not done and missing:  # the run dir is ours alone: take it back
            try:
                os.unlink(lock_file)
            except OSError:
                pass
            _remove_dirs(missing)


def precheck(settings: LaunchSettings) -> None:
    """What can be found wrong with SETTINGS before anything is created,
    beyond what resolving them checked: the session's command, with its
    environment, fits in what tmux accepts. Raises a usage error (exit 2).
    ``fleet up`` runs it for every agent before it launches any."""
    s = settings
    tmux.check_new_session(s.name, pane_argv(agent_command(s), s.shell), workdir=str(s.workdir),
                           env=pane_env(s), path=s.pane_path, pipe_command=_log_command(s, logs.RELAUNCH))


def _log_command(s: LaunchSettings, event: str) -> str | None:
    """The pipe-pane command that logs the pane's output; None: not logged."""
    if s.log_dir is None:
        return None
    return logs.writer_command(s.log_dir, s.name, s.log_max_bytes, event)


LOG_WAIT = 2.0  # seconds a launch waits for the log writer to create the log


def _log_warnings(s: LaunchSettings) -> tuple[str, ...]:
    """Wait (bounded) until NAME's log is there, so that ``mosaic logs``
    right after the launch finds it; what is wrong with it, as a warning."""
    if s.log_dir is None:
        return ()
    path = logs.log_path(s.log_dir, s.name)
    # What the writer will refuse is told now, not after LOG_WAIT (a fleet
    # up on a read-only log dir would wait that long for each agent).
    problem = logs.write_problem(s.log_dir, s.name)
    if problem is not None:
        return (f"the output of {s.name} is not logged: {problem}",)
    deadline = time.monotonic() + LOG_WAIT
    while not os.path.lexists(path):
        if time.monotonic() > deadline:
            return (f"the output of {s.name} is not logged: no log writer created {path} "
                    f"within {LOG_WAIT:g}s",)
        time.sleep(0.002)
    problem = logs.log_problem(s.log_dir, s.name)
    return (f"the output of {s.name} is not logged: {problem}",) if problem else ()


def _resume_logging(s: LaunchSettings, pane: tmux.PaneInfo) -> tuple[str, ...]:
    """A running agent whose pane output goes nowhere (launched before
    logging, or its writer has gone) is logged from now on."""
    if s.log_dir is None or pane.piped:
        return ()
    try:
        logs.restart_logging(s.socket, pane.pane_id, s.log_dir, s.name, s.log_max_bytes, logs.RESUME)
    except MosaicError as exc:
        return (f"the output of {s.name} is not logged: {one_line(exc)}",)
    return _log_warnings(s)


@contextmanager
def _launch_lock(path: Path, name: str) -> Iterator[None]:
    fd = _open_lock(path)
    try:
        if not _try_lock(fd):
            _wait_lock(fd, path, name)
        yield
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise MosaicError(f"cannot open the launch lock {path}: {exc.strerror or exc}") from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _wait_lock(fd: int, path: Path, name: str) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while not _try_lock(fd):
        if time.monotonic() > deadline:
            raise MosaicError(f"another launch of {name} has held {path} "
                              f"for over {LOCK_WAIT:g}s") from None
        time.sleep(0.005)


def _launch_locked(s: LaunchSettings, sessions: dict[str, list[tmux.PaneInfo]] | None,
                   *, deferred: bool) -> Callable[[], LaunchResult]:
    """The launch, under the agent's lock; what it returns gives the result
    (and waits for a sidecar DEFERRED, see _begin_sidecar). SESSIONS: see
    launch_agents."""
    finish, relaunch = _look_locked(s, sessions, deferred=deferred)
    if finish is not None:
        return finish
    result = _result_fields(s)
    created = _make_launch_dirs(s)
    request = _session_request(s, relaunch)
    with _interrupts_held():  # no session without its sidecar
        try:
            pane_pid = tmux.new_session(s.socket, s.name, request.argv, workdir=request.workdir,
                                        env=request.env, path=request.path, pipe_command=request.pipe_command)
        except tmux.DuplicateSession:
            return _lost_to_duplicate(s, result, listed=sessions is not None and s.name not in sessions,
                                      deferred=deferred)
        except BaseException:
            _remove_dirs(created)
            raise
        return _created(s, pane_pid, result, deferred=deferred)


# Signals that end a launch from outside: Ctrl-C, kill, a closed terminal.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait until the body is done, then take
    effect as they would have (KeyboardInterrupt, or the default action).
    The body makes agents' sessions and starts their sidecars: a signal in
    between ended the launch with agents running unwatched ('missing', or
    'stopped' under an earlier stop's record). A started sidecar comes up
    on its own, so the hold ends once each has been started. A second
    signal takes effect at once (the body waits on tmux and on a sidecar's
    first beat, each for seconds at most). Main thread only (elsewhere
    signals are not ours to take)."""
    caught: list[int] = []
    previous: dict[int, object] = {}

    def release() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        previous.clear()
        for signum in dict.fromkeys(caught):
            os.kill(os.getpid(), signum)  # as it would have been taken then
        caught.clear()

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)
        if len(caught) > 1:
            release()

    try:
        for signum in _INTERRUPTS:
            previous[signum] = signal.signal(signum, hold)
    except ValueError:  # not the main thread
        caught.clear()
        release()
        yield
        return
    try:
        yield
    finally:
        release()


def _result_fields(s: LaunchSettings) -> dict:
    return dict(name=s.name, socket=s.socket, run_dir=s.run_dir, hb_file=s.hb_file,
                attach_command=attach_command(s.name, s.socket))


def _session_request(s: LaunchSettings, relaunch: bool) -> tmux.SessionRequest:
    """The agent's new session; RELAUNCH: it replaces a dead agent pane
    (the log's marker line says which)."""
    return tmux.SessionRequest(s.name, pane_argv(agent_command(s), s.shell), str(s.workdir),
                               tuple(pane_env(s)), s.pane_path,
                               _log_command(s, logs.RELAUNCH if relaunch else logs.LAUNCH))


def _make_launch_dirs(s: LaunchSettings) -> list[Path]:
    """The log dir (private) and the workdir, made where missing; the dirs
    this made, for removing them again if the launch fails."""
    log_dirs = _missing_dirs(s.log_dir) if s.log_dir is not None else []
    try:
        if s.log_dir is not None:
            logs.prepare_log_dir(s.log_dir)
        return log_dirs + _make_dirs(s.workdir)
    except BaseException:
        _remove_dirs(log_dirs)
        raise


def _look_locked(s: LaunchSettings, sessions: dict[str, list[tmux.PaneInfo]] | None,
                 *, deferred: bool) -> tuple[Callable[[], LaunchResult] | None, bool]:
    """What the agent's session says, under its lock: (the result, False)
    if the agent runs (or cannot be launched here); (None, whether a dead
    agent pane was removed) if a session is to be created. SESSIONS: see
    launch_agents; an agent it does not show is taken to have no session."""
    result = _result_fields(s)
    listed = sessions is not None and s.name not in sessions
    panes = [] if listed else tmux.session_panes(s.socket, s.name)
    live = [p for p in panes if not p.dead]
    if panes and not panes[0].dead:
        return _already_running(s, panes[0], result, deferred), False
    if live:  # the agent's pane is dead but the user's other panes live on
        done = LaunchResult(outcome=ALREADY_RUNNING, pane_pid=live[0].pid, sidecar_pid=None,
                            warnings=(f"the agent pane of {s.name} is dead; other panes keep "
                                      f"the session: mosaic stop {s.name} first",), **result)
        return (lambda: done), False
    for pane in panes:  # dead: replace it (by pane id, so a racing launch's session is safe)
        tmux.kill_pane(s.socket, pane.pane_id)
    _unmark_stop(s.run_dir, s.name)
    return None, bool(panes)


def _lost_to_duplicate(s: LaunchSettings, result: dict, *, listed: bool,
                       deferred: bool) -> Callable[[], LaunchResult]:
    """new-session found a session of the agent's name. If the look before
    was a listing (LISTED), the session was created since: look at it as
    launch_agent would; else another launch won the race."""
    if listed:
        return _launch_locked(s, None, deferred=deferred)
    winner = [p for p in _panes_or_empty(s.socket, s.name) if not p.dead]
    done = LaunchResult(outcome=ALREADY_RUNNING, pane_pid=winner[0].pid if winner else None,
                        sidecar_pid=None, **result)
    return lambda: done


def _created(s: LaunchSettings, pane_pid: int, result: dict, *,
             deferred: bool) -> Callable[[], LaunchResult]:
    """The session is up with PANE_PID: start its sidecar."""
    sidecar = _begin_sidecar(s, pane_pid, deferred)

    def finish() -> LaunchResult:
        sidecar_pid, warnings = sidecar()
        _check_entered(s, pane_pid, sidecar_pid)
        return LaunchResult(outcome=LAUNCHED, pane_pid=pane_pid, sidecar_pid=sidecar_pid,
                            warnings=warnings + _log_warnings(s), **result)

    return finish


EXEC_WAIT = 5.0  # seconds to wait for tmux's child to exec the agent's command


def _start_dir(s: LaunchSettings, pane_pid: int) -> str | None:
    """Where tmux started the pane, as the PWD it gave the pane's process;
    None if that cannot be told: the process is gone or not ours to look
    at, it has not left tmux within EXEC_WAIT seconds, tmux set no PWD, or
    the command may have moved since.

    tmux changes directory in the child it forks, and sets PWD to where it
    landed, before it execs the pane's argv (``/usr/bin/env ... SHELL -c
    SCRIPT``). A process's environment, unlike its cwd, keeps that PWD while
    env and the shell run; what the shell execs gets the shell's PWD of
    that moment. So the PWD is tmux's while the pane runs env or our shell,
    and after that only if the command is a simple one (the shell execs it
    at once, see shellcmd.exec_form): a compound command may change
    directory before it execs the agent (``cd sub && exec pi``)."""
    import psutil  # only a launch that started a pane needs it

    ours = {(os.path.realpath(tmux.ENV_PROGRAM),), tuple(pane_argv(agent_command(s), s.shell))}
    simple = shellcmd.exec_position(agent_command(s)) is not None
    try:
        tmux_exe = os.path.realpath(tmux.tmux_path())
        proc = psutil.Process(pane_pid)
        deadline = time.monotonic() + EXEC_WAIT
        while os.path.realpath(proc.exe()) == tmux_exe:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.002)
        with proc.oneshot():
            pwd = proc.environ().get("PWD")
            image = (os.path.realpath(proc.exe()),)
            argv = tuple(proc.cmdline())
        return pwd if simple or image in ours or argv in ours else None
    except (psutil.Error, OSError):
        return None


def _within(path: str, directory: Path) -> bool:
    """PATH is DIRECTORY or lies below it (symlinks resolved)."""
    real, top = os.path.realpath(path), os.path.realpath(directory)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def _check_entered(s: LaunchSettings, pane_pid: int, sidecar_pid: int | None) -> None:
    """Raise a usage error, with nothing of the launch left running, if tmux
    did not start the agent in its workdir (or below it: the command may
    change into a subdirectory before it execs the agent).

    tmux does not fail when it cannot enter a new session's directory: it
    starts the pane elsewhere, silently (tmux(1), new-session -c), and a
    coding agent would edit the wrong tree. The settings refuse every
    workdir they can tell is unusable; this catches the rest, such as a
    workdir removed or made unsearchable in the instant before tmux enters it."""
    start = _start_dir(s, pane_pid)
    if start is None or _within(start, s.workdir):
        return
    tmux.kill_session(s.socket, s.name)
    mosaic_hb.wait_exit(pane_pid, 0, STOP_TIMEOUT)
    if sidecar_pid is not None:  # it records the death; then the record goes
        mosaic_hb.wait_exit(sidecar_pid, 0, STOP_TIMEOUT)
    try:
        runfiles.remove(s.run_dir, f"{s.name}.hb")
    except OSError:
        pass
    raise UsageError(f"workdir {s.workdir} could not be entered: tmux started the agent in {start}; "
                     f"its session is removed")


def _already_running(s: LaunchSettings, pane: tmux.PaneInfo, result: dict,
                     deferred: bool) -> Callable[[], LaunchResult]:
    record, unreadable = _load_record(s.hb_file)
    problem = _record_problem(record, unreadable, pane.pid)
    log_warnings = _resume_logging(s, pane)
    if s.restart.on:
        # A mark left by a stop that did not end the session (it failed, or
        # was interrupted) would turn this running agent's restarts off.
        try:
            _unmark_stop(s.run_dir, s.name)
        except MosaicError as exc:
            log_warnings = (*log_warnings, one_line(exc))
    if problem is None:
        done = LaunchResult(outcome=ALREADY_RUNNING, pane_pid=pane.pid, sidecar_pid=record.hb_pid,
                            warnings=log_warnings, **result)
        return lambda: done
    sidecar = _begin_sidecar(s, pane.pid, deferred)

    def finish() -> LaunchResult:
        sidecar_pid, warnings = sidecar()
        outcome = HEARTBEAT_RESTARTED if sidecar_pid is not None else ALREADY_RUNNING
        if sidecar_pid is None:
            warnings = (f"the heartbeat of {s.name} is {problem}", *warnings)
        return LaunchResult(outcome=outcome, pane_pid=pane.pid, sidecar_pid=sidecar_pid,
                            warnings=warnings + log_warnings,
                            heartbeat_was=problem if sidecar_pid is not None else None, **result)

    return finish


def attach(socket: str, name: str) -> NoReturn:
    """Replace this process with a tmux client attached to NAME's session."""
    tmux.tmux_path()
    if not tmux.has_session(socket, name):
        raise NotRunning(f"{name} is not running (no session on tmux socket {socket})")
    tmux.attach(socket, name)


def _signal(pid: int, start: int, signum: int) -> None:
    """Send SIGNUM to the process group of PID, if PID is still that process."""
    if not mosaic_hb.alive(pid, start):
        return
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    except PermissionError:
        pass


def _signal_sidecar(pid: int, start: int, signum: int) -> None:
    """Send SIGNUM to the sidecar PID, if PID is still that process."""
    if not mosaic_hb.alive(pid, start):
        return
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class _Stopping:
    """One agent on its way down (see stop_agents)."""

    name: str
    pane: tmux.PaneInfo
    start: int | None  # the pane process's start time; None: it had already exited
    record: mosaic_hb.Record | None
    hb_start: int | None  # the watching sidecar's start time; None: no live sidecar
    signal_sent: str | None = None
    supervised: bool = False  # a sidecar with a restart policy watched it: the stop is recorded, never cleared


def _still_running(stopping: list[_Stopping], deadline: float) -> list[_Stopping]:
    """Wait, until DEADLINE (monotonic) at most, for every agent of STOPPING
    to exit; those still running. All of them are waited on together: each
    wait uses what is left of the same deadline."""
    running = []
    for agent in stopping:
        if agent.start is None:
            continue
        left = max(0.0, deadline - time.monotonic())
        if not mosaic_hb.wait_exit(agent.pane.pid, agent.start, left):
            running.append(agent)
    return running


def _who() -> str:
    """The user name for a stop record (the uid if it has no name)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, ImportError):
        return str(os.getuid())


def _stopped_record(agent: _Stopping, now: float) -> bytes:
    """A record saying AGENT was stopped on purpose, by whom and when."""
    old = agent.record if agent.record is not None and agent.record.pid == agent.pane.pid else None
    return format_record(mosaic_hb.Record(
        ts=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        pid=agent.pane.pid,
        status="stopped",
        agent=agent.name,
        epoch=now,
        seq=old.seq + 1 if old is not None else 1,
        interval=old.interval if old is not None else 15.0,
        hb_pid=old.hb_pid if old is not None else os.getpid(),
        hb_start=old.hb_start if old is not None else None,
        pid_start=agent.start or (old.pid_start if old is not None else 0),
        runtime=old.runtime if old is not None else None,
        extra={**_restart_facts(old), "stopped_by": _who(), "stopped_at": f"{now:.6f}"},
    ))


# The restart facts a stop record keeps from the sidecar's (not restart_at: no restart is due).
_KEPT_RESTART_KEYS = ("restart", "restarts", "last_exit_status", "last_exit_signal", "last_restart",
                      "gave_up")


def _restart_facts(record: mosaic_hb.Record | None) -> dict[str, str]:
    if record is None:
        return {}
    return {key: record.extra[key] for key in _KEPT_RESTART_KEYS if key in record.extra}


def _clear(socket: str, name: str, run_dir: Path) -> StopResult:
    """NAME has no session: remove its record, if it is one of an agent that
    died or was stopped (as ``docker rm`` removes an exited container).
    Raises NotRunning if there is nothing to clear."""
    record, unreadable = _load_record(run_dir / f"{name}.hb")
    if record is None and unreadable == MISSING:
        raise NotRunning(f"{name} is not running (no session on tmux socket {socket})")
    if record is not None and record.status == "ok" and mosaic_hb.alive(record.pid, record.pid_start):
        raise NotRunning(f"{name} has no session on tmux socket {socket}, but its pid {record.pid} "
                         "still runs; stop that process by hand")
    try:
        runfiles.remove(run_dir, f"{name}.hb")
    except OSError as exc:
        raise MosaicError(f"cannot remove the record of {name}: {exc.strerror or exc}") from None
    return StopResult(name=name, socket=socket, pane_pid=None, stopped=True, was_dead=True,
                      exit_status=None, signal_sent=None, hb_status=None, watched=False,
                      cleared=record.status if record is not None else unreadable)


def _prepare(name: str, pane: tmux.PaneInfo, run_dir: Path) -> _Stopping:
    record = _read_record(run_dir / f"{name}.hb")
    hb_start = None
    if (record is not None and (record.status == "ok" or restarting(record)) and record.pid == pane.pid
            and sidecar_problem(record) is None):
        hb_start = _writer_start(record)
    start = None if pane.dead else (mosaic_hb.proc_start_time(pane.pid) or None)
    return _Stopping(name=name, pane=pane, start=start, record=record, hb_start=hb_start)


def stop_agents(socket: str, names: list[str], run_dir: Path, timeout: float = STOP_TIMEOUT, *,
                sessions: dict[str, list[tmux.PaneInfo]] | None = None,
                clear: bool = True) -> list[StopResult | MosaicError]:
    """Stop every agent of NAMES together, in at most TIMEOUT seconds in all;
    one StopResult, or the MosaicError that prevented the stop, per name.

    Every session is ended first (tmux hangs up the pane: SIGHUP); then all
    agents are waited on together. Those still alive after half the time get
    SIGTERM, after three quarters SIGKILL (to the process group). Then each
    watching sidecar is given the rest of the time to record the death, and
    the record is replaced by one that says ``status=stopped``, who stopped
    the agent and when: a deliberate stop is not a death. An agent whose pane
    was already dead has its record removed; so has one with no session
    left, if CLEAR (``mosaic stop`` on a dead agent clears it, as ``docker
    rm`` does; ``fleet down`` leaves such records alone: NotRunning).

    SESSIONS is a ``tmux.panes_by_session`` listing to use instead of a tmux
    call of its own."""
    run_dir = Path(run_dir)
    if sessions is None:
        sessions = tmux.panes_by_session(socket)
    outcomes: dict[str, StopResult | MosaicError] = {}
    stopping: list[_Stopping] = []
    for name in dict.fromkeys(names):
        panes = sessions.get(name)
        try:
            if not panes and not clear:
                raise NotRunning(f"{name} is not running (no session on tmux socket {socket})")
            if not panes:
                outcomes[name] = _clear(socket, name, run_dir)
            else:
                stopping.append(_prepare(name, panes[0], run_dir))
        except MosaicError as exc:
            outcomes[name] = exc

    began = time.monotonic()
    ended: list[_Stopping] = []
    try:
        with _terminate_as_interrupt():
            _mark_stop(run_dir, [agent.name for agent in stopping])
            stopping[:] = _end_supervision(socket, stopping, run_dir, began + timeout * 0.25)
            failed = tmux.kill_sessions(socket, [agent.name for agent in stopping])
            for agent in stopping:
                if agent.name in failed:
                    outcomes[agent.name] = failed[agent.name]
                else:
                    ended.append(agent)
            running = _still_running(ended, began + timeout * 0.5)
            for signum, name, share in ((signal.SIGTERM, "SIGTERM", 0.75), (signal.SIGKILL, "SIGKILL", 1.0)):
                for agent in running:
                    _signal(agent.pane.pid, agent.start, signum)
                    agent.signal_sent = name
                running = _still_running(running, began + timeout * share)

            for agent in ended:
                outcomes[agent.name] = _finish(socket, agent, run_dir, began + timeout, timeout)
    except KeyboardInterrupt:
        _record_interrupted(_hung_up(socket, stopping, ended), run_dir)
        raise
    return [outcomes[name] for name in dict.fromkeys(names)]


def _supervisor(record: mosaic_hb.Record | None) -> tuple[int, int] | None:
    """(pid, start time) of the live sidecar that may still restart
    RECORD's agent, whatever pid the record names now; else None."""
    if (record is None or record.status not in ("ok", "dead") or record.extra.get("gave_up") == "1"
            or record.extra.get("restart") not in ("on-failure", "always") or sidecar_problem(record) is not None):
        return None
    start = _writer_start(record)
    return (record.hb_pid, start) if start else None


def _writer_start(record: mosaic_hb.Record) -> int | None:
    """The start time of the sidecar that wrote RECORD, which sidecar_problem
    found running: the record's own hb_start where it has one (a second read
    of the pid's start time could find a process that took the pid since
    the check); None if unknown."""
    return record.hb_start or mosaic_hb.proc_start_time(record.hb_pid) or None


def _end_supervision(socket: str, stopping: list[_Stopping], run_dir: Path, deadline: float) -> list[_Stopping]:
    """End each sidecar that could restart an agent of STOPPING (they are
    marked stopping already), before its session is ended: a sidecar past
    its look at the mark may still respawn the pane, so the panes are
    listed again once no sidecar is left to change them. STOPPING, with the
    supervised agents' panes and records as they are now."""
    supervisors = {}
    for agent in stopping:
        found = _supervisor(_read_record(run_dir / f"{agent.name}.hb"))
        if found is not None:
            supervisors[agent.name] = found
            _signal_sidecar(found[0], found[1], signal.SIGTERM)
    if not supervisors:
        return stopping
    for pid, start in supervisors.values():  # SIGTERM records the stop; a stopped sidecar cannot take it
        if not mosaic_hb.wait_exit(pid, start, max(0.0, deadline - time.monotonic())):
            _signal_sidecar(pid, start, signal.SIGKILL)
            mosaic_hb.wait_exit(pid, start, SIDECAR_KILL_WAIT)
    try:
        now = tmux.panes_by_session(socket)
    except MosaicError:
        now = {}
    again = []
    for agent in stopping:
        if agent.name in supervisors and now.get(agent.name):
            agent = _prepare(agent.name, now[agent.name][0], run_dir)
        agent.supervised = agent.supervised or agent.name in supervisors
        again.append(agent)
    return again


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM, like SIGINT, raises KeyboardInterrupt here (main thread only),
    so that a stop ended from outside still records what it did."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: signals are not ours to take
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _hung_up(socket: str, stopping: list[_Stopping], ended: list[_Stopping]) -> list[_Stopping]:
    """ENDED, plus those of STOPPING whose session is gone all the same (the
    interrupt came while, or right after, tmux ended it)."""
    done = {id(agent) for agent in ended}
    rest = [agent for agent in stopping if id(agent) not in done]
    if not rest:
        return ended
    try:
        live = tmux.panes_by_session(socket)
    except MosaicError:
        return ended
    return ended + [agent for agent in rest if agent.name not in live]


def _record_interrupted(ended: list[_Stopping], run_dir: Path) -> None:
    """A stop was interrupted after the sessions of ENDED were hung up: those
    agents are going on purpose, so no sidecar may record a death once they
    exit. End each watching sidecar, then record the stop (the agents are
    left to exit on the hangup they already got)."""
    for agent in ended:
        if agent.hb_start is not None:
            _signal_sidecar(agent.record.hb_pid, agent.hb_start, signal.SIGKILL)
    deadline = time.monotonic() + SIDECAR_KILL_WAIT
    for agent in ended:
        if agent.pane.dead:
            continue
        if agent.hb_start is not None:
            left = max(0.0, deadline - time.monotonic())
            if not mosaic_hb.wait_exit(agent.record.hb_pid, agent.hb_start, left):
                continue
        try:
            runfiles.replace(run_dir, f"{agent.name}.hb", _stopped_record(agent, time.time()))
        except (OSError, ValueError, mosaic_hb.RecordError):
            pass


def _finish(socket: str, agent: _Stopping, run_dir: Path, deadline: float, timeout: float) -> StopResult:
    """AGENT's session is gone and its process waited on: settle its record."""
    name, pane = agent.name, agent.pane
    stopped = agent.start is None or not mosaic_hb.alive(pane.pid, agent.start)
    warnings = []
    if not stopped:
        warnings.append(f"pid {pane.pid} of {name} is still alive after {timeout:g}s")
    sidecar_gone = True
    if agent.hb_start is not None:
        left = max(0.0, deadline - time.monotonic())
        sidecar_gone = mosaic_hb.wait_exit(agent.record.hb_pid, agent.hb_start, left)
        if not sidecar_gone and stopped:
            # A sidecar that could not record the death in time (stopped,
            # starved) would write "dead" over the stop record once it runs
            # again: the agent it watched is gone, so end it.
            _signal_sidecar(agent.record.hb_pid, agent.hb_start, signal.SIGKILL)
            sidecar_gone = mosaic_hb.wait_exit(agent.record.hb_pid, agent.hb_start, SIDECAR_KILL_WAIT)
            warnings.append(f"the heartbeat sidecar of {name} (pid {agent.record.hb_pid}) did not record "
                            f"the stop within {timeout:g}s; killed it")
        if not sidecar_gone:
            warnings.append(f"the heartbeat sidecar of {name} (pid {agent.record.hb_pid}) "
                            f"was still running after {timeout:g}s")
    hb_status = None
    cleared = None
    if stopped and sidecar_gone:
        try:
            if pane.dead and not restarting(agent.record) and not agent.supervised:
                after = _load_record(run_dir / f"{name}.hb")
                if runfiles.remove(run_dir, f"{name}.hb"):
                    cleared = after[0].status if after[0] is not None else after[1]
            else:
                runfiles.replace(run_dir, f"{name}.hb", _stopped_record(agent, time.time()))
                hb_status = "stopped"
        except (OSError, ValueError, mosaic_hb.RecordError) as exc:
            warnings.append(f"cannot record the stop of {name}: {one_line(exc)}")
    else:
        after = _read_record(run_dir / f"{name}.hb")
        hb_status = after.status if after is not None and after.pid == pane.pid else None
    if stopped:
        _retire_metrics(name)
    return StopResult(name=name, socket=socket, pane_pid=pane.pid, stopped=stopped,
                      was_dead=pane.dead, exit_status=pane.dead_status, signal_sent=agent.signal_sent,
                      hb_status=hb_status, watched=agent.hb_start is not None or agent.supervised, cleared=cleared,
                      warnings=tuple(warnings))


def stop_agent(socket: str, name: str, run_dir: Path, timeout: float = STOP_TIMEOUT,
               *, sessions: dict[str, list[tmux.PaneInfo]] | None = None) -> StopResult:
    """Stop one agent (see stop_agents); raises what prevented the stop
    (NotRunning if there is neither a session nor a record to clear)."""
    (outcome,) = stop_agents(socket, [name], run_dir, timeout, sessions=sessions)
    if isinstance(outcome, MosaicError):
        raise outcome
    return outcome


def _retire_metrics(name: str) -> None:
    """Remove NAME's Prometheus textfile after a deliberate stop.

    The sidecar's last write says mosaic_agent_up 0, which is what an alert
    on a crash needs; an agent stopped on purpose should leave no metric
    behind, or the dead alert would fire for it until someone deletes the
    file."""
    textfile_dir = lookup(ENV_TEXTFILE_DIR)
    if textfile_dir is None:
        return
    try:
        os.unlink(os.path.join(textfile_dir, f"mosaic_{name}.prom"))
    except OSError:
        pass


def stop_all(socket: str, run_dir: Path, timeout: float = STOP_TIMEOUT) -> list[StopResult | MosaicError]:
    """Stop every session on SOCKET together (see stop_agents)."""
    sessions = tmux.panes_by_session(socket)
    return stop_agents(socket, list(sessions), run_dir, timeout, sessions=sessions)
