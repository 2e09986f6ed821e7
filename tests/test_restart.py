"""Restarts (issue 14): the sidecar brings a dead agent back by respawning
its tmux pane, after a doubling delay, up to a burst limit, a few at a time
per host; a deliberate stop is never undone. Real tmux, real sidecars, real
agents (sleep, sh); every wait is on an event, with a bound.

The delays are shortened with MOSAIC_RESTART_DELAY_MS (and the stagger with
MOSAIC_RESTART_SLOT_HOLD_MS), as a host would set them."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

import mosaic_hb

from tests.support.agents import launch, ps
from tests.support.hb import read_record, sidecars
from tests.support.procs import cwd_of, environ_of, runs
from tests.support.run import mosaic
from tests.support.wait import wait_for

pytestmark = pytest.mark.usefixtures("settled")

FAST_RESTART = {"MOSAIC_RESTART_DELAY_MS": "100"}
# How much later than its delay a restart may come on a loaded 2-core host:
# the issue's "1 s plus the backoff".
RESTART_SLACK_S = 1.0


def record(run_dir, name) -> mosaic_hb.Record | None:
    return read_record(Path(run_dir, f"{name}.hb"))


def restarted(run_dir, name, old_pid, restarts=1):
    """A condition: NAME's record is ok, about a new pid, after RESTARTS."""
    def check():
        rec = record(run_dir, name)
        if (rec is not None and rec.status == "ok" and rec.pid != old_pid
                and rec.extra.get("restarts") == str(restarts)):
            return rec
        return None
    return check


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def session_id(tmux, name) -> str:
    return tmux.cmd("display-message", "-p", "-t", f"={name}:", "#{session_id}").stdout.strip()


def row(tmux, run_dir, name, *args) -> dict:
    doc = ps(tmux, run_dir, *args, code=None)
    return {r["name"]: r for r in doc["agents"]}[name]


# A command that exits with STATUS when sent SIGTERM (and takes its sleep
# with it); it creates READY once its trap is set.
def exits_on_term(status: int, ready: Path) -> str:
    return f"trap 'kill $!; exit {status}' TERM; sleep 1000 & : > '{ready}'; wait"


def test_kill_9_under_on_failure_restarts_in_the_same_session_workdir_and_env(tmux, run_dir, tmp_path):
    workdir = tmp_path / "work dir"
    out = launch(tmux, run_dir, "crashy", "--restart", "on-failure", "--workdir", workdir,
                 "--env", "GREETING=hello there", env=FAST_RESTART)
    old = out["pane_pid"]
    session = session_id(tmux, "crashy")
    killed_at = time.time()
    os.kill(old, signal.SIGKILL)

    rec = wait_for(restarted(run_dir, "crashy", old), 15, "a restart with a new pid")
    new = rec.pid
    wait_for(lambda: runs(new, ["sleep", "1000"]), 5, "the new agent to run")
    # The delay is 100 ms plus up to a quarter of it as jitter; the sidecar
    # notes the respawn's time (psutil's start times are only to the second).
    assert float(rec.extra["last_restart"]) - killed_at <= 0.125 + RESTART_SLACK_S
    assert session_id(tmux, "crashy") == session
    assert cwd_of(new) == str(workdir)
    env = environ_of(new)
    assert env["GREETING"] == "hello there" and env["MOSAIC_AGENT_NAME"] == "crashy"
    assert rec.hb_pid == out["sidecar_pid"] and len(sidecars("crashy", run_dir)) == 1
    assert rec.extra["last_exit_signal"] == "9" and rec.extra["restart"] == "on-failure"

    r = row(tmux, run_dir, "crashy")
    assert (r["heartbeat"], r["pane"], r["healthy"], r["pid"]) == ("ok", "alive", True, new)
    assert (r["restarts"], r["last_exit_signal"], r["restart"]) == (1, 9, "on-failure")
    assert r["last_restart"] >= killed_at and r["restart_at"] is None
    # The heartbeat follows the new pid: beats go on.
    seq = rec.seq
    wait_for(lambda: (record(run_dir, "crashy") or rec).seq > seq + 1, 10, "beats about the new pid")
    assert record(run_dir, "crashy").pid == new


