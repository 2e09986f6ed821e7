"""Hosts for `fleet ps --host` without a network: an `ssh` stand-in on the
PATH that answers each host with a file, the good row such an answer holds,
and a strict JSON reader (NaN and Infinity are not JSON)."""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path

GOOD_ROW = {"name": "web-1", "runtime": "pi", "pane": "alive", "exit_status": None, "exit_signal": None,
            "heartbeat": "ok", "detail": None, "healthy": True, "age_s": 0.5, "activity_s": 2.0,
            "pid": 4242, "hb_pid": 4243, "uptime_s": 60.0, "cpu_percent": 1.5, "rss_bytes": 1048576,
            "state": "idle", "state_source": "hook", "state_age_s": 12.5, "waiting_for": None,
            "restart": None, "restarts": None, "last_exit_status": None, "last_exit_signal": None,
            "last_restart": None, "restart_at": None, "gave_up": False}

def strict_json(text: str):
    """TEXT as JSON, refusing NaN and Infinity, which are not JSON."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def fake_ssh(directory: Path, answers: dict[str, str]) -> dict:
    """An `ssh` on the PATH that answers for host H with ANSWERS[H] (and
    fails, as a host without mosaic would, for any other host); the
    environment to run mosaic with."""
    bin_dir = directory / "bin"
    answer_dir = directory / "answers"
    bin_dir.mkdir()
    answer_dir.mkdir()
    for host, text in answers.items():
        (answer_dir / host).write_text(text)
    ssh = bin_dir / "ssh"
    # The destination is the next-to-last word: ssh [OPTIONS] -- DEST COMMAND.
    ssh.write_text("#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\n"
                   f"exec cat {shlex.quote(str(answer_dir))}/\"$1\"\n")
    ssh.chmod(ssh.stat().st_mode | stat.S_IXUSR)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
