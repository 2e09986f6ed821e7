"""Every tmux call mosaic makes, on a socket of its own (``tmux -L SOCKET``).

Rules that keep user strings inert here:

* Arguments go to tmux as argv elements, never through a shell.
* tmux itself treats an argv element that *ends* in ``;`` as a command
  separator; ``_arg`` escapes that (``x;`` is sent as ``x\\;``).
* ``new-session -c`` is expanded as a tmux format, where ``#(...)`` would run
  a shell command; ``#`` is sent doubled (``##``) so the path is literal,
  except in a run of ``#``s before ``[``, which tmux keeps as it is.
  The command's argv elements are not format-expanded.
* ``pipe-pane``'s command is expanded as a format after strftime(3): ``%``
  and ``#`` are sent doubled, and its shell words are quoted by
  ``shell_words``, which also keeps ``#`` from meeting ``[`` (tmux leaves
  ``##[``, a style, as it is).
* Sessions are always targeted as ``=NAME`` (exact match, no prefix or
  pattern matching).

Needs tmux 3.0 or later (a command given as several argv elements).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from mosaic_launch.errors import MosaicError, ascii_digits

TMUX = "tmux"
ENV_PROGRAM = "/usr/bin/env"
TIMEOUT_SECONDS = 10.0
INSTALL_HINT = "tmux not found on PATH; install it (e.g. apt-get install tmux or brew install tmux)"

# A window option of mosaic's sessions: when the last bell rang (see _bell_args).
BELL_OPTION = "@mosaic_bell_at"
_PANE_FIELDS = (
    "#{pid}",  # the server's
    "#{pane_id}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_dead_signal}",
    "#{window_activity}",
    "#{window_bell_flag}",
    "#{@mosaic_bell_at}",  # BELL_OPTION, set by new_session's alert-bell hook; empty elsewhere
    "#{pane_pipe}",  # 1 while pipe-pane feeds a command (the pane log's writer)
    "#{session_name}",  # last: the only field that is not a number or an id
)
_NO_SERVER = ("no server running", "error connecting to")
# What a client says when the server it connected to went away before
# answering: a server exits once its last session ends, and a client that
# connects in that instant (a relaunch after the only agent died, a launch
# beside a stop) is dropped, its command not run. The call is made again:
# it then finds no server (and new-session starts one).
_LOST_SERVER = b"server exited unexpectedly"
LOST_SERVER_TRIES = 3
# A server that is running but holds no session: one kept alive by
# ``exit-empty off`` (as other tools' servers are), or one caught in the
# instant while a first new-session is starting it or a last kill is ending
# it. For mosaic that is an empty fleet, not an error.
_NO_SESSIONS = ("no current target", "no sessions")
# Variables tmux sets in every pane itself, whatever the session environment says.
TMUX_OWNED = frozenset({"TERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "TMUX", "TMUX_PANE"})


class TmuxError(MosaicError):
    """A tmux command failed; the message carries tmux's own reason."""

    exit_code = 1


class TmuxNotInstalled(TmuxError):
    """No ``tmux`` executable on PATH."""

    exit_code = 127

    def __init__(self, message: str = INSTALL_HINT):
        super().__init__(message)


class DuplicateSession(TmuxError):
    """new-session lost to an existing session of the same name."""


class CommandTooLong(TmuxError):
    """The command would not fit in the one message a tmux client sends its
    server; a usage error, found before anything is started."""

    exit_code = 2


# A tmux client sends its whole command (argc, then every argument with its
# NUL) in one message (imsg) of at most 16 KiB (MAX_IMSGSIZE in tmux's
# source), and that message's 16-byte header and 4-byte argc count too, so
# the arguments may take 16,384 - 16 - 4 bytes: tmux 3.3 takes 16,364,
# refuses 16,365 with "failed to send command" (the send fails) and only
# from 16,381 with "command too long". Env pairs and the command line all count.
MAX_COMMAND_BYTES = 16364
_TOO_LONG = ("command too long", "failed to send command")


