"""A TUI's input loop: raw mode, bracketed paste on, one JSON event per
input (a paste, or a key) appended to OUT, and a line on screen for each.

Bracketed paste is xterm's DECSET 2004 ("Bracketed Paste Mode", xterm's
ctlseqs): once the program writes ESC[?2004h, the terminal (here tmux, for
`paste-buffer -p`) wraps pasted text in ESC[200~ and ESC[201~."""

import json
import os
import sys
import tty

START, END = b"\x1b[200~", b"\x1b[201~"

out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
swallow = "--swallow-first-enter" in sys.argv[2:]
tty.setraw(0)
os.write(1, b"\x1b[?2004hready>\r\n")
pending = b""
count = 0


def record(event: dict) -> None:
    global count
    os.write(out, (json.dumps(event) + "\n").encode())
    count += 1
    os.write(1, f"event {count}: {sorted(event)[0]}\r\n".encode())


while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    pending += chunk
    while pending:
        if pending.startswith(START):
            end = pending.find(END)
            if end < 0:
                break  # the rest of the paste is still coming
            record({"paste": pending[len(START):end].decode("utf-8", "replace")})
            pending = pending[end + len(END):]
        elif START.startswith(pending):
            break  # perhaps the start of a paste, cut by a read
        else:
            key, pending = pending[:1], pending[1:]
            if key == b"\r" and swallow:
                swallow = False
                os.write(out, b'{"swallowed": "\\r"}\n')
                continue
            record({"key": key.decode("latin-1")})
