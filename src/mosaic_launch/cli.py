"""The ``mosaic`` command: parse, call into settings/launch, print, exit.

Exit status: 0 done; 1 a runtime failure (tmux failed, agent not running);
2 bad input (nothing was created); 127 tmux is not installed. Every failure
is one line on stderr, ``mosaic: error: ...``; warnings are ``mosaic:
warning: ...`` and do not change the status.

The heavy modules (mosaic_hb, subprocess, the launch logic) are imported
inside the commands, so that ``mosaic --help`` starts fast.
"""

import json
import sys
from typing import Annotated, List, Optional

import typer

from mosaic_launch.cli_support import (command_group, LogDirOption, RunDirOption, SocketOption, PROG, OneLineCommand,
                                       TextCommand, reporting, say_error, say_warning)
from mosaic_launch.errors import MosaicError, UsageError, seconds
from mosaic_launch.fleet.cli import fleet_app
from mosaic_launch.hooks_cli import hooks_app
from mosaic_launch.completion import complete_agent_names, complete_runtimes
from mosaic_launch import drive_cli


app = command_group(
    "Launch AI coding agents (pi, claude, codex) in tmux, each watched by a heartbeat sidecar.",
    name=PROG,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Typer's completion (bash, zsh, fish): --install-completion, --show-completion.
    add_completion=True,
)
app.add_typer(fleet_app, name="fleet")
app.add_typer(hooks_app, name="hooks")


def _require_posix() -> None:
    if sys.platform == "win32":
        raise MosaicError("Windows is not supported: mosaic needs tmux and POSIX processes (use Linux, macOS or WSL)")


def _version(value: bool) -> None:
    if value:
        from mosaic_hb._version import __version__  # here: importing mosaic_hb loads the C extension

        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    with reporting():
        _require_posix()




