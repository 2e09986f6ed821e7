"""What every ``mosaic`` command shares: one-line errors and exit statuses.

Everything the CLI raises for a user mistake or an environment problem is a
``MosaicError``; ``reporting()`` prints it as one line, ``mosaic: error:
MESSAGE``, and exits with its ``exit_code``. Click's own usage errors
(unknown option, missing value, unknown command) are one line too, with exit
2, through ``OneLineCommand`` and ``OneLineGroup``. Any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import os
import select
import sys
from contextlib import contextmanager
from typing import Annotated, Iterator, Optional

import typer
import typer.core

from mosaic_launch.errors import MosaicError, one_line

PROG = "mosaic"

# Options that several commands share, with the same words everywhere.
SocketOption = Annotated[
    Optional[str],
    typer.Option("--socket", metavar="NAME", show_default=False,
                 help="tmux socket name (tmux -L). Env MOSAIC_TMUX_SOCKET; default mosaic-factory."),
]
RunDirOption = Annotated[
    Optional[str],
    typer.Option("--run-dir", metavar="DIR", show_default=False,
                 help="Heartbeat run dir. Env MOSAIC_HEARTBEAT_RUN_DIR; default ~/.config/mosaic/fleet/run."),
]

LogDirOption = Annotated[
    Optional[str],
    typer.Option("--log-dir", metavar="DIR", show_default=False,
                 help="Where the agents' pane logs are. Env MOSAIC_LOG_DIR; default RUN_DIR/../logs."),
]


def say(prefix: str, message: str) -> None:
    """MESSAGE on one line of stderr: ``mosaic: PREFIX: MESSAGE``."""
    typer.echo(f"{PROG}: {prefix}: {one_line(message)}", err=True)


def say_error(message: str) -> None:
    say("error", message)


def say_warning(message: str) -> None:
    say("warning", message)


class ClosedPipeGuard:
    """A text stream that outlives its reader (``mosaic fleet up | head -1``).

    The first EPIPE points the stream's descriptor at /dev/null, and every
    later write is dropped: the command goes on with its work (every agent
    is still launched or stopped), prints nothing more, and exits with the
    status of what it did, not 1 for a reader that left. Everything else is
    the wrapped stream's, so click sees a stream like the one it wrapped."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def write(self, text):
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def write_bytes(self, data: bytes) -> bool:
        """Write DATA as it is (after any text written before it); False
        once the reader is gone (then nothing more is written)."""
        if not self.reader_gone:
            try:
                self._stream.flush()
                self._stream.buffer.write(data)
                self._stream.buffer.flush()
            except BrokenPipeError:
                self._drop()
        return not self.reader_gone

    def reader_left(self) -> bool:
        """The reader is gone, or would be found gone by the next write: a
        pipe whose read end is closed polls as an error. For a command
        that may print nothing for a long time (``mosaic logs -f``)."""
        if not self.reader_gone:
            try:
                poller = select.poll()
                poller.register(self._stream.fileno(), select.POLLOUT)
                if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
                    self._drop()
            except (OSError, ValueError, AttributeError):
                pass
        return self.reader_gone

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.reader_gone = True
        try:  # what is still buffered is lost with the reader; so is the exit-time flush
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextmanager
def _guarded_streams() -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    # A descriptor closed before start (`mosaic ... >&-`) leaves the stream
    # None: it is a reader gone from the first write on, not a crash.
    streams = [open(os.devnull, "w") if stream is None else stream for stream in saved]
    sys.stdout, sys.stderr = (ClosedPipeGuard(stream) for stream in streams)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for stream, was in zip(streams, saved):
            if was is None:
                stream.close()


@contextmanager
def reporting() -> Iterator[None]:
    """Turn errors into one line on stderr and an exit status; a reader that
    closes stdout or stderr early interrupts nothing (ClosedPipeGuard)."""
    with _guarded_streams():
        try:
            yield
        except MosaicError as exc:
            say_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            say_error(f"{exc.strerror or exc}{where}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            say_error("interrupted")
            raise typer.Exit(130) from None


def _one_line_usage_error(exc: Exception) -> None:
    """Click's usage errors as ``mosaic: error: ...`` and exit 2, instead of
    a usage block. Help shown for a bare group (NoArgsIsHelpError) stays."""
    usage_error = getattr(exc, "exit_code", None) == 2 and callable(getattr(exc, "format_message", None))
    if type(exc).__name__ == "NoArgsIsHelpError" or not usage_error:
        raise exc
    message = exc.format_message().rstrip(".")
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    takes_text = getattr(getattr(ctx, "command", None), "takes_text", False)
    if takes_text and type(exc).__name__ == "NoSuchOption":
        # `mosaic send a "-n 3 lines"`: a text, not short options -n, -' '...
        hint = f" (a text that starts with -: put -- before it, as in '{ctx.command_path} NAME -- TEXT')"
    say_error(f"{message}{hint}")
    raise typer.Exit(2) from None


class OneLineCommand(typer.core.TyperCommand):
    """A Typer command whose usage errors are one line."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as exc:  # click's UsageError, or Typer's copy of it (by version)
            _one_line_usage_error(exc)


class TextCommand(OneLineCommand):
    """A OneLineCommand whose last argument is free text (`mosaic send`):
    an unknown option is probably a text that starts with -, and its
    one-line error says how to give one."""

    takes_text = True


class OneLineGroup(typer.core.TyperGroup):
    """OneLineCommand's rule for a group, an unknown subcommand included."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as exc:
            _one_line_usage_error(exc)

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:
            _one_line_usage_error(exc)


def command_group(help: str, **settings) -> typer.Typer:
    """A Typer app for a command group, set up alike everywhere: one-line
    usage errors, help for a bare group, plain text (no rich markup or rich
    tracebacks). The completion installer only where SETTINGS asks for it
    (the root app: Typer reads it there only)."""
    settings.setdefault("add_completion", False)
    return typer.Typer(
        cls=OneLineGroup,
        help=help,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        **settings,
    )
