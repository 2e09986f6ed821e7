"""The pane log of each agent: what its pane printed, kept in a file.

Writing: every launch pipes the agent pane's output (``tmux pipe-pane -O``)
into ``mosaic-hb log LOG_DIR/NAME.log``, the core's executable, one small C
process per agent (no Python). It appends, marks each start with a line
``=== mosaic: NAME EVENT TIME ===``, rotates at a size cap keeping one old
file (``NAME.log.1``), drops output it cannot write (a full disk) without
ever holding the pane up, and never opens the file through a symlink (see
hb_log.c).

tmux keeps a pane's pipe across ``respawn-pane``, but the writer then marks
no new start; ``restart_logging`` replaces the pipe (the old writer reads
end of file and exits) with a new writer, which does. Code that respawns a
pane calls it, or chains ``pipe_args`` after its respawn-pane in the same
tmux call so that no output comes between.

Reading: ``show_log`` (both files, the old one first; a tail read from
the end, and everything a block at a time, so that memory does not grow
with the log), ``clean`` (escape sequences stripped), and ``follow``,
which polls (at most ten wake-ups a second) and keeps up across a rotation.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

import mosaic_hb

from mosaic_launch import tmux
from mosaic_launch.errors import MosaicError, NotRunning

LOG_SUFFIX = ".log"
OLD_SUFFIX = ".log.1"
EVENT_RULE = re.compile(r"[a-z]{1,16}\Z")  # mosaic-hb log --event
LAUNCH, RELAUNCH, RESTART, RESUME = "launch", "relaunch", "restart", "resume"
FOLLOW_POLL_SECONDS = 0.1  # -f wakes at most ten times a second
_READ_CHUNK = 1 << 16
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def log_path(log_dir: Path, name: str) -> Path:
    return Path(log_dir) / f"{name}{LOG_SUFFIX}"


def old_log_path(log_dir: Path, name: str) -> Path:
    return Path(log_dir) / f"{name}{OLD_SUFFIX}"


# ---- writing ----------------------------------------------------------------

def writer_command(log_dir: Path, name: str, max_bytes: int, event: str) -> str:
    """The shell command that tmux's pipe-pane runs: ``exec mosaic-hb log
    ...``, every word quoted (tmux gives it to /bin/sh -c; see
    tmux.shell_words). ``exec``, so
    the writer is the only process, whatever the shell. Raises ValueError
    for what could not be quoted safely or that the writer would refuse."""
    if not mosaic_hb.valid_agent_name(name):
        raise ValueError(f"invalid agent name {name!r}")
    if not EVENT_RULE.match(event):
        raise ValueError(f"invalid event {event!r}")
    path = os.fspath(log_path(log_dir, name))
    if not os.path.isabs(path) or any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise ValueError(f"the log path must be absolute, without control characters: {path!r}")
    if not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"invalid max_bytes {max_bytes!r}")
    words = [mosaic_hb.sidecar_path(), "log", path, "--max-bytes", str(max_bytes), "--event", event]
    return "exec " + tmux.shell_words(words)


def pipe_args(pane: str, log_dir: Path, name: str, max_bytes: int, event: str = RESTART) -> list[str]:
    """The tmux command that (re)starts NAME's log writer on PANE (a pane id
    or ``=SESSION:``), to chain after a respawn-pane in one tmux call."""
    return tmux.pipe_pane_args(pane, writer_command(log_dir, name, max_bytes, event))


def prepare_log_dir(log_dir: Path) -> None:
    """Create LOG_DIR (0700) if missing and check it is safe to write in;
    MosaicError otherwise. The writer checks it again itself."""
    try:
        mosaic_hb.check_run_dir(log_dir, create=True)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).replace("run dir", "log dir")
        raise MosaicError(f"log dir {log_dir}: {reason}") from None


def restart_logging(socket: str, pane: str, log_dir: Path, name: str, max_bytes: int,
                    event: str = RESTART) -> None:
    """Start a new log writer for NAME on PANE (a pane id or ``=NAME:``),
    replacing the pane's pipe if it has one; the new writer marks the start
    with EVENT. For a pane that was respawned (tmux keeps the old pipe then,
    and nothing would mark the restart), or one whose writer has gone.
    Raises MosaicError (the log dir is unsafe) or TmuxError (no such pane)."""
    prepare_log_dir(log_dir)
    tmux.pipe_pane(socket, pane, writer_command(log_dir, name, max_bytes, event))


def log_problem(log_dir: Path, name: str) -> str | None:
    """Why NAME's log cannot be written (what the writer refuses: a symlink,
    something else than a regular file, a file with other links or another
    owner), or None."""
    path = log_path(log_dir, name)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symlink; the log writer does not follow it, so nothing is logged"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file; nothing is logged"
    if st.st_nlink != 1:
        return f"{path} has other hard links; the log writer does not write to it, so nothing is logged"
    if st.st_uid != os.geteuid():
        return f"{path} belongs to another user; the log writer does not write to it, so nothing is logged"
    return None


def write_problem(log_dir: Path, name: str) -> str | None:
    """log_problem's reasons, or why the writer could not create or open
    NAME's log (a read-only mount, no write permission), found without
    waiting for it to try; None if nothing is seen to be wrong."""
    problem = log_problem(log_dir, name)
    if problem is not None:
        return problem
    path = log_path(log_dir, name)
    target = path if os.path.lexists(path) else Path(log_dir)
    try:
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return f"{target} is on a read-only file system"
    except OSError:
        return None
    if not os.access(target, os.W_OK):
        return f"{target} is not writable"
    return None


# ---- reading ----------------------------------------------------------------

def _open_log(path: Path) -> int | None:
    """A descriptor of the regular file PATH (never through a symlink,
    never blocking on a FIFO); None if there is no such file."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MosaicError(f"{path} is a symlink; not reading it") from None
        raise MosaicError(f"cannot read {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        what = "is not a regular file" if not stat.S_ISREG(st.st_mode) else "has other hard links"
        raise MosaicError(f"{path} {what}; not reading it")
    return fd


Warn = Callable[[str], None]


def _open_both(log_dir: Path, name: str, warn: Warn | None = None) -> tuple[int | None, int | None]:
    """Descriptors of NAME's old log and current log (None: not there).
    The current one is opened first: should the writer rotate in between,
    the old path then names the file already open, which is not taken
    twice. An old file that is refused (a symlink planted there) is left
    out, said through WARN, if there is a current one. NotRunning (exit 1)
    if there is neither."""
    current = _open_log(log_path(log_dir, name))
    try:
        old = _open_log(old_log_path(log_dir, name))
    except MosaicError as exc:
        if current is None or warn is None:
            raise
        warn(str(exc))
        old = None
    except BaseException:
        if current is not None:
            os.close(current)
        raise
    if old is not None and current is not None and _same_file(old, current):
        os.close(old)
        old = None
    if old is None and current is None:
        raise NotRunning(f"no log for {name} in {log_dir}")
    return old, current


def _same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _tail_start(fds: list[int], lines: int | None) -> tuple[int, int]:
    """Where the last LINES lines (a last line without its newline counts)
    of the files FDS, one after the other, begin: (index in FDS, offset).
    Read backwards a block at a time, so that a tail of a big log costs
    what it prints, not the log's size. None: from the start."""
    if lines is None:
        return 0, 0
    sizes = [os.fstat(fd).st_size for fd in fds]
    if lines <= 0:
        return len(fds) - 1, sizes[-1]
    found = 0
    last_byte = True  # the log's last byte: a newline there ends a line, it does not begin one
    for index in range(len(fds) - 1, -1, -1):
        end = sizes[index]
        while end > 0:
            begin = max(0, end - _READ_CHUNK)
            block = os.pread(fds[index], end - begin, begin)
            if last_byte and block:
                last_byte = False
                if block.endswith(b"\n"):
                    block = block[:-1]
            at = len(block)
            while True:
                at = block.rfind(b"\n", 0, at)
                if at < 0:
                    break
                found += 1
                if found == lines:
                    return index, begin + at + 1
            end = begin
    return 0, 0


# CSI (colours, cursor moves), OSC (titles, links; ended by BEL or ST),
# DCS/SOS/PM/APC strings, and the two-byte escapes (charset, keypad).
_ESCAPE = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[PX^_][^\x1b]*\x1b\\"
    rb"|\x1b[ -/]*[0-~]"
)
# An escape sequence cut off at the end of what has been read so far.
_ESCAPE_START = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|[PX^_][^\x1b]*|[ -/]*)?\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _line(text: str) -> str:
    # A carriage return rewrites the line (progress bars, spinners): keep
    # what was written last.
    if "\r" in text:
        parts = [part for part in text.split("\r") if part]
        text = parts[-1] if parts else ""
    return _CONTROL.sub("", text)


