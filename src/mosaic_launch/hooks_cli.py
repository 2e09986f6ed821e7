"""``mosaic hooks install|uninstall|status RUNTIME``: mosaic's state hooks in
the user's own CLI config, for agents whose command mosaic cannot rewrite
(a wrapper script, a compound command). The work is in ``userhooks``.

Exit status: 0 done (also when there was nothing to do); 1 a config file
mosaic will not edit (a symlink, unparseable, a notify that is not mosaic's);
2 bad usage. Imported by ``mosaic --help``: each command imports its module
when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mosaic_launch.cli_support import OneLineCommand, command_group, reporting
from mosaic_launch.errors import UsageError

RUNTIMES = ("claude", "codex", "pi")  # mosaic_launch.hooks.RUNTIMES, written out: --help stays light

hooks_app = command_group("mosaic's state hooks in your own claude, codex or pi config.")


@hooks_app.callback()
def hooks_group() -> None:
    """mosaic's state hooks in your own claude, codex or pi config (for
    wrapper commands; a launch of the CLI itself gets them without this)."""


RuntimeArgument = Annotated[
    str, typer.Argument(metavar="RUNTIME", show_default=False, help="claude, codex or pi."),
]


def _runtime(value: str) -> str:
    if value not in RUNTIMES:
        raise UsageError(f"unknown runtime {value!r}: choose one of {', '.join(RUNTIMES)}")
    return value


@hooks_app.command(cls=OneLineCommand)
def install(runtime: RuntimeArgument) -> None:
    """Add mosaic's hooks to RUNTIME's user config (idempotent; everything
    else in the file is kept). claude: ~/.claude/settings.json hooks; codex:
    notify in ~/.codex/config.toml; pi: extensions in ~/.pi/agent/settings.json."""
    with reporting():
        from mosaic_launch import userhooks

        typer.echo(userhooks.install(_runtime(runtime)).message)


@hooks_app.command(cls=OneLineCommand)
def uninstall(runtime: RuntimeArgument) -> None:
    """Remove exactly what `mosaic hooks install RUNTIME` added."""
    with reporting():
        from mosaic_launch import userhooks

        typer.echo(userhooks.uninstall(_runtime(runtime)).message)


@hooks_app.command(cls=OneLineCommand)
def status(runtime: RuntimeArgument) -> None:
    """Say whether mosaic's hooks are in RUNTIME's user config."""
    with reporting():
        from mosaic_launch import userhooks

        typer.echo(userhooks.status(_runtime(runtime)))
