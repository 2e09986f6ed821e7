"""`mosaic-hb state` in odd pane environments: the run dir and agent name
come from the environment, and a hook runs in whatever directory the CLI
is in. Anything but an absolute run dir and a valid name is a silent no-op."""

from __future__ import annotations

import os
import subprocess

import mosaic_hb


def hook(agent: str, run_dir: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, MOSAIC_AGENT_NAME=agent, MOSAIC_HEARTBEAT_RUN_DIR=run_dir)
    return subprocess.run([mosaic_hb.sidecar_path(), "state", "working"], capture_output=True,
                          text=True, env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=10)


def test_a_relative_run_dir_writes_nothing_where_the_cli_happens_to_be(tmp_path):
    """Launch sets an absolute run dir; a relative one would name a different
    directory each time the CLI changes directory."""
    project = tmp_path / "project"
    (project / "run").mkdir(parents=True, mode=0o700)
    done = hook("rel", "run", cwd=project)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert os.listdir(project / "run") == []


def test_bad_agent_names_write_nothing_anywhere(tmp_path):
    top = tmp_path / "top"
    run_dir = top / "run"
    run_dir.mkdir(parents=True, mode=0o700)
    for name in ("x/y", "..", ".", "../run/up", "a" * 65, "a" * 200, "-rf", "a b"):
        done = hook(name, str(run_dir), cwd=top)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), name
    assert os.listdir(run_dir) == []
    assert os.listdir(top) == ["run"]


def test_a_name_at_the_64_character_edge_is_written(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    name = "n" * 64
    done = hook(name, str(run_dir), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert mosaic_hb.read_state_file(run_dir / f"{name}.state", name).state == "working"
    assert os.listdir(run_dir) == [f"{name}.state"]