def clean(data: bytes) -> str:
    """DATA as plain text: escape sequences removed, CRLF as LF, of a line
    rewritten with carriage returns only its last version, other control
    characters (tabs apart) removed, invalid UTF-8 replaced."""
    text = _ESCAPE.sub(b"", data).decode("utf-8", "replace")
    return "\n".join(_line(line) for line in text.split("\n"))


class Cleaner:
    """clean() for a stream: whole lines as they come, and on flush() the
    line begun so far (a prompt), short of an escape sequence cut off and
    of a line being rewritten with carriage returns (see flush). Of a
    line longer than MAX_PENDING bytes, only what follows its last carriage
    return is kept, and if that is still too long it is cleaned a piece at
    a time: what is held stays bounded."""

    MAX_PENDING = 1 << 20

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> str:
        cut = data.rfind(b"\n")  # only the new data: a long line costs no rescans
        if cut < 0:
            self._pending += data
            if len(self._pending) <= self.MAX_PENDING:
                return ""
            # A progress bar: what comes before a carriage return is rewritten.
            rewritten = self._pending.rfind(b"\r")
            if rewritten > 0:
                del self._pending[:rewritten]
            return self.flush(rewritten=True) if len(self._pending) > self.MAX_PENDING else ""
        done = bytes(self._pending) + data[:cut + 1]
        self._pending = bytearray(data[cut + 1:])
        return clean(done)

    def flush(self, *, rewritten: bool = False) -> str:
        """The line begun so far; unless REWRITTEN, not one rewritten with
        carriage returns (a progress bar), which waits for its end: its
        versions, printed as they come, would run on one after the other."""
        if not rewritten and b"\r" in self._pending:
            return ""
        partial = bytes(self._pending)
        cut = _ESCAPE_START.search(partial, max(0, len(partial) - 4096))
        keep = b""
        if cut is not None:
            partial, keep = partial[:cut.start()], partial[cut.start():]
        self._pending = bytearray(keep)
        return clean(partial)


