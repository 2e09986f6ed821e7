"""The heartbeat core from a test: records and the mosaic-hb sidecar."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import psutil

import mosaic_hb


def read_record(path: Path) -> mosaic_hb.Record | None:
    """The record at PATH, or None if it is missing or not (yet) valid."""
    try:
        return mosaic_hb.read(path)
    except (FileNotFoundError, mosaic_hb.RecordError):
        return None


def record_with(path: Path, **expected) -> Callable[[], mosaic_hb.Record | None]:
    """A condition: the record at PATH has all the EXPECTED field values."""

    def check():
        record = read_record(path)
        if record and all(getattr(record, key) == value for key, value in expected.items()):
            return record
        return None

    return check


def sidecar(*args: str, env: dict | None = None, timeout: float = 10) -> subprocess.CompletedProcess:
    """Run the packaged mosaic-hb with ARGS and capture its output."""
    return subprocess.run(
        [mosaic_hb.sidecar_path(), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def sidecars(name: str, run_dir) -> list[psutil.Process]:
    """Running mosaic-hb processes for agent NAME in RUN_DIR."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if (len(argv) > 2 and os.path.basename(argv[0]) == "mosaic-hb" and argv[1] == name
                and os.fspath(run_dir) in argv):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                continue
    return found
