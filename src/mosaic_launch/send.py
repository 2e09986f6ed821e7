"""`mosaic send`: type text into agents' panes, and submit it.

Sending input to a TUI through tmux is fragile, and each step here answers
one way it breaks:

* The text is delivered as one bracketed paste (tmux.paste: ``load-buffer``
  from stdin, ``paste-buffer -p``), never as keys: ``send-keys -l`` is read
  key by key by TUIs with input-burst detection, and stops working in some
  states (claude-code#31739). No byte of the text is ever a tmux argument,
  a format or a key name, and no shell sees it.
* Enter follows after a settle delay set per runtime
  (``settings.Runtime.send_settle_s``): an Enter that arrives with the paste
  is read as a newline in the composer (byobu#115).
* Enter can still be swallowed (woltspace#114, maw-js#1907): the pane is
  looked at before and after it, and if nothing changed within
  ENTER_CHECK_S, Enter is pressed once more.

Several agents are sent to in parallel, one thread each: the settle delay
and the check are waits, not work. Two sends to one agent take turns
(_turn), so that each text is submitted on its own; and the text goes to
the pane that runs the agent, not to a pane the user split off
(agent_pane).
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import mosaic_hb

from mosaic_launch import settings, tmux
from mosaic_launch.errors import MosaicError, UsageError

# The largest text `send` takes: far more than any prompt, and small enough
# that a pipe from the wrong file is refused rather than pasted.
MAX_TEXT_BYTES = 1024 * 1024
# How long a pane may take to show that it took an Enter, before Enter is
# pressed once more; and then once more before saying it did not.
ENTER_CHECK_S = 1.0
LOOK_EVERY_S = 0.01
MAX_THREADS = 32
# How long a send waits for the sends to the same agent ahead of it (each
# takes at most about 2 * ENTER_CHECK_S plus its settle delay).
TURN_WAIT_S = 60.0
TURN_LOOK_EVERY_S = 0.01
# Control characters a prompt has no use for. ESC above all: inside a
# bracketed paste, ESC[201~ would end the paste early and the rest would be
# read as keys; and the C1 controls (U+0080 to U+009F), where U+009B is
# CSI, the same ESC[ in one character to a program that reads 8-bit
# controls. Tab, line feed and carriage return are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Target:
    """An agent to send to: the pane that runs it (agent_pane), and its runtime."""

    name: str
    pane_id: str
    runtime: str | None
    lock: Path | None = None  # NAME.send.lock in the run dir (see _turn)


@dataclass
class SendResult:
    name: str
    pasted: bool = False
    entered: bool = False  # Enter was pressed
    presses: int = 0  # how many times
    changed: bool | None = None  # the pane changed after Enter (None: not checked)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Unix time right before the text (or Enter) went in, in this send's
    # turn: a later state is this send's (send --wait), not one from a send
    # that went before it.
    began: float | None = None

    def describe(self) -> str:
        if not self.entered:
            return f"pasted into {self.name} (no Enter)"
        again = " (Enter pressed twice: the first showed no change)" if self.presses > 1 else ""
        return f"sent to {self.name}{again}"


def text_bytes(text: str | bytes, *, from_stdin: bool = False) -> bytes:
    """TEXT as the UTF-8 bytes to paste; UsageError for what is not text.

    Line ends are LF (CR LF becomes LF). From stdin, one final newline
    (``echo task |``) is dropped: Enter submits, and a newline pasted before
    it would be a second line."""
    if isinstance(text, bytes):
        # The size is checked on the text, after the final newline is
        # dropped: `echo` of a text of exactly MAX_TEXT_BYTES is taken.
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"the text is not UTF-8 (byte {exc.start})") from None
    # CR LF (a file written on Windows) is one line break: tmux pastes each
    # LF as a CR, so CR LF would reach the agent as CR CR, an empty line
    # after every line.
    text = text.replace("\r\n", "\n")
    if from_stdin and text.endswith("\n"):
        text = text[:-1]
    bad = _CONTROL.search(text)
    if bad:
        raise UsageError(f"the text contains the control character {bad.group()!r} at character "
                         f"{bad.start()}: mosaic send delivers text, not keys")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:  # an argument that was not UTF-8 (surrogate-escaped)
        raise UsageError(f"the text is not UTF-8 (character {exc.start})") from None
    if len(data) > MAX_TEXT_BYTES:
        raise UsageError(f"the text is larger than {MAX_TEXT_BYTES} bytes")
    return data


# What read_stdin reads at most: a text of MAX_TEXT_BYTES may take twice as
# many bytes before its CR LFs become LFs, and its final newline is dropped.
_MAX_STDIN_BYTES = 2 * MAX_TEXT_BYTES + 2


def read_stdin(stream) -> bytes:
    """The text of ``send NAME -`` from STREAM (sys.stdin), never read past
    what could still be a text that fits (so a pipe from the wrong file is
    not read to its end, and never cut short). UsageError for a closed
    stdin (``<&-``), or more than that."""
    if stream is None:
        raise UsageError("TEXT is - but stdin is closed: pipe the text in, or give it as an argument")
    data = stream.buffer.read(_MAX_STDIN_BYTES + 1)
    if len(data) > _MAX_STDIN_BYTES:
        raise UsageError(f"the text is larger than {MAX_TEXT_BYTES} bytes")
    return data


def _record(run_dir: Path, name: str):
    try:
        record = mosaic_hb.read(run_dir / f"{name}.hb")
    except (OSError, ValueError):  # no record, or one that is not valid: nothing known
        return None
    return record if record.agent == name else None  # a copied or renamed file is not NAME's


def agent_pane(name: str, panes: list[tmux.PaneInfo], record) -> tmux.PaneInfo | str:
    """The pane of NAME's session that runs the agent, or why none can be
    told. A user may split the agent's window (``split-window -b`` puts the
    new pane first), and text meant for the agent must never be typed into
    their shell: the pane is the one whose process is the agent's recorded
    pid (as the sidecar finds it), else, with no record, the first pane.
    With a record whose pid no pane runs, one pane is still the agent's
    (a record left from before a relaunch); several are a guess, refused."""
    if record is not None and record.pid:
        for pane in panes:
            if pane.pid == record.pid:
                return pane
    if record is None or len(panes) == 1:
        return panes[0]
    return (f"{name}'s session has {len(panes)} panes and none runs the agent's recorded pid "
            f"{record.pid}; close the other panes, or relaunch it with mosaic launch {name}")


def resolve_targets(socket: str, run_dir: Path, names: list[str], every: bool
                    ) -> tuple[list[Target], list[str], list[str]]:
    """The agents NAMES (names or globs) or, with EVERY, all agents: (targets,
    errors, warnings). An agent is a target when its session's first pane
    is alive (agent_pane: the pane that runs the agent); a name without a
    session, a glob matching none, a dead pane or a pane that cannot be
    told is an error (with EVERY, skipped with a warning)."""
    sessions = {name: panes for name, panes in tmux.panes_by_session(socket).items()
                if mosaic_hb.valid_agent_name(name)}
    chosen: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    if every:
        chosen = sorted(sessions)
        if not chosen:
            errors.append(f"no agents are running on tmux socket {socket}")
    for pattern in names:
        if settings.is_glob(pattern):
            found = sorted(name for name in sessions if fnmatch.fnmatchcase(name, pattern))
            if not found:
                errors.append(f"no running agent matches {pattern} (tmux socket {socket})")
            chosen += found
        elif pattern in sessions:
            chosen.append(pattern)
        else:
            errors.append(f"{pattern} is not running (no tmux session on socket {socket})")
    targets = []
    for name in dict.fromkeys(chosen):
        record = _record(run_dir, name)
        pane = agent_pane(name, sessions[name], record)
        if isinstance(pane, str):
            (warnings if every else errors).append(pane)
            continue
        if pane.dead:
            how = (f"exit {pane.dead_status}" if pane.dead_status is not None
                   else f"signal {pane.dead_signal}" if pane.dead_signal is not None else "exited")
            message = f"{name} is not running: its pane is dead ({how}); relaunch it with mosaic launch {name}"
            (warnings if every else errors).append(message)
            continue
        targets.append(Target(name, pane.pane_id, record.runtime if record is not None else None,
                              run_dir / f"{name}.send.lock"))
    return targets, errors, warnings


def _look_until_changed(socket: str, pane_id: str, before: tmux.PaneLook) -> bool | None:
    """True once the pane shows something else than BEFORE (within
    ENTER_CHECK_S); False if it never does; None if the pane is gone."""
    deadline = time.monotonic() + ENTER_CHECK_S
    while True:
        now = tmux.pane_look(socket, pane_id)
        if now is None:
            return None
        if now.dead or now.screen != before.screen:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(LOOK_EVERY_S)


@contextmanager
def _turn(target: Target) -> Iterator[None]:
    """TARGET to this send alone, from its paste to its last Enter. Two
    sends at once to one agent (two scripts, two shells) would otherwise
    paste both texts before either Enter, and the agent would get them as
    one message. An flock on TARGET.lock in the run dir (released by the
    kernel if the process dies); with no safe run dir there is no record
    either (a session made by hand), and no one to queue with."""
    if target.lock is None:
        yield
        return
    try:
        mosaic_hb.check_run_dir(target.lock.parent)
        fd = os.open(target.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + TURN_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MosaicError(f"another send to {target.name} has held {target.lock} "
                                      f"for over {TURN_WAIT_S:g}s") from None
                time.sleep(TURN_LOOK_EVERY_S)
        yield
    finally:
        os.close(fd)


def send_one(socket: str, target: Target, data: bytes, *, enter: bool = True,
             settle: float | None = None) -> SendResult:
    """Paste DATA into TARGET's pane, then (with ENTER) press Enter after
    the settle delay of its runtime (or SETTLE), check that the pane
    changed, and press it once more if it did not."""
    result = SendResult(target.name)
    try:
        with _turn(target):
            _send_locked(socket, target, data, result, enter=enter, settle=settle)
    except MosaicError as exc:
        result.error = f"{target.name}: {exc}"
    return result


def _send_locked(socket: str, target: Target, data: bytes, result: SendResult, *, enter: bool,
                 settle: float | None) -> None:
    """send_one's work, in TARGET's turn; what happened goes into RESULT."""
    first = tmux.pane_look(socket, target.pane_id)
    if first is None or first.dead:
        result.error = f"{target.name} is not running: its pane ended"
        return
    if first.in_mode:
        tmux.leave_mode(socket, target.pane_id)
        first = tmux.pane_look(socket, target.pane_id)
        if first is None or first.dead:
            result.error = f"{target.name} is not running: its pane ended"
            return
        if first.in_mode:
            # Pasted now, the text would reach the program as typed keys.
            result.error = (f"{target.name}: its pane is in a tmux mode that could not be left "
                            "(press q in it, or attach); nothing was sent")
            return
    result.began = time.time()
    if data:
        buffer = f"mosaic-send-{os.getpid()}-{secrets.token_hex(6)}"
        tmux.paste(socket, target.pane_id, data, buffer)
        result.pasted = True
        if enter:
            time.sleep(settings.send_settle(target.runtime) if settle is None else settle)
    if not enter:
        return
    for _ in range(2):
        before = tmux.pane_look(socket, target.pane_id)
        if before is None or before.dead:
            result.error = f"{target.name}: its pane ended before Enter could be pressed"
            return
        tmux.press_enter(socket, target.pane_id, in_mode=before.in_mode)
        result.entered = True
        result.presses += 1
        result.changed = _look_until_changed(socket, target.pane_id, before)
        if result.changed is not False:
            break
    if result.changed is False:
        result.warnings.append(f"{target.name}: the pane did not change after Enter, pressed twice; "
                               "the text may not have been submitted")


def send(socket: str, targets: list[Target], data: bytes, *, enter: bool = True,
         settle: float | None = None) -> list[SendResult]:
    """send_one to every target at once, one thread each; results in the
    order of TARGETS."""
    if len(targets) == 1:
        return [send_one(socket, targets[0], data, enter=enter, settle=settle)]
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(targets))) as pool:
        return list(pool.map(lambda t: send_one(socket, t, data, enter=enter, settle=settle), targets))