def test_exit_0_under_on_failure_is_not_restarted(tmux, run_dir, tmp_path):
    ready = tmp_path / "ready"
    out = launch(tmux, run_dir, "done", "--restart", "on-failure", command=exits_on_term(0, ready),
                 env=FAST_RESTART)
    wait_for(ready.exists, 10, "the agent's trap")
    os.kill(out["pane_pid"], signal.SIGTERM)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to end")
    rec = record(run_dir, "done")
    assert (rec.status, rec.pid, rec.extra["last_exit_status"], rec.extra["restarts"]) == (
        "dead", out["pane_pid"], "0", "0")
    assert "restart_at" not in rec.extra
    r = row(tmux, run_dir, "done")
    assert (r["heartbeat"], r["pane"], r["exit_status"], r["restarts"]) == ("dead", "dead", 0, 0)


def test_exit_0_under_always_is_restarted(tmux, run_dir, tmp_path):
    ready = tmp_path / "ready"
    out = launch(tmux, run_dir, "again", "--restart", "always", command=exits_on_term(0, ready),
                 env=FAST_RESTART)
    wait_for(ready.exists, 10, "the agent's trap")
    ready.unlink()
    os.kill(out["pane_pid"], signal.SIGTERM)
    rec = wait_for(restarted(run_dir, "again", out["pane_pid"]), 15, "a restart after exit 0")
    assert rec.extra["last_exit_status"] == "0" and rec.extra["restart"] == "always"
    wait_for(ready.exists, 10, "the first command to run again")
    assert runs(rec.pid, ["bash", "-c", exits_on_term(0, ready)])


def test_a_crash_loop_backs_off_and_gives_up_at_the_burst_limit(tmux, run_dir, tmp_path):
    """Each restart runs a command that notes when it started and exits 3:
    the gaps between starts are at least the doubling delays (50, 100, 200,
    400 ms), and after 5 restarts the sidecar gives up."""
    starts = tmp_path / "starts"
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    crash = f"date +%s.%N >> '{starts}'; exit 3"
    out = launch(tmux, run_dir, "loop", "--restart", "on-failure", "--restart-command", crash,
                 env={"MOSAIC_RESTART_DELAY_MS": "50", "MOSAIC_TEXTFILE_DIR": str(textfile_dir)})
    killed_at = time.time()
    os.kill(out["pane_pid"], signal.SIGKILL)

    wait_for(lambda: gone(out["sidecar_pid"]), 20, "the sidecar to give up")
    rec = record(run_dir, "loop")
    assert (rec.status, rec.extra["restarts"], rec.extra["gave_up"]) == ("dead", "5", "1")
    # tmux may never learn the status of a pane that exits within a moment
    # of its respawn (it counts as a failure then): 3, or not known.
    assert rec.extra.get("last_exit_status", "3") == "3"
    times = [killed_at] + [float(line) for line in starts.read_text().split()]
    assert len(times) == 6
    gaps = [b - a for a, b in zip(times, times[1:])]
    for k, gap in enumerate(gaps):
        assert gap >= 0.050 * 2 ** k - 0.01, gaps

    r = row(tmux, run_dir, "loop")
    assert (r["heartbeat"], r["restarts"], r["gave_up"]) == ("dead", 5, True)
    assert r["detail"] == "gave up after 5 restarts"
    table = mosaic("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", run_dir).stdout
    assert "RESTARTS" in table.splitlines()[0] and "5 (gave up)" in table
    prom = (textfile_dir / "mosaic_loop.prom").read_text()
    assert 'mosaic_agent_restarts_total{agent="loop",runtime="pi"} 5' in prom
    assert 'mosaic_agent_restart_gave_up{agent="loop",runtime="pi"} 1' in prom
    assert 'mosaic_agent_up{agent="loop",runtime="pi"} 0' in prom


def test_the_record_and_metrics_never_read_healthy_while_a_restart_waits(tmux, run_dir, tmp_path):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    out = launch(tmux, run_dir, "waits", "--restart", "on-failure",
                 env={"MOSAIC_RESTART_DELAY_MS": "60000", "MOSAIC_TEXTFILE_DIR": str(textfile_dir)})
    os.kill(out["pane_pid"], signal.SIGKILL)
    rec = wait_for(lambda: (r := record(run_dir, "waits")) and r.status == "dead" and r, 10, "status=dead")
    assert float(rec.extra["restart_at"]) > time.time() + 50
    r = row(tmux, run_dir, "waits")
    assert (r["heartbeat"], r["healthy"]) == ("restarting", False) and r["detail"].startswith("restart in ")
    prom = (textfile_dir / "mosaic_waits.prom").read_text()
    assert 'mosaic_agent_up{agent="waits",runtime="pi"} 0' in prom
    assert 'mosaic_agent_restarting{agent="waits",runtime="pi"} 1' in prom
    ps(tmux, run_dir, "--check", code=1)
    assert mosaic("stop", "waits", "--socket", tmux.socket_name, "--run-dir", run_dir).exit_code == 0


