"""One bench run's temporary root, its process marker and its progress log."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


REMOVE_WAIT_S = 2.0


@contextmanager
def scratch_root(parent: str | os.PathLike | None) -> Iterator[str]:
    """A new temporary directory for one bench run, removed afterwards.
    The run's processes are swept before this exits, but a pane's log
    writer or a tmux server that was just killed may still add a file
    while the tree is being removed (the tree walk then finds a directory
    that is no longer empty): the removal is done again until it holds, for
    at most REMOVE_WAIT_S, then fails naming what is left."""
    path = tempfile.mkdtemp(prefix="mosaic-bench-", dir=parent)
    try:
        yield path
    finally:
        deadline = time.monotonic() + REMOVE_WAIT_S
        while True:
            try:
                shutil.rmtree(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    left = [os.path.join(r, n) for r, ds, fs in os.walk(path) for n in ds + fs]
                    raise OSError(f"cannot remove {path}: still holds {left[:5]}") from None
                time.sleep(0.02)
