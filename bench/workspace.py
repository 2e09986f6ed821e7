"""One bench run's temporary root, its process marker and its progress log."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .procs import child_env


class Workspace:
    """Hands out fresh directories under ROOT (one per measured run, so no
    run sees another's records or locks) and environments that carry the
    run's process MARKER."""

    def __init__(self, root: Path, marker: str, *, quiet: bool = False):
        self.root = root
        self.marker = marker
        self.quiet = quiet
        self._runs = 0
        self._started = time.monotonic()

    def fresh_dir(self, prefix: str) -> Path:
        self._runs += 1
        path = self.root / f"{prefix}-{self._runs}"
        path.mkdir(mode=0o700)
        return path

    def scope(self, name: str) -> str:
        """A sweepable name for one measurement's processes."""
        self._runs += 1
        return f"{self.marker}-{name}-{self._runs}"

    def env(self, scope: str | None = None, **extra: str) -> dict[str, str]:
        return child_env(self.marker, scope, **extra)

    def log(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.monotonic() - self._started
            print(f"[bench {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)