def test_mosaic_stop_during_a_backoff_stops_and_never_restarts(tmux, run_dir):
    out = launch(tmux, run_dir, "halt", "--restart", "always", env={"MOSAIC_RESTART_DELAY_MS": "3000"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(lambda: "restart_at" in getattr(record(run_dir, "halt"), "extra", {}), 10, "the backoff")

    result = mosaic("stop", "halt", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert gone(out["sidecar_pid"])
    rec = record(run_dir, "halt")
    assert rec.status == "stopped" and "stopped_by" in rec.extra
    assert not tmux.cmd("has-session", "-t", "=halt", check=False).returncode == 0
    r = row(tmux, run_dir, "halt", "--all")
    assert (r["heartbeat"], r["pane"]) == ("stopped", "gone")
    # Nothing is left that could restart it: no sidecar, no session.
    assert sidecars("halt", run_dir) == []


def test_a_stop_mark_is_looked_at_right_before_the_respawn(tmux, run_dir):
    """The stop marks NAME.stopping before anything else: a sidecar that
    finds the mark after its delay does not respawn, and records a stop."""
    out = launch(tmux, run_dir, "marked", "--restart", "always", env={"MOSAIC_RESTART_DELAY_MS": "500"})
    Path(run_dir, "marked.stopping").write_bytes(b"")
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to end")
    assert record(run_dir, "marked").status == "stopped"
    panes = tmux.cmd("list-panes", "-t", "=marked:", "-F", "#{pane_dead} #{pane_pid}").stdout.split()
    assert panes == ["1", str(out["pane_pid"])]
    # A fresh launch removes the mark: restarts work again.
    again = launch(tmux, run_dir, "marked", "--restart", "always", env=FAST_RESTART)
    assert not Path(run_dir, "marked.stopping").exists()
    os.kill(again["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "marked", again["pane_pid"]), 15, "a restart after a fresh launch")


def test_the_restart_command_from_the_fleet_file_is_used(tmux, run_dir, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 0.2\n'
                     'restart = "on-failure"\n'
                     '[[agent]]\nname = "resumer"\ncommand = "sleep 1000"\n'
                     'restart_command = "sleep 2000"\nenv = { MARK = "kept" }\n'
                     '[[agent]]\nname = "plain"\ncommand = "sleep 1000"\nrestart = "no"\n')
    result = mosaic("fleet", "up", "-f", fleet, env=FAST_RESTART)
    assert result.exit_code == 0, result.output
    first = record(run_dir, "resumer")
    plain = record(run_dir, "plain")
    assert first.extra["restart"] == "on-failure" and "restart" not in plain.extra
    os.kill(first.pid, signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "resumer", first.pid), 15, "a restart")
    wait_for(lambda: runs(rec.pid, ["sleep", "2000"]), 5, "the restart command")
    assert environ_of(rec.pid)["MARK"] == "kept"
    os.kill(plain.pid, signal.SIGKILL)
    wait_for(lambda: gone(plain.hb_pid), 10, "the plain agent's sidecar to end")
    assert record(run_dir, "plain").status == "dead"


def test_a_killed_tmux_server_is_no_restart_storm_and_fleet_up_brings_the_agents_back(tmux, run_dir, tmp_path):
    fleet = tmp_path / "fleet.toml"
    names = ["s1", "s2", "s3"]
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 0.2\n'
                     'restart = "always"\n'
                     + "".join(f'[[agent]]\nname = "{n}"\ncommand = "sleep 1000"\n' for n in names))
    assert mosaic("fleet", "up", "-f", fleet, env=FAST_RESTART).exit_code == 0
    before = {n: record(run_dir, n) for n in names}
    tmux.cmd("kill-server")
    for n in names:
        wait_for(lambda n=n: gone(before[n].hb_pid), 10, f"the sidecar of {n} to end")
    for n in names:
        rec = record(run_dir, n)
        assert (rec.status, rec.pid, rec.extra["restarts"]) == ("dead", before[n].pid, "0")
        assert "restart_at" not in rec.extra
    assert tmux.server_pid() is None  # nobody started a server to respawn into

    result = mosaic("fleet", "up", "-f", fleet, env=FAST_RESTART)
    assert result.exit_code == 0, result.output
    for n in names:
        rec = record(run_dir, n)
        assert rec.status == "ok" and rec.pid != before[n].pid and rec.extra["restarts"] == "0"


def test_twenty_agents_killed_at_once_come_back_staggered(tmux, run_dir, tmp_path):
    """Two restart slots per host, each held 300 ms after its respawn: any
    three restarts span at least 300 ms, and the twenty at least 2.7 s."""
    fleet = tmp_path / "fleet.toml"
    names = [f"herd-{i:02d}" for i in range(20)]
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 5\n'
                     'restart = "on-failure"\n'
                     + "".join(f'[[agent]]\nname = "{n}"\ncommand = "sleep 1000"\n' for n in names))
    env = {"MOSAIC_RESTART_DELAY_MS": "100", "MOSAIC_RESTART_SLOTS": "2", "MOSAIC_RESTART_SLOT_HOLD_MS": "300"}
    assert mosaic("fleet", "up", "-f", fleet, env=env).exit_code == 0
    pids = {n: record(run_dir, n).pid for n in names}
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    recs = {n: wait_for(restarted(run_dir, n, pids[n]), 60, f"{n} to restart") for n in names}
    times = sorted(float(rec.extra["last_restart"]) for rec in recs.values())
    for a, c in zip(times, times[2:]):
        assert c - a >= 0.3 - 0.02, times
    assert times[-1] - times[0] >= 2.7 - 0.05
    per_second = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert per_second <= 2 * 4  # 2 slots, each used at most every 300 ms


def test_a_sidecar_killed_during_a_backoff_is_replaced_cleanly_by_a_relaunch(tmux, run_dir):
    out = launch(tmux, run_dir, "orphan", "--restart", "on-failure", env={"MOSAIC_RESTART_DELAY_MS": "60000"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(lambda: "restart_at" in getattr(record(run_dir, "orphan"), "extra", {}), 10, "the backoff")
    os.kill(out["sidecar_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to die")
    r = row(tmux, run_dir, "orphan")
    assert r["heartbeat"] == "dead" and r["detail"].endswith("no restart will come")

    again = launch(tmux, run_dir, "orphan", "--restart", "on-failure", env=FAST_RESTART)
    assert again["outcome"] == "launched" and again["pane_pid"] != out["pane_pid"]
    assert [p.pid for p in sidecars("orphan", run_dir)] == [again["sidecar_pid"]]
    rec = record(run_dir, "orphan")
    assert (rec.status, rec.hb_pid, rec.extra["restarts"]) == ("ok", again["sidecar_pid"], "0")
    # The new sidecar restarts the new agent.
    os.kill(again["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "orphan", again["pane_pid"]), 15, "a restart by the new sidecar")
    assert [p.pid for p in sidecars("orphan", run_dir)] == [again["sidecar_pid"]]


def test_a_relaunched_heartbeat_keeps_the_restart_count(tmux, run_dir):
    out = launch(tmux, run_dir, "counted", "--restart", "on-failure", env=FAST_RESTART)
    os.kill(out["pane_pid"], signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "counted", out["pane_pid"]), 15, "a restart")
    os.kill(rec.hb_pid, signal.SIGKILL)
    wait_for(lambda: gone(rec.hb_pid), 10, "the sidecar to die")
    again = launch(tmux, run_dir, "counted", "--restart", "on-failure", env=FAST_RESTART)
    assert again["outcome"] == "heartbeat restarted"
    assert record(run_dir, "counted").extra["restarts"] == "1"


@pytest.mark.parametrize("args, env, message", [
    (["--restart", "sometimes"], {}, "invalid restart policy 'sometimes' (from --restart)"),
    ([], {"MOSAIC_RESTART": "yes"}, "invalid restart policy 'yes' (from MOSAIC_RESTART)"),
    ([], {"MOSAIC_RESTART": ""}, "MOSAIC_RESTART is set but empty"),
    (["--restart-command", "claude 'unclosed"], {}, "--restart-command is not valid shell syntax"),
    ([], {"MOSAIC_RESTART_DELAY_MS": "0"}, "MOSAIC_RESTART_DELAY_MS: invalid '0'"),
    ([], {"MOSAIC_RESTART_SLOTS": "two"}, "MOSAIC_RESTART_SLOTS: invalid 'two'"),
    ([], {"MOSAIC_RESTART_DELAY_MS": "nan"}, "MOSAIC_RESTART_DELAY_MS: invalid 'nan'"),
    ([], {"MOSAIC_RESTART_DELAY_MS": "-1"}, "MOSAIC_RESTART_DELAY_MS: invalid '-1'"),
    ([], {"MOSAIC_RESTART_DELAY_MS": "1e9"}, "MOSAIC_RESTART_DELAY_MS: invalid '1e9'"),
    ([], {"MOSAIC_RESTART_DELAY_MS": "86400001"}, "MOSAIC_RESTART_DELAY_MS: invalid '86400001'"),
    (["--restart-command", "claude --continue"], {},
     "--restart-command needs a restart policy: --restart on-failure or always"),
    (["--restart", "no", "--restart-command", "claude --continue"], {}, "--restart-command needs a restart policy"),
])
def test_bad_restart_settings_are_one_line_exit_2_and_create_nothing(tmux, run_dir, args, env, message):
    result = mosaic("launch", "bad", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--command", "sleep 1000", *args, env=env)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mosaic: error: ") and message in lines[0], lines
    assert tmux.server_pid() is None and not run_dir.exists()


@pytest.mark.parametrize("line, message", [
    ('restart = "sometimes"',
     "invalid restart policy 'sometimes' (from restart): choose one of no, on-failure, always"),
    ('restart = "ALWAYS"', "invalid restart policy 'ALWAYS' (from restart): choose one of no, on-failure, always"),
    ("restart = 1", "restart must be a string, not an integer"),
    ("restart = true", "restart must be a string, not a boolean"),
    ('restart_command = "sleep 2"',
     "restart_command needs a restart policy: restart on-failure or always"),
])
def test_a_bad_restart_key_in_the_fleet_file_names_its_line(tmux, run_dir, tmp_path, line, message):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\n'
                     f'[[agent]]\nname = "a"\ncommand = "sleep 1000"\n{line}\n')
    result = mosaic("fleet", "up", "-f", fleet)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"mosaic: error: {fleet}:6: agent a: {message}"
    assert tmux.server_pid() is None


@pytest.mark.parametrize("args, message", [
    (["--restart", "maybe"], "invalid --restart 'maybe'"),
    (["--restart", "always"], "--restart needs --tmux"),
    (["--restart", "always", "--tmux", "/usr/bin/tmux"], "--restart needs --tmux-socket"),
    (["--restart-delay-ms", "-5"], "invalid --restart-delay-ms '-5'"),
    (["--respawn", "sleep", "1"], "--respawn and --respawn-log go with --restart"),
    (["--respawn-log", "exec cat"], "--respawn and --respawn-log go with --restart"),
])
def test_the_sidecar_refuses_bad_restart_options(run_dir, args, message):
    from tests.support.hb import sidecar

    done = sidecar("a1", str(os.getpid()), "--run-dir", str(run_dir), *args)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1
    assert not run_dir.exists()


def test_a_restart_command_gets_the_panes_environment_and_hooks_again(run_dir, tmux):
    from mosaic_launch import launch as launcher
    from mosaic_launch import settings

    def sidecar_args(*hooks_off: bool, **kw):
        s = settings.resolve_launch("hooked", socket=tmux.socket_name, run_dir=run_dir, command="sleep 1000",
                                    env=["TOKEN=a b"], restart="on-failure", hooks=not hooks_off, **kw)
        return launcher.restart_args(s)

    args = sidecar_args(restart_command="claude --continue")
    assert args[:2] == ["--restart", "on-failure"] and args[args.index("--tmux-socket") + 1] == tmux.socket_name
    words = args[args.index("--respawn") + 1:]
    assert words[0] == "/usr/bin/env" and "TOKEN=a b" in words and "MOSAIC_AGENT_NAME=hooked" in words
    assert any(w.startswith("PATH=") for w in words)
    assert "--settings" in words[-1] and words[-1].endswith("--continue")
    off = sidecar_args(True, restart_command="claude --continue")
    assert "--settings" not in off[-1]
    # Without a restart command tmux reruns the first one (which has them).
    assert "--respawn" not in sidecar_args()
    # A word ending in ';' must not end tmux's command.
    semi = sidecar_args(restart_command="sleep 2000;")
    assert not semi[-1].endswith(";") or semi[-1].endswith("\\;")
    assert launcher.restart_args(settings.resolve_launch("off", run_dir=run_dir, command="sleep 1")) == []


def test_the_delay_doubles_to_its_cap_and_starts_over_after_a_long_enough_run(tmux, run_dir):
    """A sidecar started by hand with a 200 ms first delay, a 1 s cap and a
    1 s reset: quick deaths wait 0.2, 0.4, 0.8, then 1 s (each plus up to a
    quarter as jitter); a death after a run of over 1 s waits 0.2 s again.
    The delays are read from the record (restart_delay=), as chosen."""
    import shutil

    from tests.support.hb import sidecar

    out = launch(tmux, run_dir, "steps")
    done = sidecar("steps", str(out["pane_pid"]), "--run-dir", str(run_dir), "--interval", "15",
                   "--restart", "on-failure", "--tmux", shutil.which("tmux"), "--tmux-socket", tmux.socket_name,
                   "--restart-delay-ms", "200", "--restart-max-delay", "1", "--restart-reset-after", "1")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the old sidecar to hand over")

    def crash_and_delay(pid: int, restarts: int) -> tuple[float, int]:
        os.kill(pid, signal.SIGKILL)
        waiting = wait_for(lambda: (r := record(run_dir, "steps")) and r.status == "dead" and r, 10, "the wait")
        rec = wait_for(restarted(run_dir, "steps", pid, restarts), 10, "the restart")
        return float(waiting.extra["restart_delay"]), rec.pid

    pid, delays = out["pane_pid"], []
    for n in range(1, 5):
        delay, pid = crash_and_delay(pid, n)
        delays.append(delay)
    for delay, nominal in zip(delays, (0.2, 0.4, 0.8, 1.0)):
        assert nominal <= delay <= nominal * 1.25 + 0.001, delays
    began = float(record(run_dir, "steps").extra["last_restart"])
    wait_for(lambda: time.time() - began > 1.2, 5, "a run longer than 1 s")
    delay, pid = crash_and_delay(pid, 5)
    assert 0.2 <= delay <= 0.251, delay


@pytest.mark.skipif(__import__("shutil").which("strace") is None, reason="strace is not installed")
def test_a_beat_with_a_restart_policy_stays_five_system_calls_and_no_fork(spawn_process, run_dir, tmp_path, tmux):
    """Under strace: a sidecar with a restart policy beats as one without
    (5 system calls, no fork); tmux is run only once the agent has died."""
    import collections
    import shutil

    from tests.support.hb import read_record as read
    from tests.test_hb_state import beats_syscalls

    target = spawn_process(["sleep", "300"])
    trace = tmp_path / "trace"
    traced = spawn_process(["strace", "-f", "-qq", "-o", str(trace), mosaic_hb.sidecar_path(), "counted",
                            str(target.pid), "--run-dir", str(run_dir), "--interval", "0.05", "--foreground",
                            "--restart", "always", "--tmux", shutil.which("tmux"),
                            "--tmux-socket", tmux.socket_name])
    record = run_dir / "counted.hb"
    wait_for(lambda: (r := read(record)) is not None and r.seq >= 20, 20, "20 beats")
    target.kill()
    assert traced.wait(timeout=20) == 0  # no pane of that pid on the socket: no restart
    per_beat = beats_syscalls(trace.read_text())
    beats, death = per_beat[:-1], per_beat[-1]
    counts = collections.Counter(len(calls) for calls in beats)
    assert counts.most_common(1)[0][0] == 5, counts
    forks = {"clone", "clone3", "fork", "vfork", "execve"}
    assert not any(forks & set(calls) for calls in beats), counts
    assert forks & set(death)  # the death path asked tmux
    assert read(record).status == "dead"


def test_host_rows_carry_the_restart_keys_and_bad_ones_are_corrupt(tmp_path):
    from tests.support.remote import GOOD_ROW, fake_ssh, strict_json
    from tests.support.run import mosaic_proc

    good = {**GOOD_ROW, "name": "web-2", "heartbeat": "restarting", "healthy": False, "restart": "always",
            "restarts": 3, "last_exit_status": None, "last_exit_signal": 9, "last_restart": 1796230000.5,
            "restart_at": 1796230010.25, "gave_up": False, "detail": "restart in 4.0s"}
    bad = {"restarts": (-1, "restarts is out of range (-1; expected 0 to 9223372036854775807)"),
           "restart": ("sometimes", "restart is not one of on-failure, always ('sometimes')"),
           "gave_up": ("yes", "gave_up is not true or false (a string)"),
           "last_exit_signal": (0, "last_exit_signal is out of range (0; expected 1 to 128)"),
           "restart_at": (-5.0, "restart_at is out of range (-5; expected 0 to 1e+12)")}
    bad_rows = [{**GOOD_ROW, "name": f"bad-{i}", key: value} for i, (key, (value, _)) in enumerate(bad.items())]
    document = {"schema": 1, "socket": "s", "run_dir": "/r", "agents": [GOOD_ROW, good, *bad_rows]}
    env = fake_ssh(tmp_path, {"new": json.dumps(document)})
    done = mosaic_proc("fleet", "ps", "--json", "--host", "new", env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    found = {row["name"]: row for row in strict_json(done.stdout)["agents"]}
    assert found["web-1"] == {**GOOD_ROW, "host": "new"}
    assert found["web-2"] == {**good, "host": "new"}
    for i, (key, (_, why)) in enumerate(bad.items()):
        row = found[f"bad-{i}"]
        assert row["heartbeat"] == "corrupt" and row["detail"] == f"bad answer: {why}", row
    table = mosaic_proc("fleet", "ps", "--host", "new", env=env).stdout
    assert "RESTARTS" in table and "restarting" in table and "3 (" in table


def test_fleet_down_during_a_backoff_stops_every_agent_and_restarts_none(tmux, run_dir, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\ninterval = 0.2\nrestart = "always"\n'
                     '[[agent]]\nname = "up-1"\ncommand = "sleep 1000"\n'
                     '[[agent]]\nname = "down-1"\ncommand = "sleep 1000"\n')
    assert mosaic("fleet", "up", "-f", fleet, env={"MOSAIC_RESTART_DELAY_MS": "60000"}).exit_code == 0
    first = {n: record(run_dir, n) for n in ("up-1", "down-1")}
    os.kill(first["down-1"].pid, signal.SIGKILL)
    wait_for(lambda: "restart_at" in getattr(record(run_dir, "down-1"), "extra", {}), 10, "the backoff")

    result = mosaic("fleet", "down", "-f", fleet)
    assert result.exit_code == 0, result.output
    for name, rec in first.items():
        assert gone(rec.hb_pid) and sidecars(name, run_dir) == []
        assert record(run_dir, name).status == "stopped"
    assert tmux.cmd("list-sessions", check=False).returncode != 0  # no session, none respawned


def test_quick_restart_bench_completes(tmp_path):
    """`python -m bench --restart --quick`: crash to the new agent running,
    by the sidecar and by hand, and a beat's system calls with and without
    a policy; it prints its table and writes nothing."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bench", "--restart", "--quick", "--quiet", "--scratch", str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent, env=dict(os.environ), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "| sidecar restart, delay 1 ms |" in done.stdout
    assert "| `mosaic launch` after the death |" in done.stdout
    assert "| mosaic-hb --restart on-failure |" in done.stdout


def _log_writers(log_file: Path) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [])[1:3] == ["log", str(log_file)]]


def test_the_pane_log_marks_each_restart_and_keeps_one_writer(tmux, run_dir, tmp_path):
    """The sidecar starts a new log writer (its marker says restart) in the
    same tmux call as the respawn; the old writer ends."""
    log_file = run_dir.parent / "logs" / "noted.log"
    ready = tmp_path / "ready"
    out = launch(tmux, run_dir, "noted", "--restart", "always",
                 command=f"echo run-$$; {exits_on_term(0, ready)}", env=FAST_RESTART)
    wait_for(lambda: ready.exists(), 10, "the first run's trap")
    first = out["pane_pid"]
    wait_for(lambda: log_file.exists() and f"run-{first}" in log_file.read_text(errors="replace"), 10,
             "the first run in the log")
    ready.unlink()
    os.kill(first, signal.SIGTERM)
    rec = wait_for(restarted(run_dir, "noted", first), 15, "a restart")
    wait_for(lambda: f"run-{rec.pid}" in log_file.read_text(errors="replace"), 10,
             "the second run in the log")
    text = log_file.read_text(errors="replace")
    assert text.index(f"run-{first}") < text.index("noted restart") < text.index(f"run-{rec.pid}")
    wait_for(lambda: len(_log_writers(log_file)) == 1, 10, "one writer for the pane")