@dataclass(frozen=True)
class PaneInfo:
    """One pane, as ``list-panes -a`` reports it."""

    session: str
    pane_id: str  # "%N": unique for the life of the server
    pid: int
    dead: bool  # the process exited and remain-on-exit keeps the pane
    dead_status: int | None  # its exit status, if it exited
    dead_signal: int | None  # the signal that killed it, if one did
    activity: int  # window_activity: unix seconds of the last output
    bell: bool = False  # window_bell_flag: a bell rang (monitor-bell) and nobody has looked since
    bell_at: int = 0  # window_activity when the last bell rang (unix seconds); 0 if not known
    piped: bool = False  # pane_pipe: its output goes to a pipe-pane command (the log writer)


def tmux_path() -> str:
    """The tmux executable on PATH; raises TmuxNotInstalled."""
    path = shutil.which(TMUX)
    if path is None:
        raise TmuxNotInstalled()
    return path


def _arg(value: str) -> str:
    """VALUE as one tmux argument: a trailing ``;`` must not end the command."""
    return value[:-1] + "\\;" if value.endswith(";") else value


# A ``#`` that tmux's format expansion would read: not one of a run of
# ``#``s followed by ``[`` (a style, which it leaves as it is: ``#[x`` and
# ``##[x`` come out unchanged, where ``##`` alone becomes ``#``).
_FORMAT_HASH = re.compile(r"#(?!#*\[)")


def _format_literal(value: str) -> str:
    """VALUE for a tmux option that is expanded as a format: ``#`` doubled,
    except before ``[``."""
    return _FORMAT_HASH.sub("##", value)


def shell_words(words: Iterable[str]) -> str:
    """WORDS as a shell command for pipe_pane_args, each word quoted.

    tmux turns ``##`` into ``#`` but leaves ``##[`` as it is (the start of
    a style), so a ``#`` is never put right before a ``[``: shlex.quote
    puts a word with a ``#`` in single quotes whole, where ``''`` (closing
    and reopening them) can go between the two."""
    return " ".join(shlex.quote(word).replace("#[", "#''[") for word in words)


