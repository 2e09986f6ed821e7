"""mosaic launcher: the ``mosaic`` command (launch, attach, stop, fleet).

Modules:

* ``cli``: the Typer app (``mosaic launch``, ``attach``, ``stop``; ``fleet``
  is added from ``fleet.cli``);
* ``cli_support``: what every command shares: one-line errors and exit
  statuses (``reporting``), the shared options, ``command_group``;
* ``errors``: ``MosaicError`` and its subclasses, each with its exit status;
* ``settings``: every setting resolved in one place: flag, then MOSAIC_*
  variable, then default;
* ``launch``: launch, attach and stop one agent, as plain functions;
* ``tmux``: every tmux call;
* ``shellcmd``: how the agent's command line reaches /bin/sh;
* ``fleet``: ``mosaic fleet`` (ps, up, down), a package with one module per
  concern (see its docstring);
* ``__main__``: ``python -m mosaic_launch``.
"""
