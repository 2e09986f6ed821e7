"""The sidecar's Prometheus textfile: node_exporter's textfile collector format."""

from __future__ import annotations

import os
import re
import stat
import time

import mosaic_hb
from tests.support.hb import record_with, sidecar
from tests.support.wait import wait_for

SAMPLE = re.compile(r'^(mosaic_agent_[a-z_]+)\{agent="([^"]*)",runtime="([^"]*)"(?:,state="([a-z]+)")?\} (\S+)$')


def samples(path) -> dict[str, float]:
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) mosaic_agent_[a-z_]+ ", line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        # The state gauge is one-hot: keyed by its state label.
        name = match.group(1) + (f"/{match.group(4)}" if match.group(4) else "")
        found[name] = float(match.group(5))
    return found


def test_textfile_tracks_the_agent(spawn_process, run_dir, tmp_path):
    target = spawn_process(["sleep", "300"])
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    env = dict(os.environ, MOSAIC_TEXTFILE_DIR=str(textfile_dir))
    done = sidecar("alpha", str(target.pid), "--run-dir", str(run_dir), "--interval", "0.05",
                   "--runtime", "codex", env=env)
    assert done.returncode == 0, done.stderr
    prom = textfile_dir / "mosaic_alpha.prom"
    values = samples(prom)
    assert values["mosaic_agent_up"] == 1
    assert values["mosaic_agent_heartbeat_interval_seconds"] == 0.05
    assert abs(values["mosaic_agent_heartbeat_timestamp_seconds"] - time.time()) < 60
    started = values["mosaic_agent_start_time_seconds"]
    assert abs(started - time.time()) < 60
    assert 'agent="alpha",runtime="codex"' in prom.read_text()
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644  # node_exporter runs as another user
    target.kill()
    wait_for(record_with(run_dir / "alpha.hb", status="dead"), 5, "status=dead")
    assert samples(prom)["mosaic_agent_up"] == 0
    assert sorted(p.name for p in textfile_dir.iterdir()) == ["mosaic_alpha.prom"]


def test_textfile_dir_must_exist(spawn_process, run_dir, tmp_path):
    target = spawn_process(["sleep", "300"])
    done = sidecar("alpha", str(target.pid), "--run-dir", str(run_dir), "--textfile-dir", str(tmp_path / "nope"))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("mosaic-hb: cannot use the textfile dir")
    assert not run_dir.exists()


def test_spawn_passes_the_textfile_dir(spawn_process, run_dir, tmp_path):
    target = spawn_process(["sleep", "300"])
    hb_pid = mosaic_hb.spawn("bravo", target.pid, run_dir, 0.05, textfile_dir=tmp_path)
    assert (tmp_path / "mosaic_bravo.prom").exists()
    target.kill()
    wait_for(record_with(run_dir / "bravo.hb", status="dead", hb_pid=hb_pid), 5, "status=dead")


def test_the_longest_names_keep_whole_labels(spawn_process, run_dir, tmp_path):
    """An agent and a runtime of 64 characters each (the most the name rule
    allows) still give complete label sets: the label buffer once held a
    32-character runtime only, and cut the line short."""
    target = spawn_process(["sleep", "300"])
    agent, runtime = "a" * 64, "r" * 64
    done = sidecar(agent, str(target.pid), "--run-dir", str(run_dir), "--interval", "0.05",
                   "--runtime", runtime, "--textfile-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / f"mosaic_{agent}.prom").read_text()
    values = samples(tmp_path / f"mosaic_{agent}.prom")  # every line parses
    assert values["mosaic_agent_up"] == 1
    assert text.count(f'agent="{agent}",runtime="{runtime}"') >= 4
    target.kill()
    wait_for(record_with(run_dir / f"{agent}.hb", status="dead"), 5, "status=dead")
