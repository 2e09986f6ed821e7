"""`mosaic send` and `mosaic wait`: driving agents without attaching.

Only the commands (parse, call, print, exit); the work is in send.py and
wait.py. cli.py registers them on the `mosaic` app.
"""

import sys
from typing import Annotated, List, Optional

import typer

from mosaic_launch.cli_support import RunDirOption, SocketOption, reporting, say_error, say_warning
from mosaic_launch.completion import complete_agent_names, complete_wait_states
from mosaic_launch.errors import MosaicError, UsageError, seconds


def send(
    names: Annotated[
        Optional[List[str]],
        typer.Argument(metavar="NAME...", show_default=False, autocompletion=complete_agent_names,
                       help="Agent names or globs (quote them: 'web-*'); none with --all."),
    ] = None,
    text: Annotated[
        str,
        typer.Argument(metavar="TEXT", show_default=False,
                       help="The text, or - to read it from stdin (one final newline dropped). "
                            "Put -- before a text that starts with -."),
    ] = ...,
    no_enter: Annotated[bool, typer.Option("--no-enter", help="Paste the text without pressing Enter.")] = False,
    all_agents: Annotated[bool, typer.Option("--all", help="Send to every running agent on the socket.")] = False,
    wait_for: Annotated[
        Optional[str],
        typer.Option("--wait", metavar="STATE", show_default=False, autocompletion=complete_wait_states,
                     help="Then wait until every agent sent to is in STATE (as mosaic wait), counting "
                          "only a state that began with this send: --wait idle is the end of the turn."),
    ] = None,
    wait_timeout: Annotated[
        Optional[str],
        typer.Option("--wait-timeout", metavar="SECONDS", show_default=False,
                     help="Give up waiting after SECONDS (exit 1); default: no limit."),
    ] = None,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
) -> None:
    """Type TEXT into agent NAME and submit it: one bracketed paste, then
    Enter after a settle delay (per runtime), pressed again if the pane did
    not change. Several names, globs or --all: all at once."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb and the tmux code.
        from mosaic_launch import send as sender
        from mosaic_launch import settings
        from mosaic_launch import wait as waiter

        if wait_for is not None:
            waiter.check_state(wait_for, "--wait")
            if no_enter and wait_for in waiter.LIVE_STATES:
                # Nothing is submitted, so no turn begins: the wait could only time out.
                raise UsageError(f"--wait {wait_for} needs the text submitted: not with --no-enter")
        elif wait_timeout is not None:
            raise UsageError("--wait-timeout goes with --wait")
        limit = None if wait_timeout is None else seconds(wait_timeout, f"--wait-timeout {wait_timeout!r}",
                                                          include_low=True)

        names = list(names or [])
        if all_agents and names:
            raise UsageError("give agent names or --all, not both")
        if not all_agents and not names:
            raise UsageError("missing NAME: give agent names (or --all), then the text")
        if text == "-":
            data = sender.text_bytes(sender.read_stdin(sys.stdin), from_stdin=True)
        else:
            data = sender.text_bytes(text)
        if not data and no_enter:
            raise UsageError("nothing to send: the text is empty and --no-enter is given")
        settings.resolve_patterns(names)
        sock = settings.resolve_socket(socket)
        runs = settings.resolve_run_dir(run_dir)
        targets, errors, warnings = sender.resolve_targets(sock, runs, names, all_agents)
        for warning in warnings:
            say_warning(warning)
        if errors and not targets and len(errors) == 1:
            raise MosaicError(errors[0])
        for error in errors:
            say_error(error)
        failed = bool(errors)
        sent = []
        began = {}  # per agent: a state that began before its text went in is not the answer
        for result in sender.send(sock, targets, data, enter=not no_enter):
            for warning in result.warnings:
                say_warning(warning)
            if result.error:
                say_error(result.error)
                failed = True
            else:
                typer.echo(result.describe())
                sent.append(result.name)
                began[result.name] = result.began
        if wait_for is not None and sent:
            sys.stdout.flush()
            outcome = waiter.wait_for(sock, runs, sent, wait_for, timeout=limit, since=began)
            if not outcome.done:
                say_error(outcome.message or "not reached")
                failed = True
        if failed:
            raise typer.Exit(1)


def wait(
    names: Annotated[
        List[str],
        typer.Argument(metavar="NAME...", show_default=False, autocompletion=complete_agent_names,
                       help="Agent names or globs (quote them: 'web-*')."),
    ],
    wanted: Annotated[
        str,
        typer.Option("--for", metavar="STATE", show_default=False, autocompletion=complete_wait_states,
                     help="idle, waiting, working, dead or stopped."),
    ],
    timeout: Annotated[
        Optional[str],
        typer.Option("--timeout", metavar="SECONDS", show_default=False,
                     help="Give up after SECONDS (exit 1, naming the agents that are not there); "
                          "default: no limit."),
    ] = None,
    any_agent: Annotated[bool, typer.Option("--any", help="Return when any one of them is in STATE.")] = False,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
) -> None:
    """Wait until every agent NAME (or, with --any, one of them) is in STATE;
    print the agents that are. Exit 1 on timeout, or when an agent can no
    longer get there (dead, stopped, or gone, for idle, waiting or working)."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb and the tmux code.
        from mosaic_launch import settings
        from mosaic_launch import wait as waiter

        waiter.check_state(wanted)
        limit = None if timeout is None else seconds(timeout, f"--timeout {timeout!r}", include_low=True)
        patterns = settings.resolve_patterns(names)
        sock = settings.resolve_socket(socket)
        runs = settings.resolve_run_dir(run_dir)
        agents = waiter.resolve_agents(sock, runs, patterns)
        outcome = waiter.wait_for(sock, runs, agents, wanted, any_agent=any_agent, timeout=limit)
        for name in outcome.reached:
            typer.echo(name)
        if not outcome.done:
            raise MosaicError(outcome.message or "not reached")
