"""The plain-Python side of the heartbeat: starting the mosaic-hb executable
and reading the record it writes. No C is called here except the argument
checks of the binding, so that the sidecar and Python agree on them."""

from __future__ import annotations

import operator
import os
import subprocess
import time
from collections.abc import Sequence

from mosaic_hb._hb import check_interval, valid_agent_name
from mosaic_hb.record import RECORD_MAX_BYTES, Record, parse_record, read_bounded

SIDECAR_NAME = "mosaic-hb"


class SidecarError(RuntimeError):
    """The mosaic-hb sidecar could not be started."""


def read(path: str | os.PathLike[str]) -> Record:
    """Read and parse a heartbeat file. Raises RecordError if it is not a
    valid record (a symlink, unreadable, too large, malformed), and
    FileNotFoundError if it does not exist."""
    return parse_record(read_bounded(path, RECORD_MAX_BYTES))


def sidecar_path() -> str:
    """The mosaic-hb executable shipped inside this installed package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), SIDECAR_NAME)


def spawn(agent: str, pid: int, run_dir: str | os.PathLike[str], interval: float = 15.0, *,
          fsync: bool = False, runtime: str | None = None,
          textfile_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0,
          restart: Sequence[str] = ()) -> int:
    """Start a detached mosaic-hb sidecar watching PID and return its pid.

    Returns once the sidecar holds its lock and has written its first beat.
    A running sidecar for the same AGENT is replaced. TEXTFILE_DIR (default:
    $MOSAIC_TEXTFILE_DIR, read by the sidecar) adds a Prometheus textfile.
    RESTART: the sidecar's restart options (``--restart POLICY ...``, with
    ``--respawn`` last; see mosaic-hb --help), passed as they are.
    Raises SidecarError with the sidecar's one-line reason if it could not
    start."""
    return spawn_start(agent, pid, run_dir, interval, fsync=fsync, runtime=runtime,
                       textfile_dir=textfile_dir, timeout=timeout, restart=restart).wait()


class Spawning:
    """A sidecar on its way up (see spawn_start); wait() for its pid."""

    def __init__(self, argv: list[str], proc: subprocess.Popen, timeout: float):
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


def spawn_start(agent: str, pid: int, run_dir: str | os.PathLike[str], interval: float = 15.0, *,
                fsync: bool = False, runtime: str | None = None,
                textfile_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0,
                restart: Sequence[str] = ()) -> Spawning:
    """spawn() in two halves: start the sidecar and return at once; the
    result's wait() waits (TIMEOUT seconds from now at most) for the first
    beat and returns the pid. Many sidecars can come up together this way
    (``mosaic fleet up``)."""
    pid = operator.index(pid)  # as the C int it was when spawn() lived in the binding
    if not -2**31 <= pid < 2**31:
        raise OverflowError("value too large to convert to int")
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
    argv += list(restart)  # last: it may end with --respawn and the command's words
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise SidecarError(f"cannot run {argv[0]}: {exc}") from None
    return Spawning(argv, proc, timeout)
