# cython: language_level=3
"""Python binding of the heartbeat core (hb.h).

Everything here is a thin call into C; the heartbeat loop itself is hb_run()
and exists only there. The plain-Python parts (starting the executable,
reading a record) are in sidecar.py.
"""

import os
import signal
import threading
import time

from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport EINTR, errno
from libc.stdlib cimport free
from libc.string cimport memset, strerror
from posix.unistd cimport close, getpid

# The rules shared with Python, from the one place they are defined (hb.h).
AGENT_NAME_MAX = HB_AGENT_MAX
INTERVAL_MIN = HB_INTERVAL_MIN
INTERVAL_MAX = HB_INTERVAL_MAX
RECORD_WRITE_MAX = HB_RECORD_MAX
STATE_FILE_MAX = HB_STATE_FILE_MAX


class RunDirError(OSError):
    """The run dir cannot be created, or is not safe to write in."""


cdef object _os_error(int err, const char *why=NULL, object path=None, type cls=OSError):
    """The exception for a C call that failed with errno ERR: CLS(ERR, WHY or
    strerror(ERR)[, PATH]), so that an ENOENT from OSError is a
    FileNotFoundError, as Python's own calls give it."""
    message = why.decode() if why != NULL else strerror(err).decode()
    if path is None:
        return cls(err, message)
    return cls(err, message, os.fspath(path))


cdef bytes _fs(object path):
    return os.fsencode(path)


def valid_agent_name(name) -> bool:
    """True if NAME follows the one rule for agent names:
    ``[A-Za-z0-9][A-Za-z0-9_-]{0,63}``."""
    if not isinstance(name, str):
        return False
    try:
        encoded = name.encode("ascii")
    except UnicodeEncodeError:
        return False
    if b"\0" in encoded:
        return False
    return hb_valid_agent_name(encoded) == 1


def check_interval(value) -> float:
    """Return VALUE as seconds, or raise ValueError if it is not a finite
    number within [INTERVAL_MIN, INTERVAL_MAX]."""
    cdef double out
    text = str(value).strip()
    encoded = text.encode("ascii", "replace")
    if b"\0" in encoded or hb_parse_interval(encoded, &out) != 0:
        raise ValueError(f"invalid interval {text!r}: expected seconds from {INTERVAL_MIN:g} to {INTERVAL_MAX:g}")
    return out


def proc_start_time(int pid):
    """Start time of PID in the platform's unit, None if there is no such
    process (or it is a zombie), 0 where the platform cannot tell."""
    cdef unsigned long long start = 0
    cdef int found = hb_proc_start_time(pid, &start)
    if found == 1:
        return start
    if found == 0:
        return None
    if errno == ENOTSUP:  # the platform keeps no start time
        return 0
    raise _os_error(errno)


def boot_clock() -> float:
    """This host's boot clock now, in seconds (hb_boot_clock): the clock a
    record's ``since_boot`` is read on. It never steps."""
    return hb_boot_clock()


def proc_table() -> list:
    """Every process on the host, in one pass (hb_proc_list): a list of
    ``(pid, ppid, zombie, cpu_ticks, start, rss_pages)`` tuples; ``start``
    is what proc_start_time gives, ``rss_pages`` may lag (proc_resident
    is exact). Raises OSError (errno ENOTSUP where the platform has no such
    pass, ENOENT where /proc is not a process filesystem)."""
    cdef hb_proc_entry *entries = NULL
    cdef size_t count = 0, i
    cdef int r
    with nogil:
        r = hb_proc_list(&entries, &count)
    if r < 0:
        raise _os_error(errno)
    try:
        return [(entries[i].pid, entries[i].ppid, entries[i].zombie != 0, entries[i].cpu_ticks,
                 entries[i].start, entries[i].rss_pages) for i in range(count)]
    finally:
        free(entries)


def proc_resident(int pid):
    """Resident pages of PID, exactly (hb_proc_resident); None if there is
    no such process. Raises OSError (errno ENOTSUP where the platform has
    no such figure)."""
    cdef unsigned long long pages = 0
    cdef int found = hb_proc_resident(pid, &pages)
    if found == 1:
        return pages
    if found == 0:
        return None
    raise _os_error(errno)


def alive(int pid, pid_start=0) -> bool:
    """True if PID is alive and (when PID_START is not 0) is still the process
    that started at PID_START. A zombie counts as dead."""
    cdef int r = hb_proc_alive(pid, pid_start or 0)
    if r < 0:
        raise _os_error(errno)
    return r == 1


def wait_exit(int pid, pid_start=0, double timeout=10.0) -> bool:
    """Wait up to TIMEOUT seconds for PID (and, unless PID_START is 0, the
    process that started at PID_START) to end; True once it has (a zombie
    counts), False if the time ran out. Uses the sidecar's notifier (pidfd,
    kqueue, else polling), with the GIL released."""
    cdef unsigned long long start = pid_start or 0
    cdef int r
    cdef double remaining
    deadline = time.monotonic() + timeout
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        with nogil:
            r = hb_wait_exit(pid, start, remaining)
        if r >= 0:
            return r == 1
        if errno != EINTR:
            raise _os_error(errno)
        PyErr_CheckSignals()  # a handler's exception (Ctrl-C) ends the wait