def _run(socket: str, args: Sequence[str], env: dict[str, str] | None = None,
         timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    """tmux ARGS on SOCKET, its output as text (undecodable bytes replaced)."""
    return _text(_run_bytes(socket, args, env=env, timeout=timeout))


def _run_bytes(socket: str, args: Sequence[str], *, data: bytes | None = None,
               env: dict[str, str] | None = None,
               timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    """The one place tmux is started: DATA (or nothing) on its stdin, its
    output as bytes; a missing tmux, a timeout or a failed start raised as
    TmuxNotInstalled or TmuxError."""
    argv = [tmux_path(), "-L", socket, *args]
    try:
        for _ in range(LOST_SERVER_TRIES):
            done = subprocess.run(argv, env=env, input=data,
                                  stdin=subprocess.DEVNULL if data is None else None,
                                  capture_output=True, timeout=timeout, check=False)
            if done.returncode == 0 or _LOST_SERVER not in done.stderr:
                break
        return done
    except FileNotFoundError:
        raise TmuxNotInstalled() from None
    except subprocess.TimeoutExpired:
        raise TmuxError(f"tmux {args[0]} timed out after {timeout:g}s (socket {socket})") from None
    except OSError as exc:
        raise TmuxError(f"cannot run tmux: {exc.strerror or exc}") from None


def _text(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def _reason(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def _no_server(done: subprocess.CompletedProcess) -> bool:
    return done.returncode != 0 and any(text in (done.stderr or "") for text in _NO_SERVER)


def _no_sessions(done: subprocess.CompletedProcess) -> bool:
    """No server, or a server with no session: nothing to list or kill."""
    return _no_server(done) or (
        done.returncode != 0 and any(text in (done.stderr or "") for text in _NO_SESSIONS))


def new_session(
    socket: str,
    name: str,
    argv: Sequence[str],
    *,
    workdir: str,
    env: Iterable[tuple[str, str]] = (),
    path: str | None = None,
    remain_on_exit: bool = True,
    pipe_command: str | None = None,
) -> int:
    """Create detached session NAME running ARGV in WORKDIR, in one tmux call;
    return the pane pid.

    ARGV has two or more elements, so tmux execs it directly (no shell of
    tmux's own). ENV pairs (PATH among them, if given) are set for the pane's
    process by running ARGV under ``/usr/bin/env KEY=VALUE ...``, which execs
    it: the pane pid stays the agent's, values never pass through a shell,
    and tmux 3.0 (no ``new-session -e``) is enough. They apply on top of the
    tmux server's global environment; tmux itself sets TERM, TMUX, TMUX_PANE
    and TERM_PROGRAM* in every pane (see TMUX_OWNED). PATH is also the tmux
    client's PATH, which tmux gives a new session's first pane.

    With REMAIN_ON_EXIT the pane is kept when its process exits; the option
    is set by the same call, before tmux can notice an exit. So is
    PIPE_COMMAND, if given, as the pane's ``pipe-pane -O`` command (see
    pipe_pane_args): tmux runs the whole call before it reads the pane's
    first output, so none of it escapes the pipe. Raises DuplicateSession
    if NAME exists, TmuxError otherwise."""
    args, client_env = _new_session_args(name, argv, workdir=workdir, env=env, path=path,
                                         remain_on_exit=remain_on_exit, pipe_command=pipe_command)
    _check_size(name, args)
    done = _run(socket, args, env=client_env)
    if done.returncode != 0:
        reason = _reason(done)
        if "duplicate session" in reason:
            raise DuplicateSession(f"session {name} already exists (socket {socket})")
        if any(text in reason for text in _TOO_LONG):
            raise CommandTooLong(f"the command of {name} is too long for tmux: {reason}")
        if "unknown flag" in reason or "usage:" in reason:
            reason += " (mosaic needs tmux 3.0 or later)"
        raise TmuxError(f"tmux new-session failed for {name}: {reason}")
    first = done.stdout.strip().splitlines()[:1]
    if not first or not first[0].isdigit():
        raise TmuxError(f"tmux new-session printed no pane pid for {name}: {done.stdout.strip()!r}")
    return int(first[0])


@dataclass(frozen=True)
class SessionRequest:
    """One session for new_sessions: new_session's arguments."""

    name: str
    argv: Sequence[str]
    workdir: str
    env: tuple[tuple[str, str], ...] = ()
    path: str | None = None
    pipe_command: str | None = None  # see new_session


def new_sessions(socket: str, requests: Sequence[SessionRequest]) -> list[int | TmuxError]:
    """new_session for each of REQUESTS, in as few tmux calls as fit: the
    pane pid of each, or the TmuxError (DuplicateSession among them) that
    new_session would have raised for it. A tmux client costs a fork, an
    exec and a connection; ``fleet up`` of many agents was mostly that.

    Requests go together when they share a PATH (the client's own PATH is
    what tmux gives a new session, see new_session) and their commands fit
    in one client message. tmux stops a command sequence at its first
    failure, and every new-session that ran printed its pane pid, in order:
    the requests from the first one without a pid on are done again one at
    a time, so that each gets its own error. Raises TmuxNotInstalled."""
    results: list[int | TmuxError | None] = [None] * len(requests)
    groups: dict[str | None, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.path, []).append(index)
    for indexes in groups.values():
        batch: list[int] = []
        args: list[str] = []
        client_env = None
        for index in indexes:
            r = requests[index]
            one, client_env = _new_session_args(r.name, r.argv, workdir=r.workdir, env=r.env,
                                                path=r.path, remain_on_exit=True,
                                                pipe_command=r.pipe_command)
            if batch and _command_bytes(args) + 2 + _command_bytes(one) > MAX_COMMAND_BYTES:
                _create_batch(socket, requests, batch, args, client_env, results)
                batch, args = [], []
            batch.append(index)
            args += [*([";"] if args else []), *one]
        if batch:
            _create_batch(socket, requests, batch, args, client_env, results)
    return results  # type: ignore[return-value]


def _create_batch(socket: str, requests: Sequence[SessionRequest], batch: list[int],
                  args: list[str], client_env: dict[str, str] | None,
                  results: list[int | TmuxError | None]) -> None:
    done = _run(socket, args, env=client_env) if len(batch) > 1 else None
    pids = [int(line) for line in (done.stdout if done else "").split() if line.isdigit()]
    created = len(batch) if done is not None and done.returncode == 0 and len(pids) == len(batch) \
        else min(len(pids), len(batch))
    for index, pid in zip(batch[:created], pids):
        results[index] = pid
    for index in batch[created:]:
        r = requests[index]
        try:
            results[index] = new_session(socket, r.name, r.argv, workdir=r.workdir, env=r.env, path=r.path,
                                         pipe_command=r.pipe_command)
        except TmuxNotInstalled:
            raise
        except TmuxError as exc:
            results[index] = exc


def _new_session_args(
    name: str,
    argv: Sequence[str],
    *,
    workdir: str,
    env: Iterable[tuple[str, str]],
    path: str | None,
    remain_on_exit: bool,
    pipe_command: str | None = None,
) -> tuple[list[str], dict[str, str] | None]:
    """The tmux arguments of new_session, and the client's environment."""
    if len(argv) < 2:
        raise ValueError("argv needs at least two elements (tmux runs a single one through a shell)")
    args = ["new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name,
            "-c", _arg(_format_literal(workdir))]
    pairs = list(env)
    client_env = None
    if path is not None:
        pairs = [("PATH", path), *[(k, v) for k, v in pairs if k != "PATH"]]
        client_env = {**os.environ, "PATH": path}
    if pairs:
        argv = [ENV_PROGRAM, *(f"{key}={value}" for key, value in pairs), *argv]
    args += [_arg(a) for a in argv]
    if remain_on_exit:
        args += [";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on"]
    if pipe_command is not None:
        args += [";", *pipe_pane_args(f"={name}:", pipe_command)]
    args += _bell_args(name)
    return args, client_env


def pipe_pane_args(target: str, command: str) -> list[str]:
    """``pipe-pane -O -t TARGET COMMAND``: the pane's output (not its input)
    from now on goes to COMMAND's stdin, replacing any pipe the pane had
    (whose command then reads end of file). tmux runs COMMAND with
    ``/bin/sh -c`` after expanding it as a format, so COMMAND must be shell
    syntax whose every user string is quoted (shell_words); ``%`` and
    ``#`` are doubled here, so the expansion leaves them as they are."""
    return ["pipe-pane", "-O", "-t", target, pipe_command_word(command)]


def pipe_command_word(command: str) -> str:
    """COMMAND as pipe-pane's command argument (see pipe_pane_args); also
    what the sidecar is given to pipe a respawned pane (``--respawn-log``).
    tmux gives the argument to strftime(3) before it expands it as a
    format: ``%`` is doubled as ``#`` is."""
    return _arg(_format_literal(command.replace("%", "%%")))


def pipe_pane(socket: str, target: str, command: str) -> None:
    """Run pipe_pane_args (TARGET: a pane id, or ``=SESSION:``); TmuxError
    if tmux refuses (no such pane)."""
    done = _run(socket, pipe_pane_args(target, command))
    if done.returncode != 0:
        raise TmuxError(f"tmux pipe-pane failed for {target}: {_reason(done)}")


def capture_pane(socket: str, target: str, *, escapes: bool = False) -> bytes:
    """What pane TARGET shows now (its visible screen, one line per row),
    with the escape sequences of its colours and attributes if ESCAPES.
    TmuxError if there is no such pane."""
    args = ["capture-pane", "-p", "-t", target, *(["-e"] if escapes else [])]
    done = _run_bytes(socket, args)
    if done.returncode != 0:
        raise TmuxError(f"tmux capture-pane failed for {target}: {_reason(_text(done))}")
    return done.stdout


def respawn_words(argv: Sequence[str], *, env: Iterable[tuple[str, str]] = (),
                  path: str | None = None) -> list[str]:
    """ARGV as the command words of ``respawn-pane`` (the sidecar runs it on
    a restart): under ``/usr/bin/env`` with ENV and PATH, as new_session
    runs a first command, each word escaped for tmux's parser."""
    pairs = list(env)
    if path is not None:
        pairs = [("PATH", path), *[(k, v) for k, v in pairs if k != "PATH"]]
    if pairs:
        argv = [ENV_PROGRAM, *(f"{key}={value}" for key, value in pairs), *argv]
    return [_arg(a) for a in argv]


def _bell_args(name: str) -> list[str]:
    """The tmux commands, chained to new-session, that let fleet ps see a
    bell as ``waiting`` (the pane fallback of agent states): monitor-bell on
    (a user's config may turn it off), so that the bell flag is set in a
    detached session; and a hook noting when the bell rang (as the window's
    activity time, whole seconds), so that output after it (the answer to
    the prompt) ends the wait even though tmux keeps the flag until someone
    looks at the window."""
    target = f"={name}:"
    return [";", "set-option", "-w", "-t", target, "monitor-bell", "on",
            # A session hook (not -w, which needs tmux 3.2): tmux 3.0 takes it.
            ";", "set-hook", "-t", target, "alert-bell",
            f'set-option -F -w {BELL_OPTION} "#{{window_activity}}"']


def _command_bytes(args: Sequence[str]) -> int:
    return sum(len(a.encode("utf-8", "surrogateescape")) + 1 for a in args)


def _check_size(name: str, args: Sequence[str]) -> None:
    size = _command_bytes(args)
    if size > MAX_COMMAND_BYTES:
        raise CommandTooLong(
            f"the command of {name} is too long for tmux: {size} bytes with its environment, "
            f"over tmux's limit of {MAX_COMMAND_BYTES}")


def check_new_session(
    name: str,
    argv: Sequence[str],
    *,
    workdir: str,
    env: Iterable[tuple[str, str]] = (),
    path: str | None = None,
    remain_on_exit: bool = True,
    pipe_command: str | None = None,
) -> None:
    """Raise CommandTooLong if new_session with these arguments would be
    refused for its size; nothing is run."""
    args, _ = _new_session_args(name, argv, workdir=workdir, env=env, path=path,
                                remain_on_exit=remain_on_exit, pipe_command=pipe_command)
    _check_size(name, args)


def list_panes(socket: str, timeout: float = TIMEOUT_SECONDS) -> list[PaneInfo]:
    """Every pane on the server, in tmux's order (session, window, pane), from
    one ``list-panes -a`` call. No server running: an empty list.

    A pane that tmux shows dead but without an exit status or signal is
    usually a moment from being reaped. It can also stay that way: tmux
    built with libutempter can miss the SIGCHLD of a pane that exits while
    utempter runs (tmux/tmux#311), leaving the process a zombie and its
    status unknown. Then the server is sent SIGCHLD, which makes it reap its
    children, and the panes are listed again (a bounded number of times).
    TIMEOUT: for each tmux call (a hung server raises TmuxError)."""
    panes, server_pid = _list_panes(socket, timeout)
    for pause in _REAP_PAUSES:
        if server_pid is None or not any(_unreaped(pane) for pane in panes):
            break
        try:
            os.kill(server_pid, signal.SIGCHLD)
        except OSError:
            break
        time.sleep(pause)
        panes, server_pid = _list_panes(socket, timeout)
    return panes


_REAP_PAUSES = (0.005, 0.02, 0.05, 0.1)


def _unreaped(pane: PaneInfo) -> bool:
    return pane.dead and pane.dead_status is None and pane.dead_signal is None


def _list_panes(socket: str, timeout: float) -> tuple[list[PaneInfo], int | None]:
    done = _run(socket, ["list-panes", "-a", "-F", "\t".join(_PANE_FIELDS)], timeout=timeout)
    if _no_sessions(done):
        return [], None
    if done.returncode != 0:
        raise TmuxError(f"tmux list-panes failed: {_reason(done)}")
    panes = []
    server_pid = None
    for line in done.stdout.splitlines():
        parts = line.split("\t", len(_PANE_FIELDS) - 1)
        if len(parts) != len(_PANE_FIELDS):
            continue
        server, pane_id, pid, dead, status, signum, activity, bell, bell_at, piped, session = parts
        try:
            panes.append(PaneInfo(
                session=session,
                pane_id=pane_id,
                pid=int(pid),
                dead=dead == "1",
                dead_status=int(status) if ascii_digits(status) else None,
                dead_signal=int(signum) if ascii_digits(signum) else None,
                activity=int(activity) if ascii_digits(activity) else 0,
                bell=bell == "1",
                bell_at=int(bell_at) if ascii_digits(bell_at) and len(bell_at) <= 20 else 0,
                piped=piped == "1",
            ))
            server_pid = int(server)
        except ValueError:
            continue
    return panes, server_pid


def session_panes(socket: str, name: str) -> list[PaneInfo]:
    """The panes of session NAME (first: the agent's); empty if there is none."""
    return panes_by_session(socket).get(name, [])


def panes_by_session(socket: str, timeout: float = TIMEOUT_SECONDS) -> dict[str, list[PaneInfo]]:
    """Every session's panes (first: the agent's), in tmux's order, from one
    ``list-panes -a`` call (TIMEOUT: see list_panes)."""
    sessions: dict[str, list[PaneInfo]] = {}
    for pane in list_panes(socket, timeout):
        sessions.setdefault(pane.session, []).append(pane)
    return sessions


def has_session(socket: str, name: str) -> bool:
    done = _run(socket, ["has-session", "-t", f"={name}"])
    return done.returncode == 0


def kill_session(socket: str, name: str) -> bool:
    """Kill session NAME; False if there was no such session."""
    done = _run(socket, ["kill-session", "-t", f"={name}"])
    if done.returncode == 0:
        return True
    if _no_sessions(done) or "can't find session" in (done.stderr or ""):
        return False
    raise TmuxError(f"tmux kill-session failed for {name}: {_reason(done)}")


KILL_BATCH = 200  # sessions per tmux call: well within MAX_COMMAND_BYTES


def kill_sessions(socket: str, names: Sequence[str]) -> dict[str, TmuxError]:
    """Kill every session of NAMES, with one tmux call per KILL_BATCH names
    (``kill-session -t =A ; kill-session -t =B ...``) instead of one each;
    the names whose session could not be killed, with why. A session that
    is already gone is not a failure. tmux stops a command sequence at its
    first failure, so a batch that fails is done again one name at a time."""
    failures: dict[str, TmuxError] = {}
    for at in range(0, len(names), KILL_BATCH):
        batch = names[at:at + KILL_BATCH]
        args: list[str] = []
        for name in batch:
            args += [*([";"] if args else []), "kill-session", "-t", f"={name}"]
        if batch and _run(socket, args).returncode == 0:
            continue
        for name in batch:
            try:
                kill_session(socket, name)
            except TmuxError as exc:
                failures[name] = exc
    return failures


def kill_pane(socket: str, pane_id: str) -> bool:
    """Kill the pane with id PANE_ID ("%N"); its session ends with its last
    pane. False if the pane is already gone. Targeting the id rather than
    the session never touches a session created since PANE_ID was listed."""
    done = _run(socket, ["kill-pane", "-t", pane_id])
    return done.returncode == 0


def attach_argv(socket: str, name: str) -> list[str]:
    return [tmux_path(), "-L", socket, "attach-session", "-t", f"={name}"]


def attach(socket: str, name: str) -> NoReturn:
    """Replace this process with a tmux client attached to session NAME.

    $TMUX is dropped from the client's environment, so that attaching from
    inside another tmux (the usual case: mosaic has a socket of its own)
    nests the client instead of refusing."""
    argv = attach_argv(socket, name)
    env = {key: value for key, value in os.environ.items() if key not in ("TMUX", "TMUX_PANE")}
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        raise TmuxError(f"cannot run tmux: {exc.strerror or exc}") from None


# ---- mosaic send: a paste, then Enter -------------------------------------------

# What `pane_look` reads before and after an Enter: whether the pane is in a
# mode (copy mode would take Enter as its own key), where the cursor is, how
# much has scrolled off; then the visible screen.
_LOOK_FORMAT = "#{pane_in_mode} #{cursor_x} #{cursor_y} #{history_size} #{pane_dead}"


def _run_input(socket: str, args: Sequence[str], data: bytes) -> subprocess.CompletedProcess:
    """_run, with DATA on tmux's stdin (bytes in, text out)."""
    return _text(_run_bytes(socket, args, data=data))


def paste(socket: str, pane_id: str, data: bytes, buffer: str) -> None:
    """Paste DATA into pane PANE_ID as a bracketed paste, in one tmux call.

    DATA goes to tmux on its stdin (``load-buffer -b BUFFER -``), so no byte
    of it is ever an argument, a format, a command or a key name; then
    ``paste-buffer -p -d`` writes it to the pane, wrapped in ESC[200~ ...
    ESC[201~ if the program in the pane asked for bracketed paste (tmux adds
    them only then), and deletes the buffer. Line feeds become carriage
    returns, as in a terminal's paste. BUFFER is a name of the caller's,
    unique to this paste: two sends at once never paste each other's text.
    Raises TmuxError."""
    done = _run_input(socket, ["load-buffer", "-b", buffer, "-", ";",
                               "paste-buffer", "-p", "-d", "-b", buffer, "-t", pane_id], data)
    if done.returncode != 0:
        _run(socket, ["delete-buffer", "-b", buffer])  # if the paste failed after the load
        raise TmuxError(f"tmux paste-buffer failed for pane {pane_id}: {_reason(done)}")


@dataclass(frozen=True)
class PaneLook:
    """What a pane shows at one moment (see pane_look)."""

    in_mode: bool  # copy mode or another mode: keys go to the mode, not the program
    dead: bool
    screen: str  # the cursor, the scrolled-off line count and the visible lines


def pane_look(socket: str, pane_id: str) -> PaneLook | None:
    """What pane PANE_ID shows now, from one tmux call; None if it is gone."""
    done = _run(socket, ["display-message", "-p", "-t", pane_id, _LOOK_FORMAT, ";",
                         "capture-pane", "-p", "-t", pane_id])
    if done.returncode != 0:
        return None
    head, _, screen = done.stdout.partition("\n")
    fields = head.split()
    if len(fields) != 5:
        return None
    return PaneLook(in_mode=fields[0] == "1", dead=fields[4] == "1", screen=" ".join(fields[1:4]) + "\n" + screen)


def leave_mode(socket: str, pane_id: str) -> None:
    """Take pane PANE_ID out of any mode, to its program: in a mode, tmux
    pastes without the bracketed-paste markers (the mode's screen never
    asked for them), so the program reads the text as typed keys, each line
    feed an Enter; and Enter is the mode's key. ``copy-mode -q`` leaves
    every mode (copy, view, clock, the choose-tree and other choosers);
    a tmux without it gets ``send-keys -X cancel``, which leaves copy and
    view mode only: the caller looks again (see pane_look)."""
    done = _run(socket, ["copy-mode", "-q", "-t", pane_id])
    if done.returncode != 0:
        _run(socket, ["send-keys", "-X", "-t", pane_id, "cancel"])


def press_enter(socket: str, pane_id: str, in_mode: bool = False) -> None:
    """Press Enter in pane PANE_ID: the key name ``Enter``, the only key
    mosaic sends. IN_MODE (the pane is in a mode): first leave it (see
    leave_mode), where Enter would copy a selection or choose a tree item
    instead of reaching the program. Raises TmuxError."""
    if in_mode:
        leave_mode(socket, pane_id)
    done = _run(socket, ["send-keys", "-t", pane_id, "Enter"])
    if done.returncode != 0:
        raise TmuxError(f"tmux send-keys failed for pane {pane_id}: {_reason(done)}")
