# cython: language_level=3
"""Python binding of the heartbeat core (hb.c).

Everything here is a thin call into C; the heartbeat loop itself is hb_run()
and exists only there.
"""

import os
import signal
import subprocess
import threading
import time

from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport errno
from libc.string cimport strerror
from posix.unistd cimport close, getpid

from mosaic_hb.record import RECORD_MAX_BYTES, Record, RecordError, parse_record

INTERVAL_MIN = HB_INTERVAL_MIN
INTERVAL_MAX = HB_INTERVAL_MAX
SIDECAR_NAME = "mosaic-hb"


class RunDirError(OSError):
    """The run dir cannot be created, or is not safe to write in."""


class SidecarError(RuntimeError):
    """The mosaic-hb sidecar could not be started."""


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
        raise ValueError(f"invalid interval {text!r}: expected seconds from 0.05 to 86400")
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
    raise OSError(errno, strerror(errno).decode())


def alive(int pid, pid_start=0) -> bool:
    """True if PID is alive and (when PID_START is not 0) is still the process
    that started at PID_START. A zombie counts as dead."""
    cdef int r = hb_proc_alive(pid, pid_start or 0)
    if r < 0:
        raise OSError(errno, strerror(errno).decode())
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
            raise OSError(errno, strerror(errno).decode())
        PyErr_CheckSignals()  # a handler's exception (Ctrl-C) ends the wait


def check_run_dir(path, create=False) -> None:
    """Raise RunDirError if PATH is not a safe run dir (a symlink, owned by
    another user, or group/world-writable without the sticky bit). With
    CREATE, make it (mode 0700) first if it is missing."""
    cdef const char *why = NULL
    cdef int fd = hb_open_run_dir(_fs(path), 1 if create else 0, &why)
    if fd < 0:
        _raise_run_dir_error(path, why)
    close(fd)


cdef _raise_run_dir_error(object path, const char *why):
    if why != NULL:
        raise RunDirError(errno, why.decode(), os.fspath(path))
    raise RunDirError(errno, strerror(errno).decode(), os.fspath(path))


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
        _raise_run_dir_error(run_dir, why)
    cdef int r = hb_write_record(dirfd, &rec, 1 if fsync else 0)
    cdef int err = errno
    close(dirfd)
    if r != 0:
        raise OSError(err, strerror(err).decode(), os.path.join(os.fspath(run_dir), agent + ".hb"))


def read(path) -> Record:
    """Read and parse a heartbeat file. Raises RecordError if it is not a
    valid record (a symlink, unreadable, too large, malformed), and
    FileNotFoundError if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RecordError(f"unreadable: {exc.strerror}") from None
    try:
        data = os.read(fd, RECORD_MAX_BYTES + 1)
    except OSError as exc:
        raise RecordError(f"unreadable: {exc.strerror}") from None
    finally:
        os.close(fd)
    return parse_record(data)


class _HandOver(BaseException):
    pass


class _Stop(BaseException):
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
    except BaseException as exc:  # KeyboardInterrupt, or a handler's error
        state.error = exc
        return HB_STOP
    return HB_GO_ON


def _raise_hand_over(signum, frame):
    raise _HandOver()


def _raise_stop(signum, frame):
    raise _Stop()


_END_NAMES = {HB_END_DEAD: "dead", HB_END_STOPPED: "stopped", HB_END_REPLACED: "replaced"}


def run(agent, int pid, run_dir, interval=15.0, *, fsync=False, runtime=None,
        textfile_dir=None) -> str:
    """Run the heartbeat loop in this process until PID dies ("dead"), a stop
    signal arrives ("stopped"), or a newer sidecar takes over ("replaced").

    The GIL is released while the loop waits. In the main thread, SIGTERM and
    SIGHUP stop the loop (status=stopped) and SIGUSR1 hands over; Ctrl-C
    writes status=stopped and then raises KeyboardInterrupt."""
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

    saved = {}
    if threading.current_thread() is threading.main_thread():
        for signum, handler in ((signal.SIGTERM, _raise_stop), (signal.SIGHUP, _raise_stop),
                                (signal.SIGUSR1, _raise_hand_over)):
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
        err = errno
        if why != NULL:
            raise OSError(err, why.decode())
        raise OSError(err, strerror(err).decode())
    if state.error is not None:
        raise state.error
    return _END_NAMES[end]


def sidecar_path() -> str:
    """The mosaic-hb executable shipped inside this installed package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), SIDECAR_NAME)


def spawn(agent, int pid, run_dir, interval=15.0, *, fsync=False, runtime=None,
          textfile_dir=None, timeout=10.0) -> int:
    """Start a detached mosaic-hb sidecar watching PID and return its pid.

    Returns once the sidecar holds its lock and has written its first beat.
    A running sidecar for the same AGENT is replaced. TEXTFILE_DIR (default:
    $MOSAIC_TEXTFILE_DIR, read by the sidecar) adds a Prometheus textfile.
    Raises SidecarError with the sidecar's one-line reason if it could not
    start."""
    return spawn_start(agent, pid, run_dir, interval, fsync=fsync, runtime=runtime,
                       textfile_dir=textfile_dir, timeout=timeout).wait()


class Spawning:
    """A sidecar on its way up (see spawn_start); wait() for its pid."""

    def __init__(self, argv, proc, timeout):
        self._argv = argv
        self._proc = proc
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout

    def wait(self) -> int:
        """The sidecar's pid, once its first beat is on disk; raises
        SidecarError (as spawn does) if it could not start."""
        proc = self._proc
        try:
            out, err = proc.communicate(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            exc = subprocess.TimeoutExpired(self._argv, self._timeout)
            raise SidecarError(f"cannot run {self._argv[0]}: {exc}") from None
        if proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {proc.returncode}"
            raise SidecarError(reason.removeprefix("mosaic-hb: "))
        return int(out.strip())


def spawn_start(agent, int pid, run_dir, interval=15.0, *, fsync=False, runtime=None,
                textfile_dir=None, timeout=10.0) -> Spawning:
    """spawn() in two halves: start the sidecar and return at once; the
    result's wait() waits (TIMEOUT seconds from now at most) for the first
    beat and returns the pid. Many sidecars can come up together this way
    (``mosaic fleet up``)."""
    if not valid_agent_name(agent):
        raise ValueError(f"invalid agent name {agent!r}")
    seconds = check_interval(interval)
    argv = [sidecar_path(), agent, str(pid), "--run-dir", os.fspath(run_dir),
            "--interval", repr(seconds)]
    if runtime is not None:
        argv += ["--runtime", runtime]
    if textfile_dir is not None:
        argv += ["--textfile-dir", os.fspath(textfile_dir)]
    if fsync:
        argv.append("--fsync")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise SidecarError(f"cannot run {argv[0]}: {exc}") from None
    return Spawning(argv, proc, timeout)
