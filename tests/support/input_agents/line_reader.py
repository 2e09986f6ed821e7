"""Read lines from the terminal (cooked mode, echo on), append each to OUT.

Reads the descriptor directly: in canonical mode each read returns one line."""

import os
import sys

out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.write(1, b"ready>\n")
while True:
    line = os.read(0, 65536)
    if not line:
        break
    os.write(out, line)