@app.command(cls=OneLineCommand)
def launch(
    name: Annotated[
        Optional[str],
        typer.Argument(metavar="NAME", show_default=False,
                       # mosaic_hb.AGENT_NAME_RULE, written out: --help must not import mosaic_hb.
                       help="Agent name, [A-Za-z0-9][A-Za-z0-9_-]{0,63}. Env MOSAIC_AGENT_NAME."),
    ] = None,
    socket: SocketOption = None,
    runtime: Annotated[
        Optional[str],
        typer.Option("--runtime", metavar="RUNTIME", show_default=False, autocompletion=complete_runtimes,
                     help="pi, claude or codex. Env MOSAIC_AGENT_RUNTIME; default pi."),
    ] = None,
    workdir: Annotated[
        Optional[str],
        typer.Option("--workdir", metavar="DIR", show_default=False,
                     help="The session's directory, created if missing. Env MOSAIC_AGENT_WORKDIR; default $HOME."),
    ] = None,
    command: Annotated[
        Optional[str],
        typer.Option("--command", metavar="CMD", show_default=False,
                     help="The agent's command line (shell syntax, run with exec). "
                          "Env MOSAIC_AGENT_COMMAND; default the runtime's CLI."),
    ] = None,
    runtime_bin: Annotated[
        Optional[List[str]],
        typer.Option("--runtime-bin", metavar="DIRS", show_default=False,
                     help="Dirs to put first on the pane's PATH if they exist; repeatable, colon-separated. "
                          "Env MOSAIC_RUNTIME_BIN; built-in dirs such as ~/.local/bin follow."),
    ] = None,
    run_dir: RunDirOption = None,
    log_dir: LogDirOption = None,
    interval: Annotated[
        Optional[str],
        typer.Option("--interval", metavar="SECONDS", show_default=False,
                     # mosaic_hb.INTERVAL_MIN and INTERVAL_MAX, written out: --help must not import mosaic_hb.
                     help="Heartbeat interval, 0.05 to 86400. Env MOSAIC_HEARTBEAT_INTERVAL; default 15."),
    ] = None,
    env: Annotated[
        Optional[List[str]],
        typer.Option("--env", metavar="KEY=VALUE", show_default=False,
                     help="Set a variable in the pane; repeatable."),
    ] = None,
    no_hooks: Annotated[
        bool,
        typer.Option("--no-hooks", help="Do not give the agent's CLI (claude, codex, pi) mosaic's state hooks."),
    ] = False,
    restart: Annotated[
        Optional[str],
        typer.Option("--restart", metavar="POLICY", show_default=False,
                     help="Restart the agent when it dies: no, on-failure (a non-zero exit or a signal) "
                          "or always. Env MOSAIC_RESTART; default no."),
    ] = None,
    restart_command: Annotated[
        Optional[str],
        typer.Option("--restart-command", metavar="CMD", show_default=False,
                     help="What a restart runs (e.g. 'claude --continue'). Env MOSAIC_RESTART_COMMAND; "
                          "default the launch command."),
    ] = None,
    attach: Annotated[bool, typer.Option("--attach", help="Attach once launched.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Launch agent NAME in its own tmux session, with a heartbeat sidecar.

    If NAME is already running, say so (and restart its heartbeat if that is
    missing, stale or dead); a session whose agent has exited is replaced."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb and the launch code.
        from mosaic_launch import launch as launcher
        from mosaic_launch import settings

        agent = settings.resolve_launch(
            name, socket=socket, runtime=runtime, workdir=workdir, command=command,
            runtime_bin=runtime_bin or (), run_dir=run_dir, interval=interval, env=env or (),
            hooks=not no_hooks, log_dir=log_dir, restart=restart, restart_command=restart_command,
        )
        result = launcher.launch_agent(agent)
        for warning in result.warnings:
            say_warning(warning)
        typer.echo(json.dumps(result.to_json(), allow_nan=False) if as_json else result.describe())
        if attach:
            sys.stdout.flush()
            launcher.attach(agent.socket, agent.name)


@app.command("attach", cls=OneLineCommand)
def attach_command(
    name: Annotated[
        Optional[str],
        typer.Argument(metavar="NAME", show_default=False, autocompletion=complete_agent_names,
                       help="Agent name. Env MOSAIC_AGENT_NAME."),
    ] = None,
    socket: SocketOption = None,
) -> None:
    """Attach to agent NAME's tmux session."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb and the launch code.
        from mosaic_launch import launch as launcher
        from mosaic_launch import settings

        agent = settings.resolve_name(name)
        launcher.attach(settings.resolve_socket(socket), agent)


@app.command(cls=OneLineCommand)
def stop(
    names: Annotated[
        Optional[List[str]],
        typer.Argument(metavar="NAME", show_default=False, autocompletion=complete_agent_names,
                       help="Agent names. Env MOSAIC_AGENT_NAME if none is given."),
    ] = None,
    all_sessions: Annotated[bool, typer.Option("--all", help="Stop every session on the socket.")] = False,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
    timeout: Annotated[
        Optional[str],
        typer.Option("--timeout", metavar="SECONDS", show_default=False,
                     help="How long to wait, in all, for the agents to exit; default 10."),
    ] = None,
) -> None:
    """Stop agent NAME: end its tmux session, wait (bounded) for the agent
    to exit, and record that it was stopped on purpose. On an agent that
    died, or has no session left, remove its record."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb and the launch code.
        from mosaic_launch import launch as launcher
        from mosaic_launch import settings

        if all_sessions and names:
            raise UsageError("give agent names or --all, not both")
        agents = [] if all_sessions else [settings.resolve_name(n) for n in names or [None]]
        sock = settings.resolve_socket(socket)
        runs = settings.resolve_run_dir(run_dir)
        wait = launcher.STOP_TIMEOUT if timeout is None else seconds(timeout, f"--timeout {timeout!r}", high=3600)

        failed = False
        if all_sessions:
            results = launcher.stop_all(sock, runs, wait)
            if not results:
                typer.echo(f"nothing to stop: no sessions on tmux socket {sock}")
        else:
            results = launcher.stop_agents(sock, agents, runs, wait)
            if len(results) == 1 and isinstance(results[0], MosaicError):
                raise results[0]
        for result in results:
            if isinstance(result, MosaicError):
                say_error(str(result))
                failed = True
                continue
            for warning in result.warnings:
                say_warning(warning)
            typer.echo(result.describe())
            failed = failed or not result.stopped
        if failed:
            raise typer.Exit(1)


@app.command(cls=OneLineCommand)
def logs(
    name: Annotated[
        Optional[str],
        typer.Argument(metavar="NAME", show_default=False, autocompletion=complete_agent_names,
                       help="Agent name. Env MOSAIC_AGENT_NAME."),
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f",
                                         help="Keep printing what the agent prints (Ctrl-C ends).")] = False,
    lines: Annotated[
        Optional[int],
        typer.Option("--lines", "-n", metavar="LINES", min=0, show_default=False,
                     help="Only the last LINES lines."),
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Keep the escape sequences (colours, cursor moves).")] = False,
    screen: Annotated[bool, typer.Option("--screen", help="Print what the live pane shows now instead.")] = False,
    socket: SocketOption = None,
    run_dir: RunDirOption = None,
    log_dir: LogDirOption = None,
) -> None:
    """Print what agent NAME printed, from its pane log (also after it died
    or its session is gone), escape sequences stripped unless --raw. The
    log is rotated at 10 MB (MOSAIC_LOG_MAX_BYTES); the one old file kept
    is printed first."""
    with reporting():
        # Here, not at the top: `mosaic --help` must not load mosaic_hb.
        from mosaic_launch import logs as pane_logs
        from mosaic_launch import settings

        agent = settings.resolve_name(name)
        if screen and (follow or lines is not None):
            raise UsageError("--screen prints the pane once: not with --follow or --lines")
        write = sys.stdout.write_bytes
        if screen:
            pane_logs.show_screen(settings.resolve_socket(socket), agent, write, raw=raw)
            return
        directory = settings.resolve_log_dir(log_dir, settings.resolve_run_dir(run_dir))
        if follow:
            pane_logs.follow(directory, agent, write, lines=lines, raw=raw, until=sys.stdout.reader_left,
                             warn=say_warning)
        else:
            pane_logs.show_log(directory, agent, write, lines=lines, raw=raw, warn=say_warning)


def main() -> None:
    """Entry point of the ``mosaic`` console script."""
    if sys.platform == "win32":
        sys.stderr.write(f"{PROG}: error: Windows is not supported: mosaic needs tmux and POSIX processes "
                         "(use Linux, macOS or WSL)\n")
        sys.exit(1)
    app(prog_name=PROG)


# `mosaic send` and `mosaic wait` (drive_cli.py), registered here, last, so
# that --help lists them after the commands above.
app.command("send", cls=TextCommand)(drive_cli.send)
app.command("wait", cls=OneLineCommand)(drive_cli.wait)


if __name__ == "__main__":
    main()
