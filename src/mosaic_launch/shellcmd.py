"""The agent's command line: shell syntax the user typed.

The command (``--command``, ``MOSAIC_AGENT_COMMAND`` or the runtime's CLI) is
the one string of the launch that is shell syntax by design: it reaches
``SHELL -c`` as a single argv element, whole and unmodified except for one
word this module may put in front of it, ``exec``. Nothing else the launcher
handles (name, workdir, PATH entries, ``--env`` values) ever reaches a shell.

The shell is bash if there is one on PATH (as in the launcher mosaic
replaces, so that commands written for it keep working), else /bin/sh.

Why ``exec``, and when not
--------------------------
The pane's process is what the heartbeat watches and what tmux reports as
``pane_pid``. ``exec CMD`` makes the shell replace itself with the agent, so
the pane pid *is* the agent's pid. That is right for a simple command
(``pi --model x``, ``"$HOME/bin/agent" 2>err.log``, ``FOO=1 claude``; for
leading assignments the ``exec`` goes after them: ``FOO=1 exec claude``).

For anything else ``exec`` would change what the command means: in
``cd repo && pi`` or ``setup; pi`` it would apply to the first command only and
silently drop the rest. So a compound command (lists, pipelines, ``&&``,
``||``, ``&``, subshells, newlines, reserved words such as ``if``/``while``)
and a command starting with a shell builtin (``cd``, ``export``, ``.``) run
exactly as typed, and the pane's process is the shell that runs them. It lives
exactly as long as the command does, so liveness, the exit status kept by
remain-on-exit and the heartbeat all stay correct; only the pid is the
shell's. Users who want the pid to be the agent's write the ``exec``
themselves: ``cd repo && exec pi``.

Classification errs towards "compound": a command this module cannot
classify with certainty runs as typed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

SHELL = "/bin/sh"  # the fallback; see shell()

# Words after which ``exec`` cannot be put: reserved words start compound
# commands; builtins cannot be exec'ed (exec looks them up on PATH).
_RESERVED = frozenset(
    "! { } [[ ]] case do done elif else esac fi for function if in select then "
    "time until while coproc".split()
)
_BUILTINS = frozenset(
    ". : source alias bg break builtin cd command continue eval exec exit export fc "
    "fg getopts hash jobs let local read readonly return set shift test [ times trap "
    "type typeset ulimit umask unalias unset wait".split()
)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")


class _Compound(Exception):
    """The command is not one simple command (or cannot be told apart)."""


def _skip_single(cmd: str, i: int) -> int:
    """I is just after an opening ' ; return the index after the closing one."""
    end = cmd.find("'", i)
    if end < 0:
        raise _Compound
    return end + 1


def _skip_backquote(cmd: str, i: int) -> int:
    n = len(cmd)
    while i < n:
        c = cmd[i]
        if c == "\\":
            i += 2
        elif c == "`":
            return i + 1
        else:
            i += 1
    raise _Compound


def _skip_double(cmd: str, i: int) -> int:
    """I is just after an opening " ; return the index after the closing one."""
    n = len(cmd)
    while i < n:
        c = cmd[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "`":
            i = _skip_backquote(cmd, i + 1)
        elif c == "$" and cmd.startswith("(", i + 1):
            i = _skip_nested(cmd, i + 2, "(", ")")
        elif c == "$" and cmd.startswith("{", i + 1):
            i = _skip_nested(cmd, i + 2, "{", "}")
        else:
            i += 1
    raise _Compound


def _skip_nested(cmd: str, i: int, opening: str, closing: str) -> int:
    """I is just after ``$(`` or ``${``; return the index after the match."""
    depth = 1
    n = len(cmd)
    while i < n:
        c = cmd[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            i = _skip_single(cmd, i + 1)
            continue
        if c == '"':
            i = _skip_double(cmd, i + 1)
            continue
        if c == "`":
            i = _skip_backquote(cmd, i + 1)
            continue
        if c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise _Compound


def _words(cmd: str) -> list[tuple[int, int]]:
    """Spans of the top-level words of CMD; raises _Compound at the first
    operator that makes it more than one simple command."""
    words: list[tuple[int, int]] = []
    start: int | None = None
    i, n = 0, len(cmd)
    while i < n:
        c = cmd[i]
        if c in " \t":
            if start is not None:
                words.append((start, i))
                start = None
            i += 1
            continue
        if c == "#" and start is None:  # a comment runs to the end of the line
            newline = cmd.find("\n", i)
            if newline < 0:
                break
            i = newline
            continue
        if c in ";()\n":
            raise _Compound
        if c == "&" and not (i > 0 and cmd[i - 1] in "<>"):  # >&2 is a redirection
            raise _Compound
        if c == "|" and not (i > 0 and cmd[i - 1] == ">"):  # >| is a redirection
            raise _Compound
        if start is None:
            start = i
        if c == "\\":
            i += 2
        elif c == "'":
            i = _skip_single(cmd, i + 1)
        elif c == '"':
            i = _skip_double(cmd, i + 1)
        elif c == "`":
            i = _skip_backquote(cmd, i + 1)
        elif c == "$" and cmd.startswith("(", i + 1):
            i = _skip_nested(cmd, i + 2, "(", ")")
        elif c == "$" and cmd.startswith("{", i + 1):
            i = _skip_nested(cmd, i + 2, "{", "}")
        else:
            i += 1
    if start is not None:
        words.append((start, min(i, n)))
    return words


def exec_position(command: str) -> int | None:
    """Where ``exec `` goes in COMMAND so that the shell replaces itself with
    the agent, or None if COMMAND must run as typed (see the module doc)."""
    try:
        words = _words(command)
    except _Compound:
        return None
    for start, end in words:
        word = command[start:end]
        if _ASSIGNMENT.match(word):
            continue
        if word in _RESERVED or word in _BUILTINS:
            return None
        return start
    return None  # only assignments (or nothing): nothing to exec


def command_word(command: str) -> tuple[int, int] | None:
    """The span (start, end) of COMMAND's command word, the program it runs,
    when COMMAND is one simple command that ``exec_position`` would exec;
    else None. Its text is as typed (quotes and all)."""
    at = exec_position(command)
    if at is None:
        return None
    for start, end in _words(command):
        if start == at:
            return start, end
    return None  # pragma: no cover - exec_position returns a word's start


def exec_form(command: str) -> str:
    """The script given to ``/bin/sh -c`` for COMMAND: COMMAND itself, with
    ``exec `` inserted before its command word when it is a simple command."""
    at = exec_position(command)
    if at is None:
        return command
    return command[:at] + "exec " + command[at:]


def shell(path: str | None = None) -> str:
    """The shell that runs agents' commands: bash found on PATH (default
    $PATH), made absolute, else /bin/sh."""
    found = shutil.which("bash", path=path if path is not None else os.environ.get("PATH", os.defpath))
    return os.path.abspath(found) if found else SHELL


@functools.lru_cache(maxsize=256)
def syntax_error(command: str, sh: str = SHELL) -> str | None:
    """None if COMMAND is valid syntax for shell SH, else the shell's one-line
    complaint. Runs ``SH -n``, which parses without executing anything.

    Cached: a fleet file usually gives many agents the same command, and
    each check is a process (about 5 ms, 20 of them were a tenth of a 20-agent
    ``fleet up``); the answer for the same text and shell does not change."""
    try:
        done = subprocess.run(
            [sh, "-n", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot check it with {sh}: {exc}"
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"{sh} -n exit status {done.returncode}"