def check_run_dir(path, create=False) -> None:
    """Raise RunDirError if PATH is not a safe run dir (a symlink, owned by
    another user, or group/world-writable without the sticky bit). With
    CREATE, make it (mode 0700) first if it is missing."""
    cdef const char *why = NULL
    cdef int fd = hb_open_run_dir(_fs(path), 1 if create else 0, &why)
    if fd < 0:
        raise _os_error(errno, why, path, RunDirError)
    close(fd)


def beat(agent, int pid, run_dir, *, status="ok", interval=15.0, seq=1,
         pid_start=None, runtime=None, fsync=False) -> None:
    """Write one record atomically (temp file + rename). Creates the run dir
    if it is missing."""
    if not valid_agent_name(agent):
        raise ValueError(f"invalid agent name {agent!r}")
    if status not in ("ok", "dead", "stopped"):
        raise ValueError(f"invalid status {status!r}")
    if runtime is not None and not valid_agent_name(runtime):
        raise ValueError(f"invalid runtime {runtime!r}")
    if pid_start is None:
        pid_start = proc_start_time(pid) or 0
    agent_b = agent.encode()
    status_b = status.encode()
    runtime_b = runtime.encode() if runtime is not None else None
    cdef hb_record rec
    memset(&rec, 0, sizeof(rec))  # no agent state: the hook's keys are the sidecar's
    rec.agent = agent_b
    rec.status = status_b
    rec.runtime = <const char *>runtime_b if runtime_b is not None else NULL
    rec.pid = pid
    rec.hb_pid = getpid()
    rec.pid_start = pid_start
    rec.seq = seq
    rec.interval = check_interval(interval)
    cdef const char *why = NULL
    cdef int dirfd = hb_open_run_dir(_fs(run_dir), 1, &why)
    if dirfd < 0:
        raise _os_error(errno, why, run_dir, RunDirError)
    cdef int r = hb_write_record(dirfd, &rec, 1 if fsync else 0)
    cdef int err = errno
    close(dirfd)
    if r != 0:
        raise _os_error(err, NULL, os.path.join(os.fspath(run_dir), agent + ".hb"))


class _HandOver(BaseException):
    pass


class _Stop(BaseException):
    pass


class _StateChanged(BaseException):
    pass


cdef class _RunState:
    cdef object error


cdef int _on_interrupted(void *ctx) noexcept with gil:
    state = <_RunState>ctx
    try:
        PyErr_CheckSignals()
    except _HandOver:
        return HB_HAND_OVER
    except _Stop:
        return HB_STOP
    except _StateChanged:
        return HB_READ_STATE
    except BaseException as exc:  # KeyboardInterrupt, or a handler's error
        state.error = exc
        return HB_STOP
    return HB_GO_ON


def _raise_hand_over(signum, frame):
    raise _HandOver()


def _raise_stop(signum, frame):
    raise _Stop()


def _raise_state_changed(signum, frame):
    raise _StateChanged()


_END_NAMES = {HB_END_DEAD: "dead", HB_END_STOPPED: "stopped", HB_END_REPLACED: "replaced"}


def run(agent, int pid, run_dir, interval=15.0, *, fsync=False, runtime=None,
        textfile_dir=None) -> str:
    """Run the heartbeat loop in this process until PID dies ("dead"), a stop
    signal arrives ("stopped"), or a newer sidecar takes over ("replaced").

    The GIL is released while the loop waits. In the main thread, SIGTERM and
    SIGHUP stop the loop (status=stopped), SIGUSR1 hands over, and SIGUSR2
    (from a `mosaic-hb state` hook) re-reads the agent's state; Ctrl-C writes
    status=stopped and then raises KeyboardInterrupt. Elsewhere SIGUSR2 is
    ignored while the loop runs, and the state is read only at its start."""
    if not valid_agent_name(agent):
        raise ValueError(f"invalid agent name {agent!r}")
    if runtime is not None and not valid_agent_name(runtime):
        raise ValueError(f"invalid runtime {runtime!r}")
    cdef double seconds = check_interval(interval)
    agent_b = agent.encode()
    run_dir_b = _fs(os.path.abspath(run_dir))
    runtime_b = runtime.encode() if runtime is not None else None
    textfile_b = _fs(os.path.abspath(textfile_dir)) if textfile_dir is not None else None
    state = _RunState()
    cdef hb_config cfg
    cfg.agent = agent_b
    cfg.pid = pid
    cfg.run_dir = run_dir_b
    cfg.interval = seconds
    cfg.fsync = 1 if fsync else 0
    cfg.runtime = <const char *>runtime_b if runtime_b is not None else NULL
    cfg.force_poll = 0
    cfg.textfile_dir = <const char *>textfile_b if textfile_b is not None else NULL
    cfg.wait_mask = NULL
    cfg.interrupted = _on_interrupted
    cfg.ctx = <void *>state
    cfg.started = NULL
    cfg.restart = NULL  # restarts are the mosaic-hb sidecar's

    saved = {}
    if threading.current_thread() is threading.main_thread():
        for signum, handler in ((signal.SIGTERM, _raise_stop), (signal.SIGHUP, _raise_stop),
                                (signal.SIGUSR1, _raise_hand_over),
                                (signal.SIGUSR2, _raise_state_changed)):
            saved[signum] = signal.signal(signum, handler)
    cdef const char *why = NULL
    cdef int end
    try:
        with nogil:
            end = hb_run(&cfg, &why)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    if end == HB_END_ERROR:
        raise _os_error(errno, why)
    if state.error is not None:
        raise state.error
    return _END_NAMES[end]

