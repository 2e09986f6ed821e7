"""Fake agents that read input from their pane, for `mosaic send`.

- ``line_reader.py OUT``: a program that reads lines (the terminal in its
  usual cooked mode, echo on), appending each line's bytes to OUT.
- ``paste_tui.py OUT``: a TUI the way claude, codex and pi read input: the
  terminal in raw mode, bracketed paste turned on (``ESC[?2004h``, xterm's
  DECSET 2004: a paste then arrives as ``ESC[200~`` TEXT ``ESC[201~``); it
  appends one JSON line per input event to OUT, ``{"paste": TEXT}`` or
  ``{"key": CHAR}``, and redraws a line for each (as a TUI's composer does),
  so that the pane changes. With ``--swallow-first-enter`` its first Enter
  changes nothing on screen (an Enter lost in a redraw).

Their command lines, for ``mosaic launch --command``, come from the functions
below; each waits until the program has said it is ready."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).parent
READY = "ready>"


def line_reader_command(out: Path) -> str:
    return " ".join(shlex.quote(str(a)) for a in (sys.executable, HERE / "line_reader.py", out))


def paste_tui_command(out: Path, *, swallow_first_enter: bool = False) -> str:
    args = [sys.executable, HERE / "paste_tui.py", out]
    if swallow_first_enter:
        args.append("--swallow-first-enter")
    return " ".join(shlex.quote(str(a)) for a in args)


def events(out: Path) -> list[dict]:
    """The events paste_tui.py recorded in OUT so far."""
    try:
        return [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    except FileNotFoundError:
        return []