Write = Callable[[bytes], bool]  # False once the reader is gone


def _emit(write: Write, data: bytes, cleaner: Cleaner | None, *, flush: bool = False, last: bool = False) -> bool:
    """Write DATA (cleaned); FLUSH: the line begun so far too, LAST: even
    one rewritten with carriage returns (nothing more comes)."""
    if cleaner is None:
        return write(data) if data else True
    text = cleaner.feed(data)
    if flush or last:
        text += cleaner.flush(rewritten=last)
    return write(text.encode("utf-8", "surrogateescape")) if text else True


def _show(fds: list[int], lines: int | None, write: Write, cleaner: Cleaner | None, *, last: bool) -> bool:
    """Write the last LINES lines of FDS (all of it if None), a block at a
    time; False once the reader is gone. Each descriptor is left at the end
    of its file. LAST: nothing is to follow (see _emit)."""
    index, offset = _tail_start(fds, lines)
    for fd in fds[:index]:
        os.lseek(fd, 0, os.SEEK_END)
    for at, fd in enumerate(fds[index:]):
        os.lseek(fd, offset if at == 0 else 0, os.SEEK_SET)
        while chunk := os.read(fd, _READ_CHUNK):
            if not _emit(write, chunk, cleaner):
                return False
    return _emit(write, b"", cleaner, flush=True, last=last)


