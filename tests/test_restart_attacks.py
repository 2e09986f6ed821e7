"""Restarts under attack (issue 14): the run dir, planted files, signals to
the sidecar in each phase, hostile restart commands and a user's tmux.
Real tmux, real sidecars; every wait is on an event, with a bound."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from tests.support.agents import launch
from tests.support.procs import runs
from tests.support.run import mosaic
from tests.test_restart import gone, record, restarted
from tests.support.wait import wait_for

pytestmark = pytest.mark.usefixtures("settled")


def waiting(run_dir, name):
    return lambda: "restart_at" in getattr(record(run_dir, name), "extra", {})


def test_the_run_dir_removed_during_a_backoff_does_not_hold_the_restart(tmux, run_dir):
    out = launch(tmux, run_dir, "homeless", "--restart", "on-failure", env={"MOSAIC_RESTART_DELAY_MS": "700"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(waiting(run_dir, "homeless"), 10, "the backoff")
    shutil.rmtree(run_dir)
    rec = wait_for(restarted(run_dir, "homeless", out["pane_pid"]), 15, "a restart into a new run dir")
    assert rec.hb_pid == out["sidecar_pid"]


@pytest.mark.parametrize("kind", ["symlink", "dir", "fifo"])
def test_planted_restart_slot_files_do_not_hold_the_restart(tmux, run_dir, tmp_path, kind):
    out = launch(tmux, run_dir, "planted", "--restart", "on-failure",
                 env={"MOSAIC_RESTART_DELAY_MS": "100", "MOSAIC_RESTART_SLOTS": "2"})
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    for k in range(2):
        slot = run_dir / f"restart-slot-{k}.lock"
        if slot.exists() or slot.is_symlink():
            slot.unlink()
        if kind == "symlink":
            slot.symlink_to(target)
        elif kind == "dir":
            slot.mkdir()
        else:
            os.mkfifo(slot)
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "planted", out["pane_pid"]), 15, "a restart")
    assert target.read_bytes() == b""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_during_a_backoff_records_stopped_and_does_not_restart(tmux, run_dir, signum):
    out = launch(tmux, run_dir, "sig", "--restart", "always", env={"MOSAIC_RESTART_DELAY_MS": "60000"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(waiting(run_dir, "sig"), 10, "the backoff")
    os.kill(out["sidecar_pid"], signum)
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to end")
    rec = record(run_dir, "sig")
    assert rec.status == "stopped" and "restart_at" not in rec.extra


def test_sigusr2_and_sigstop_sigcont_during_a_backoff_still_restart(tmux, run_dir):
    out = launch(tmux, run_dir, "cont", "--restart", "always", env={"MOSAIC_RESTART_DELAY_MS": "1500"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(waiting(run_dir, "cont"), 10, "the backoff")
    os.kill(out["sidecar_pid"], signal.SIGUSR2)
    os.kill(out["sidecar_pid"], signal.SIGSTOP)
    os.kill(out["sidecar_pid"], signal.SIGCONT)
    rec = wait_for(restarted(run_dir, "cont", out["pane_pid"]), 15, "a restart")
    assert rec.hb_pid == out["sidecar_pid"]


def test_a_restart_command_that_is_not_found_gives_up_in_bounded_time(tmux, run_dir):
    out = launch(tmux, run_dir, "nocmd", "--restart", "on-failure", "--restart-command", "no-such-cmd-xyz --go",
                 env={"MOSAIC_RESTART_DELAY_MS": "20"})
    began = time.monotonic()
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(lambda: gone(out["sidecar_pid"]), 20, "the sidecar to give up")
    rec = record(run_dir, "nocmd")
    assert (rec.status, rec.extra["gave_up"], rec.extra["restarts"]) == ("dead", "1", "5")
    assert time.monotonic() - began < 15


# Ends in the word ``\;`` (a trailing ';' is tmux's command separator),
# after a sleep that keeps the restarted agent running: ``sleep 1000 \;``
# would give sleep a ';' argument, exit 1 at once and crash-loop, which the
# test could then only catch in the instant between two restarts.
HOSTILE = "printf '%s\\n' \"#{pane_id} ; \\$(id) é ✓ $(echo sub)\" > \"$OUT\"; sleep 1000 || : \\;"


def test_a_hostile_restart_command_runs_as_typed(tmux, run_dir, tmp_path):
    outfile = tmp_path / "said"
    out = launch(tmux, run_dir, "hostile", "--restart", "on-failure", "--restart-command", HOSTILE,
                 "--env", f"OUT={outfile}", env={"MOSAIC_RESTART_DELAY_MS": "50"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "hostile", out["pane_pid"]), 15, "a restart")
    wait_for(outfile.exists, 10, "the restart command's output")
    wait_for(lambda: outfile.read_text().endswith("\n"), 5, "the line")
    assert outfile.read_text() == "#{pane_id} ; $(id) é ✓ sub\n"


def test_a_restart_command_of_200_words(tmux, run_dir, tmp_path):
    words = " ".join(f"w{i}" for i in range(199))
    out = launch(tmux, run_dir, "wordy", "--restart", "on-failure", "--restart-command", f"sleep 1000 #{words}",
                 env={"MOSAIC_RESTART_DELAY_MS": "50"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "wordy", out["pane_pid"]), 15, "a restart")
    assert rec.status == "ok"


def test_remain_on_exit_turned_off_globally_after_launch_still_restarts(tmux, run_dir):
    out = launch(tmux, run_dir, "conf", "--restart", "on-failure", env={"MOSAIC_RESTART_DELAY_MS": "50"})
    tmux.cmd("set-option", "-g", "remain-on-exit", "off")
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "conf", out["pane_pid"]), 15, "a restart")


def test_a_split_window_restarts_the_agents_pane_only(tmux, run_dir):
    out = launch(tmux, run_dir, "split", "--restart", "on-failure", env={"MOSAIC_RESTART_DELAY_MS": "50"})
    tmux.cmd("split-window", "-t", "=split:", "sleep 2000")
    os.kill(out["pane_pid"], signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "split", out["pane_pid"]), 15, "a restart")
    wait_for(lambda: runs(rec.pid, ["sleep", "1000"]), 5, "the agent again")
    pids = tmux.cmd("list-panes", "-t", "=split:", "-F", "#{pane_pid}").stdout.split()
    assert len(pids) == 2 and str(rec.pid) in pids


def test_a_stopping_mark_planted_as_a_directory_is_removed_or_refused(tmux, run_dir):
    """A launch removes NAME.stopping; one it cannot remove would turn the
    restarts off without a word, so an empty directory is removed and a
    full one stops the launch with one line."""
    run_dir.mkdir(parents=True, mode=0o700)
    (run_dir / "dirmark.stopping").mkdir()
    out = launch(tmux, run_dir, "dirmark", "--restart", "on-failure", env={"MOSAIC_RESTART_DELAY_MS": "50"})
    assert not (run_dir / "dirmark.stopping").exists()
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "dirmark", out["pane_pid"]), 15, "a restart")

    (run_dir / "full.stopping").mkdir()
    (run_dir / "full.stopping" / "x").write_bytes(b"")
    result = mosaic("launch", "full", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--command", "sleep 1000", "--restart", "on-failure")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot remove full.stopping" in lines[0], lines
    assert tmux.cmd("has-session", "-t", "=full", check=False).returncode != 0


@pytest.mark.parametrize("delay_ms, command", [("1", "sleep 1000"), ("100", "sleep 1000"),
                                               ("1", "trap '' HUP; sleep 1000")])
def test_mosaic_stop_racing_a_respawn_leaves_nothing_running_and_a_stop_record(tmux, run_dir, delay_ms, command):
    """kill -9, then at once `mosaic stop`, many times: whichever comes
    first, no agent is left running (not even one that ignores the hangup)
    and the record says stopped."""
    import psutil

    for i in range(int(os.environ.get("RACE_ROUNDS", "8"))):
        name = f"race-{i}"
        out = launch(tmux, run_dir, name, "--restart", "always", command=command,
                     env={"MOSAIC_RESTART_DELAY_MS": delay_ms})
        os.kill(out["pane_pid"], signal.SIGKILL)
        result = mosaic("stop", name, "--socket", tmux.socket_name, "--run-dir", run_dir, "--timeout", "2")
        assert result.exit_code == 0, result.output
        wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to end")
        assert tmux.cmd("has-session", "-t", f"={name}", check=False).returncode != 0
        left = [p.pid for p in psutil.process_iter(["cmdline", "environ"])
                if (p.info["environ"] or {}).get("MOSAIC_AGENT_NAME") == name]
        assert left == [], (i, left)
        rec = record(run_dir, name)
        assert rec is not None and rec.status == "stopped", (i, rec, result.output)


def test_a_session_killed_by_hand_during_a_backoff_is_dead_and_not_restarted(tmux, run_dir):
    out = launch(tmux, run_dir, "byhand", "--restart", "always", env={"MOSAIC_RESTART_DELAY_MS": "800"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(waiting(run_dir, "byhand"), 10, "the backoff")
    tmux.cmd("kill-session", "-t", "=byhand")
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to end")
    rec = record(run_dir, "byhand")
    assert (rec.status, rec.pid, rec.extra["restarts"]) == ("dead", out["pane_pid"], "0")
    assert "restart_at" not in rec.extra
    assert tmux.cmd("has-session", "-t", "=byhand", check=False).returncode != 0


def test_a_sidecar_killed_while_it_holds_the_only_slot_frees_it(tmux, run_dir):
    """One slot, held 60 s after each respawn: the holder's sidecar is
    SIGKILLed; the flock goes with it, and the next restart takes the slot."""
    env = {"MOSAIC_RESTART_DELAY_MS": "1", "MOSAIC_RESTART_SLOTS": "1", "MOSAIC_RESTART_SLOT_HOLD_MS": "60000"}
    first = launch(tmux, run_dir, "holder", "--restart", "on-failure", env=env)
    second = launch(tmux, run_dir, "waiter", "--restart", "on-failure", env=env)
    os.kill(first["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "holder", first["pane_pid"]), 15, "the holder's restart")
    os.kill(second["pane_pid"], signal.SIGKILL)
    wait_for(lambda: getattr(record(run_dir, "waiter"), "status", None) == "dead", 10, "the waiter's wait")
    os.kill(first["sidecar_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "waiter", second["pane_pid"]), 15, "the waiter's restart once the slot is free")


def test_too_many_env_values_for_a_restart_command_are_a_usage_error(tmux, run_dir):
    """The sidecar's respawn has room for RESPAWN_WORDS_MAX words: a launch
    whose restart command would not fit is refused before anything is made
    (it used to run the agent with no sidecar and a warning)."""
    from mosaic_launch import launch as launcher
    from mosaic_launch import settings

    def env_args(n):
        return [a for i in range(n) for a in ("--env", f"K{i}=v")]

    limit = settings.RESTART_ENV_MAX
    result = mosaic("launch", "crowded", "--socket", tmux.socket_name, "--run-dir", run_dir, "--command",
                    "sleep 1000", "--restart", "on-failure", "--restart-command", "sleep 2000",
                    *env_args(limit + 1))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"at most {limit} --env values ({limit + 1} given)" in lines[0], lines
    assert tmux.server_pid() is None and not run_dir.exists()
    # At the limit, the words fit the sidecar: it starts and restarts.
    s = settings.resolve_launch("crowded", socket=tmux.socket_name, run_dir=run_dir, command="sleep 1000",
                                env=[f"K{i}=v" for i in range(limit)], restart="on-failure",
                                restart_command="sleep 2000")
    words = launcher.restart_args(s)
    assert len(words) - words.index("--respawn") - 1 == settings.RESPAWN_WORDS_MAX
    out = launch(tmux, run_dir, "crowded", "--restart", "on-failure", "--restart-command", "sleep 2000",
                 *env_args(limit), env={"MOSAIC_RESTART_DELAY_MS": "1"})
    assert out["sidecar_pid"] is not None
    os.kill(out["pane_pid"], signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "crowded", out["pane_pid"]), 15, "a restart")
    wait_for(lambda: runs(rec.pid, ["sleep", "2000"]), 5, "the restart command")


@pytest.mark.parametrize("sidecar_alive", [True, False])
def test_a_stop_mark_left_by_a_failed_stop_is_removed_by_the_next_launch(tmux, run_dir, sidecar_alive):
    """A stop that marked the agent but did not end its session (it failed,
    or was interrupted) leaves NAME.stopping; a launch that finds the agent
    running ("already running", or "heartbeat restarted") removes it, or
    the next crash would not be restarted."""
    env = {"MOSAIC_RESTART_DELAY_MS": "1"}
    out = launch(tmux, run_dir, "leftover", "--restart", "on-failure", env=env)
    if not sidecar_alive:
        os.kill(out["sidecar_pid"], signal.SIGKILL)
        wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to die")
    (run_dir / "leftover.stopping").write_bytes(b"")
    again = launch(tmux, run_dir, "leftover", "--restart", "on-failure", env=env)
    assert again["outcome"] == ("already running" if sidecar_alive else "heartbeat restarted")
    assert not (run_dir / "leftover.stopping").exists()
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(restarted(run_dir, "leftover", out["pane_pid"]), 15, "a restart")



def test_a_child_that_keeps_the_pty_open_does_not_hold_the_restart(tmux, run_dir):
    """An agent's child (an MCP server, a background job) outlives it and
    keeps the pane's terminal open: tmux still calls the pane dead once the
    agent itself exits, and the restart comes."""
    out = launch(tmux, run_dir, "orphaned", "--restart", "on-failure", command="sleep 3000 & exec sleep 1000",
                 env={"MOSAIC_RESTART_DELAY_MS": "1"}, ready=["sleep", "1000"])
    os.kill(out["pane_pid"], signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "orphaned", out["pane_pid"]), 15, "a restart")
    assert rec.extra["last_exit_signal"] == "9"


def test_stopping_a_running_supervised_agent_says_what_it_did(tmux, run_dir):
    """The stop ends the supervising sidecar first (it records the stop):
    that sidecar was watching, and the result says so."""
    out = launch(tmux, run_dir, "calm", "--restart", "on-failure")
    result = mosaic("stop", "calm", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"stopped calm: pane pid {out['pane_pid']}; heartbeat: stopped"
    assert gone(out["sidecar_pid"]) and gone(out["pane_pid"])
    assert record(run_dir, "calm").status == "stopped"


def test_a_stop_signal_while_waiting_for_a_slot_and_right_after_a_respawn(tmux, run_dir):
    """One slot, held 60 s: the second restart waits for it, and SIGTERM
    then ends that sidecar with a stop record and no respawn. SIGHUP to the
    first right after its respawn ends it too (stopped), leaving the new
    agent alone."""
    env = {"MOSAIC_RESTART_DELAY_MS": "1", "MOSAIC_RESTART_SLOTS": "1", "MOSAIC_RESTART_SLOT_HOLD_MS": "60000"}
    first = launch(tmux, run_dir, "first", "--restart", "on-failure", env=env)
    second = launch(tmux, run_dir, "second", "--restart", "on-failure", env=env)
    os.kill(first["pane_pid"], signal.SIGKILL)
    rec = wait_for(restarted(run_dir, "first", first["pane_pid"]), 15, "the first restart")
    os.kill(second["pane_pid"], signal.SIGKILL)
    wait_for(lambda: getattr(record(run_dir, "second"), "status", None) == "dead", 10, "the second's wait")
    os.kill(second["sidecar_pid"], signal.SIGTERM)
    wait_for(lambda: gone(second["sidecar_pid"]), 10, "the waiting sidecar to end")
    assert record(run_dir, "second").status == "stopped"
    assert tmux.cmd("list-panes", "-t", "=second:", "-F", "#{pane_dead}").stdout.split() == ["1"]
    os.kill(first["sidecar_pid"], signal.SIGHUP)
    wait_for(lambda: gone(first["sidecar_pid"]), 10, "the first sidecar to end")
    assert record(run_dir, "first").status == "stopped" and not gone(rec.pid)


def test_a_session_renamed_during_a_backoff_is_not_respawned(tmux, run_dir):
    """The user renamed the session while the sidecar waited: it is no
    longer the agent's, so the pane stays dead and the agent is dead (as
    after a session killed by hand); a launch brings NAME back."""
    out = launch(tmux, run_dir, "named", "--restart", "on-failure", env={"MOSAIC_RESTART_DELAY_MS": "800"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(waiting(run_dir, "named"), 10, "the backoff")
    tmux.cmd("rename-session", "-t", "=named", "mine-now")
    wait_for(lambda: gone(out["sidecar_pid"]), 10, "the sidecar to end")
    rec = record(run_dir, "named")
    assert (rec.status, rec.pid, rec.extra["restarts"]) == ("dead", out["pane_pid"], "0")
    assert tmux.cmd("list-panes", "-t", "=mine-now:", "-F", "#{pane_dead}").stdout.split() == ["1"]


def test_mosaic_stop_of_an_agent_whose_waiting_sidecar_is_frozen(tmux, run_dir):
    """A sidecar SIGSTOPped during its backoff cannot take the stop's
    SIGTERM: the stop kills it, and records the stop itself."""
    out = launch(tmux, run_dir, "frozen", "--restart", "always", env={"MOSAIC_RESTART_DELAY_MS": "60000"})
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(waiting(run_dir, "frozen"), 10, "the backoff")
    os.kill(out["sidecar_pid"], signal.SIGSTOP)
    result = mosaic("stop", "frozen", "--socket", tmux.socket_name, "--run-dir", run_dir, "--timeout", "2")
    assert result.exit_code == 0, result.output
    assert gone(out["sidecar_pid"])
    assert record(run_dir, "frozen").status == "stopped"
    assert tmux.cmd("has-session", "-t", "=frozen", check=False).returncode != 0
