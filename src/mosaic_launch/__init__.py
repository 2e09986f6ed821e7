"""mosaic launcher: the ``mosaic`` command (launch, attach, stop, fleet).

Modules: ``cli`` (the Typer app), ``env`` (settings: flag, then MOSAIC_*
variable, then default), ``tmux`` (every tmux call), ``launch`` (launch,
attach and stop as plain functions), ``shellcmd`` (how the agent's command
line reaches /bin/sh), ``errors``.
"""