def _drain(fd: int | None, write: Write, cleaner: Cleaner | None) -> bool:
    """Write the rest of FD; False once the reader is gone."""
    while fd is not None and (data := os.read(fd, _READ_CHUNK)):
        if not _emit(write, data, cleaner):
            return False
    return True


def show_log(log_dir: Path, name: str, write: Write, *, lines: int | None = None, raw: bool = False,
             warn: Warn | None = None) -> None:
    """Write NAME's log, the old file first (its last LINES lines), cleaned
    unless RAW. NotRunning if there is no log."""
    fds = [fd for fd in _open_both(log_dir, name, warn) if fd is not None]
    try:
        _show(fds, lines, write, None if raw else Cleaner(), last=True)
    finally:
        for fd in fds:
            os.close(fd)


def follow(log_dir: Path, name: str, write: Write, *, lines: int | None = None, raw: bool = False,
           poll: float = FOLLOW_POLL_SECONDS, until: Callable[[], bool] | None = None,
           warn: Warn | None = None) -> None:
    """Write NAME's log as show_log does, then what is appended to it, until
    the reader is gone (WRITE returns False), UNTIL() is true or Ctrl-C.

    It polls every POLL seconds while nothing comes. At a rotation (the
    path names another file) it reads the old file to its end, then goes on
    with the new one from its start; a file cut short is read again from
    its start. NotRunning if there is no log yet at all."""
    current = log_path(log_dir, name)
    old, fd = _open_both(log_dir, name, warn)
    try:
        cleaner = None if raw else Cleaner()
        shown = _show([f for f in (old, fd) if f is not None], lines, write, cleaner, last=False)
        if old is not None:
            os.close(old)
            old = None
        if not shown:
            return
        while until is None or not until():
            data = os.read(fd, _READ_CHUNK) if fd is not None else b""
            if data:
                if not _emit(write, data, cleaner):
                    return
                continue
            if _moved(current, fd):
                if fd is not None:
                    # What the writer put there before it rotated; then the
                    # file after it, if that was rotated too while we slept.
                    if not _drain(fd, write, cleaner):
                        return
                    try:
                        between = _open_log(old_log_path(log_dir, name))
                    except MosaicError:  # planted there; the writer's next rotation replaces it
                        between = None
                    if between is not None and _same_file(between, fd):
                        os.close(between)
                        between = None
                    os.close(fd)
                    fd = None
                    if between is not None:
                        try:
                            if not _drain(between, write, cleaner):
                                return
                        finally:
                            os.close(between)
                fd = _open_log(current)
                continue
            if fd is not None and os.fstat(fd).st_size < os.lseek(fd, 0, os.SEEK_CUR):
                os.lseek(fd, 0, os.SEEK_SET)
                continue
            if not _emit(write, b"", cleaner, flush=True):
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        return
    finally:
        for f in (old, fd):
            if f is not None:
                os.close(f)


def _moved(path: Path, fd: int | None) -> bool:
    """PATH now names another file than FD (or, with no FD, names one)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if fd is None:
        return True
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino)


def show_screen(socket: str, name: str, write: Write, *, raw: bool = False) -> None:
    """Write what NAME's agent pane shows now (capture-pane), with its
    colours if RAW (else without the empty rows at the bottom). NotRunning
    if NAME has no session."""
    panes = tmux.session_panes(socket, name)
    if not panes:
        raise NotRunning(f"{name} is not running (no session on tmux socket {socket})")
    screen = tmux.capture_pane(socket, panes[0].pane_id, escapes=raw)
    if raw:
        write(screen)
        return
    text = clean(screen).rstrip("\n")  # the empty rows below the last line
    write((text + "\n" if text else "").encode("utf-8", "surrogateescape"))
