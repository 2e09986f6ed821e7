"""mosaic launch / stop against a real tmux server on an isolated socket,
with real heartbeat sidecars, a temporary HOME and run dir."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mosaic_hb
import pytest

from mosaic_launch import settings as settings_env
from mosaic_launch import launch as launcher
from mosaic_launch import shellcmd
from mosaic_launch import tmux as tmux_mod
from tests.support.agents import SLEEPER, launch
from tests.support.hb import read_record, record_with, sidecars
from tests.support.procs import cmdline_of, cwd_of, environ_of, py_command, write_script
from tests.support.run import mosaic, mosaic_argv
from tests.support.tmux import server_running, sessions
from tests.support.wait import wait_for

# Every test here runs against a tmux server; see support.wait.settle.
pytestmark = pytest.mark.usefixtures("settled")


def find_files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern)] if root.exists() else []


def panes_of(tmux, name):
    return tmux_mod.session_panes(tmux.socket_name, name)


def dead_pane(tmux, name):
    """A condition: NAME's pane is dead and tmux has its exit status or signal
    (tmux sees the pty close a moment before it reaps the process)."""
    return lambda: [p for p in panes_of(tmux, name)
                    if p.dead and (p.dead_status is not None or p.dead_signal is not None)]


# ---- the session and its pane ----------------------------------------------


def test_session_starts_in_workdir_which_is_created(tmux, run_dir, tmp_path):
    workdir = tmp_path / "not yet" / "work dir"
    out = launch(tmux, run_dir, "wd", "--workdir", workdir)
    assert out["outcome"] == "launched"
    assert workdir.is_dir()
    session_path = tmux.cmd("display-message", "-p", "-t", "=wd:", "#{session_path}").stdout.strip()
    assert session_path == str(workdir)
    assert cwd_of(out["pane_pid"]) == str(workdir)


def test_workdir_with_tmux_style_and_format_characters_is_taken_literally(tmux, run_dir, tmp_path):
    """tmux leaves ``#[`` and ``##[`` (styles) as they are but makes ``##``
    one ``#``: a doubled ``#[`` named another dir, and tmux started the
    pane somewhere else."""
    workdir = tmp_path / "w #[x] ##[y] # ## #{pane_id} #(id) %d"
    out = launch(tmux, run_dir, "wdf", "--workdir", workdir)
    assert out["outcome"] == "launched"
    assert cwd_of(out["pane_pid"]) == str(workdir)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("w ")] == [workdir.name]


def test_workdir_defaults_to_home(tmux, run_dir, home):
    out = launch(tmux, run_dir, "homebody")
    assert cwd_of(out["pane_pid"]) == str(home)


def test_pane_pid_is_the_agents_pid(tmux, run_dir):
    out = launch(tmux, run_dir, "pid1")
    pid = out["pane_pid"]
    assert cmdline_of(pid) == ["sleep", "1000"]  # sh exec'ed the agent: same pid
    assert [p.pid for p in panes_of(tmux, "pid1")] == [pid]
    record = wait_for(record_with(run_dir / "pid1.hb", status="ok"), 1, "first beat")
    assert record.pid == pid
    assert record.hb_pid == out["sidecar_pid"]


def test_text_output_is_one_line_with_pids_and_attach_command(tmux, run_dir):
    result = mosaic("launch", "txt", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--interval", "0.2", "--command", SLEEPER)
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    pane = panes_of(tmux, "txt")[0]
    record = read_record(run_dir / "txt.hb")
    assert line == (f"launched txt: pane pid {pane.pid}, sidecar pid {record.hb_pid}; "
                    f"attach: mosaic attach txt --socket {tmux.socket_name}")
    assert result.stderr == ""


def test_heartbeat_file_is_there_when_launch_returns(tmux, run_dir):
    # Not timed (a loaded machine may take its time): launch returns only
    # once the sidecar's first beat is on disk, so the record is there
    # already, not eventually.
    out = launch(tmux, run_dir, "beat", "--runtime", "claude")
    record = read_record(run_dir / "beat.hb")
    assert record is not None and record.status == "ok"
    assert (record.agent, record.pid, record.runtime, record.interval) == ("beat", out["pane_pid"], "claude", 0.2)
    assert out["hb_file"] == str(run_dir / "beat.hb")
    assert oct((run_dir).stat().st_mode & 0o777) == oct(0o700)


def test_remain_on_exit_is_set_on_the_session(tmux, run_dir):
    launch(tmux, run_dir, "keep")
    value = tmux.cmd("show-options", "-w", "-v", "-t", "=keep:", "remain-on-exit").stdout.strip()
    assert value == "on"


# ---- PATH in the pane --------------------------------------------------------


def test_pane_path_order(tmux, run_dir, home, tmp_path, monkeypatch):
    first = tmp_path / "bin one"  # a space in the dir
    second = tmp_path / "second"
    missing = tmp_path / "missing"
    on_launcher_path = tmp_path / "already"
    builtin_local = home / ".local" / "bin"
    builtin_cargo = home / ".cargo" / "bin"  # codex's
    for d in (first, second, on_launcher_path, builtin_local, builtin_cargo):
        d.mkdir(parents=True)
    launcher_path = os.pathsep.join(["/usr/bin", "/bin", str(on_launcher_path), "/usr/bin"])
    monkeypatch.setenv("PATH", launcher_path)
    monkeypatch.setenv("MOSAIC_RUNTIME_BIN", str(tmp_path / "ignored-when-flag-given"))
    out = launch(tmux, run_dir, "paths", "--runtime", "codex",
                 "--runtime-bin", first, "--runtime-bin", f"{second}:{missing}:{on_launcher_path}:{first}")
    path = environ_of(out["pane_pid"])["PATH"].split(":")
    assert path[:5] == [str(first), str(second), str(on_launcher_path), str(builtin_local), str(builtin_cargo)]
    assert path[5:] == ["/usr/bin", "/bin"]  # the launcher's PATH, without duplicates
    assert str(missing) not in path


def test_runtime_bin_from_environment_variable(tmux, run_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    out = launch(tmux, run_dir, "envbin", env={"MOSAIC_RUNTIME_BIN": f"{b}:{a}"})
    assert environ_of(out["pane_pid"])["PATH"].split(":")[:2] == [str(b), str(a)]


def test_dir_already_on_launcher_path_still_goes_first(tmux, run_dir, tmp_path, monkeypatch):
    """Seed test 5: the pane's PATH is not the launcher's."""
    extra = tmp_path / "runtime bin"
    extra.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([os.environ["PATH"], str(extra)]))
    out = launch(tmux, run_dir, "seed5", "--runtime-bin", extra)
    path = environ_of(out["pane_pid"])["PATH"].split(":")
    assert path[0] == str(extra)
    assert path.count(str(extra)) == 1


def test_agent_is_found_through_path_dir_with_spaces(tmux, run_dir, tmp_path):
    """Seed test 3: the configured command runs, found in the runtime bin dir."""
    bindir = tmp_path / "my runtime bin"
    report = tmp_path / "report.txt"
    write_script(bindir / "mosaic", f'printf "%s\\n" "$@" > {shlex.quote(str(report))}\nexec sleep 1000\n')
    out = launch(tmux, run_dir, "seed3", "--runtime-bin", bindir,
                 command="mosaic yolo pi --model openai-codex/gpt-5.5:high", ready=["sleep", "1000"])
    wait_for(report.exists, 5, "the agent's report")
    assert report.read_text().splitlines() == ["yolo", "pi", "--model", "openai-codex/gpt-5.5:high"]
    assert cmdline_of(out["pane_pid"]) == ["sleep", "1000"]  # still the pane's own process


def test_missing_runtime_bin_dir_still_execs(tmux, run_dir, tmp_path):
    """Seed test 4: with no candidate dir existing, the command is still exec'ed."""
    out = launch(tmux, run_dir, "seed4", "--runtime-bin", tmp_path / "nonexistent")
    assert cmdline_of(out["pane_pid"]) == ["sleep", "1000"]
    assert str(tmp_path / "nonexistent") not in environ_of(out["pane_pid"])["PATH"]


# ---- the command line ---------------------------------------------------------


ARGV_DUMP = (
    "import json, os, sys, time\n"
    "json.dump({'argv': sys.argv[1:], 'FOO': os.environ.get('FOO')}, open('argv.json', 'w'))\n"
    "time.sleep(1000)\n"
)


def test_command_with_awkward_quoting(tmux, run_dir, tmp_path):
    workdir = tmp_path / "w"
    args = ["it's", 'a "b"', "$HOME", "x;y", "$(touch PWNED1)", "`touch PWNED2`",
            "#{pane_pid}", "#(touch PWNED3)", "semi;", "back\\slash", "  spaced  ", "*", "~"]
    command = py_command(ARGV_DUMP, *args) + ' "$HOME"'
    out = launch(tmux, run_dir, "quotes", "--workdir", workdir, command=command)
    dump = workdir / "argv.json"
    wait_for(lambda: dump.exists() and dump.stat().st_size, 5, "argv dump")
    got = json.loads(dump.read_text())
    assert got["argv"] == args + [os.environ["HOME"]]
    assert cmdline_of(out["pane_pid"])[0] == sys.executable  # exec'ed: the pane pid is python's
    assert find_files(tmp_path, "PWNED*") == []


def test_command_ending_in_semicolon_reaches_the_shell_whole(tmux, run_dir):
    out = launch(tmux, run_dir, "semi", command="sleep 1000 #;", ready=["sleep", "1000"])
    assert cmdline_of(out["pane_pid"]) == ["sleep", "1000"]


def test_leading_assignment_is_kept_and_the_agent_still_execed(tmux, run_dir, tmp_path):
    workdir = tmp_path / "w"
    out = launch(tmux, run_dir, "assign", "--workdir", workdir,
                 command="FOO='a b;c' " + py_command(ARGV_DUMP, "x"))
    dump = workdir / "argv.json"
    wait_for(lambda: dump.exists() and dump.stat().st_size, 5, "argv dump")
    assert json.loads(dump.read_text()) == {"argv": ["x"], "FOO": "a b;c"}
    assert cmdline_of(out["pane_pid"])[0] == sys.executable


def test_compound_command_runs_as_typed(tmux, run_dir, tmp_path):
    workdir = tmp_path / "w"
    (workdir / "sub").mkdir(parents=True)
    out = launch(tmux, run_dir, "compound", "--workdir", workdir,
                 command="echo one > out.txt; cd sub && echo two > ../out2.txt && exec sleep 1000",
                 ready=["sleep", "1000"])
    wait_for((workdir / "out2.txt").exists, 5, "the second command")
    assert (workdir / "out.txt").read_text() == "one\n"
    assert cmdline_of(out["pane_pid"]) == ["sleep", "1000"]  # the user's own exec


@pytest.mark.skipif(shellcmd.shell() == shellcmd.SHELL, reason="no bash on PATH")
def test_bash_syntax_works_as_with_the_seed_launcher(tmux, run_dir, tmp_path):
    workdir = tmp_path / "w"
    out = launch(tmux, run_dir, "bashism", "--workdir", workdir, ready=["sleep", "1000"],
                 command="source /dev/null && [[ a == a ]] && echo ok &> out.txt && exec sleep 1000")
    assert (workdir / "out.txt").read_text() == "ok\n"
    assert cmdline_of(out["pane_pid"]) == ["sleep", "1000"]


# ---- --env -----------------------------------------------------------------------


def test_env_values_reach_the_pane_literally(tmux, run_dir):
    values = {
        "A": "x;", "B": "x\\;", "C": ";", "D": "#{pane_pid}", "E": "#(touch PWNED)",
        "F": "$(touch PWNED)", "G": "`touch PWNED`", "H": "a b  c", "I": "'\"", "J": "{", "K": "}",
        "L": "~", "M": "", "N": "k=v=w", "O": "\\", "P": "ünï",
    }
    out = launch(tmux, run_dir, "envs", *[a for k, v in values.items() for a in ("--env", f"{k}={v}")])
    pane_env = environ_of(out["pane_pid"])
    assert {k: pane_env.get(k) for k in values} == values
    assert pane_env["MOSAIC_AGENT_NAME"] == "envs"
    assert pane_env["MOSAIC_AGENT_RUNTIME"] == "pi"


def test_env_path_is_the_base_of_the_pane_path(tmux, run_dir, tmp_path):
    extra = tmp_path / "x"
    extra.mkdir()
    out = launch(tmux, run_dir, "envpath", "--runtime-bin", extra, "--env", "PATH=/usr/bin:/bin")
    assert environ_of(out["pane_pid"])["PATH"] == f"{extra}:/usr/bin:/bin"


# ---- nothing a user types reaches a shell ------------------------------------------


@pytest.mark.parametrize("payload", ["$(touch PWNED)", ";touch PWNED", "`touch PWNED`", "#(touch PWNED)",
                                     "x;", "#{session_name}", "&& touch PWNED", "| touch PWNED"])
def test_no_shell_injection_through_workdir_path_or_env(tmux, run_dir, tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    workdir = tmp_path / f"work {payload}"
    bindir = tmp_path / f"bin {payload}"
    bindir.mkdir()
    out = launch(tmux, run_dir, "inj", "--workdir", workdir, "--runtime-bin", bindir,
                 "--env", f"PAYLOAD={payload}")
    pid = out["pane_pid"]
    assert cwd_of(pid) == str(workdir)
    pane_env = environ_of(pid)
    assert pane_env["PAYLOAD"] == payload
    assert pane_env["PATH"].split(":")[0] == str(bindir)
    session_path = tmux.cmd("display-message", "-p", "-t", "=inj:", "#{session_path}").stdout.strip()
    assert session_path == str(workdir)
    assert find_files(tmp_path, "PWNED*") == []
    assert find_files(Path.home(), "PWNED*") == []


# ---- idempotence and concurrency ------------------------------------------------------


def test_duplicate_launch_says_already_running(tmux, run_dir):
    first = launch(tmux, run_dir, "dup")
    again = mosaic("launch", "dup", "--socket", tmux.socket_name, "--run-dir", run_dir,
                   "--interval", "0.2", "--command", SLEEPER)
    assert again.exit_code == 0
    assert again.stdout.startswith("dup already running: ")
    assert f"pane pid {first['pane_pid']}, sidecar pid {first['sidecar_pid']}" in again.stdout
    assert sessions(tmux) == ["dup"]
    assert [p.pid for p in sidecars("dup", run_dir)] == [first["sidecar_pid"]]


def test_duplicate_launch_through_the_environment(tmux, run_dir):
    """Seed test 2, configured through MOSAIC_* variables only."""
    env = {"MOSAIC_AGENT_NAME": "seed2", "MOSAIC_TMUX_SOCKET": tmux.socket_name,
           "MOSAIC_HEARTBEAT_RUN_DIR": str(run_dir), "MOSAIC_HEARTBEAT_INTERVAL": "0.2",
           "MOSAIC_AGENT_COMMAND": SLEEPER}
    assert mosaic("launch", env=env).stdout.startswith("launched seed2: ")
    second = mosaic("launch", env=env)
    assert second.exit_code == 0
    assert "seed2 already running" in second.stdout


@pytest.mark.parametrize("kill_with", [signal.SIGKILL, signal.SIGTERM])
def test_lost_heartbeat_is_restarted(tmux, run_dir, kill_with):
    first = launch(tmux, run_dir, "hbr")
    os.kill(first["sidecar_pid"], kill_with)  # SIGTERM: status=stopped; SIGKILL: stale
    wait_for(lambda: not sidecars("hbr", run_dir), 5, "the sidecar to end")
    if kill_with == signal.SIGKILL:
        wait_for(lambda: launcher.heartbeat_problem(run_dir / "hbr.hb", first["pane_pid"]), 5, "staleness")
    again = launch(tmux, run_dir, "hbr")
    assert again["outcome"] == "heartbeat restarted"
    assert "heartbeat restarted" in again["_result"].stdout
    assert again["pane_pid"] == first["pane_pid"]
    assert again["sidecar_pid"] not in (None, first["sidecar_pid"])
    record = wait_for(record_with(run_dir / "hbr.hb", status="ok", hb_pid=again["sidecar_pid"]), 2, "new beat")
    assert record.pid == first["pane_pid"]
    assert [p.pid for p in sidecars("hbr", run_dir)] == [again["sidecar_pid"]]


def test_missing_heartbeat_file_is_restarted(tmux, run_dir):
    first = launch(tmux, run_dir, "hbm", interval="60")
    (run_dir / "hbm.hb").unlink()
    again = launch(tmux, run_dir, "hbm", interval="60")
    assert again["outcome"] == "heartbeat restarted"
    wait_for(lambda: [p.pid for p in sidecars("hbm", run_dir)] == [again["sidecar_pid"]], 5, "one sidecar")
    assert again["sidecar_pid"] != first["sidecar_pid"]


def test_concurrent_launches_give_one_session_and_one_sidecar(tmux, run_dir):
    names = ["race1", "race2", "race3"]
    settings = {n: settings_env.resolve_launch(n, socket=tmux.socket_name, run_dir=str(run_dir),
                                                interval="0.2", command=SLEEPER) for n in names}
    results: list = []
    barrier = threading.Barrier(2 * len(names))

    def go(name):
        barrier.wait()
        results.append(launcher.launch_agent(settings[name]))

    threads = [threading.Thread(target=go, args=(n,)) for n in names for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(sessions(tmux)) == names
    for name in names:
        mine = [r for r in results if r.name == name]
        assert sorted(r.outcome for r in mine) == ["already running", "launched"]
        (winner,) = [r for r in mine if r.outcome == "launched"]
        assert {r.pane_pid for r in mine} == {winner.pane_pid}
        wait_for(lambda: [p.pid for p in sidecars(name, run_dir)] == [winner.sidecar_pid], 5, "one sidecar")


def test_concurrent_cli_processes(tmux, run_dir):
    argv = mosaic_argv("launch", "clirace", "--socket", tmux.socket_name,
                       "--run-dir", str(run_dir), "--interval", "0.2", "--command", SLEEPER)
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(2)]
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    heads = sorted(out.split(":")[0] for out, _ in outputs)
    assert heads == ["clirace already running", "launched clirace"]
    assert sessions(tmux) == ["clirace"]
    wait_for(lambda: len(sidecars("clirace", run_dir)) == 1, 5, "one sidecar")


def test_lost_new_session_race_reports_already_running(tmux, run_dir, monkeypatch):
    first = launch(tmux, run_dir, "lost")
    real = tmux_mod.session_panes
    calls = []

    def blind_once(socket, name):  # the first look misses the session, as in a race
        calls.append(name)
        return [] if len(calls) == 1 else real(socket, name)

    monkeypatch.setattr(tmux_mod, "session_panes", blind_once)
    again = launch(tmux, run_dir, "lost")
    assert again["outcome"] == "already running"
    assert again["pane_pid"] == first["pane_pid"]
    assert sessions(tmux) == ["lost"]


# ---- death, and a relaunch after it --------------------------------------------------------


def test_killed_agent_is_recorded_dead_and_its_pane_kept(tmux, run_dir):
    out = launch(tmux, run_dir, "victim")
    os.kill(out["pane_pid"], signal.SIGTERM)
    record = wait_for(record_with(run_dir / "victim.hb", status="dead"), 1, "status=dead")
    assert record.pid == out["pane_pid"]
    pane = wait_for(dead_pane(tmux, "victim"), 5, "dead pane")[0]
    assert pane.dead_signal == signal.SIGTERM
    wait_for(lambda: not sidecars("victim", run_dir), 5, "the sidecar to exit")


def test_exit_status_stays_visible(tmux, run_dir):
    out = launch(tmux, run_dir, "exit7", command="read line; exit 7")
    tmux.cmd("send-keys", "-t", "=exit7:", "Enter")
    wait_for(record_with(run_dir / "exit7.hb", status="dead"), 2, "status=dead")
    pane = wait_for(dead_pane(tmux, "exit7"), 5, "dead pane")[0]
    assert (pane.pid, pane.dead_status) == (out["pane_pid"], 7)


def test_agent_that_exits_at_once_warns_and_is_recorded_dead(tmux, run_dir):
    result = mosaic("launch", "quick", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--interval", "0.2", "--command", "exit 3")
    assert result.exit_code == 0
    record = wait_for(record_with(run_dir / "quick.hb", status="dead"), 2, "status=dead")
    pane = wait_for(dead_pane(tmux, "quick"), 5, "dead pane")[0]
    assert (record.pid, pane.dead_status) == (pane.pid, 3)


def test_dead_pane_is_replaced_by_a_fresh_launch(tmux, run_dir):
    first = launch(tmux, run_dir, "phoenix")
    os.kill(first["pane_pid"], signal.SIGKILL)
    wait_for(record_with(run_dir / "phoenix.hb", status="dead"), 2, "status=dead")
    wait_for(dead_pane(tmux, "phoenix"), 5, "dead pane")
    again = launch(tmux, run_dir, "phoenix")
    assert again["outcome"] == "launched"
    assert again["pane_pid"] != first["pane_pid"]
    assert [(p.pid, p.dead) for p in panes_of(tmux, "phoenix")] == [(again["pane_pid"], False)]
    wait_for(record_with(run_dir / "phoenix.hb", status="ok", pid=again["pane_pid"]), 2, "new beat")


def test_sidecar_failure_is_a_warning_and_exit_zero(tmux, run_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise mosaic_hb.SidecarError("cannot lock the lock file: Permission denied")

    monkeypatch.setattr(mosaic_hb, "spawn", broken)
    result = mosaic("launch", "nohb", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--interval", "0.2", "--command", SLEEPER)
    assert result.exit_code == 0
    assert result.stderr == ("mosaic: warning: heartbeat sidecar not started for nohb: "
                             "cannot lock the lock file: Permission denied\n")
    assert result.stdout.startswith("launched nohb: pane pid ")
    assert "no sidecar" in result.stdout
    assert [p.dead for p in panes_of(tmux, "nohb")] == [False]


# ---- stop ---------------------------------------------------------------------------------------------


def test_stop_ends_the_session_and_records_a_deliberate_stop(tmux, run_dir):
    out = launch(tmux, run_dir, "stopme")
    launch(tmux, run_dir, "other")
    result = mosaic("stop", "stopme", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"stopped stopme: pane pid {out['pane_pid']}; heartbeat: stopped\n"
    record = read_record(run_dir / "stopme.hb")  # already, not eventually
    assert record.status == "stopped" and record.pid == out["pane_pid"]
    assert record.extra["stopped_by"] and abs(float(record.extra["stopped_at"]) - time.time()) < 60
    assert not (run_dir / "stopme.hb").is_symlink() and (run_dir / "stopme.hb").stat().st_mode & 0o077 == 0
    assert not mosaic_hb.alive(out["pane_pid"])
    assert sessions(tmux) == ["other"]
    assert read_record(run_dir / "other.hb").status == "ok"


def test_stop_not_running_is_exit_1(tmux, run_dir):
    result = mosaic("stop", "ghost", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 1
    assert result.stderr == f"mosaic: error: ghost is not running (no session on tmux socket {tmux.socket_name})\n"
    launch(tmux, run_dir, "someone")  # a server, but not that session
    assert mosaic("stop", "ghost", "--socket", tmux.socket_name, "--run-dir", run_dir).exit_code == 1


def test_stop_escalates_for_an_agent_that_ignores_hangup(tmux, run_dir):
    out = launch(tmux, run_dir, "stubborn", command="trap '' HUP; exec sleep 1000", ready=["sleep", "1000"])
    result = mosaic("stop", "stubborn", "--socket", tmux.socket_name, "--run-dir", run_dir, "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert "(needed SIGTERM)" in result.stdout
    assert not mosaic_hb.alive(out["pane_pid"])
    assert read_record(run_dir / "stubborn.hb").status == "stopped"


def test_stop_a_dead_pane_removes_it(tmux, run_dir):
    out = launch(tmux, run_dir, "gone", command="exit 4")
    wait_for(dead_pane(tmux, "gone"), 5, "dead pane")
    result = mosaic("stop", "gone", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0
    assert result.stdout.startswith("stopped gone: it had already exited (exit status 4)")
    assert out["outcome"] == "launched"
    # The server exits on its own once its last session is gone: wait for it.
    wait_for(lambda: not server_running(tmux), 10, "the tmux server to exit with the last session")
    assert "removed its dead record" in result.stdout  # like docker rm
    assert not (run_dir / "gone.hb").exists()


def test_stop_without_a_session_clears_a_dead_or_stopped_record(tmux, run_dir):
    launch(tmux, run_dir, "keep")
    out = launch(tmux, run_dir, "crash")
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(record_with(run_dir / "crash.hb", status="dead"), 10, "status=dead")
    tmux.cmd("kill-session", "-t", "=crash")
    result = mosaic("stop", "crash", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout == "cleared crash: no session; removed its dead record\n"
    assert not (run_dir / "crash.hb").exists()
    again = mosaic("stop", "crash", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert again.exit_code == 1 and "is not running" in again.stderr

    assert mosaic("stop", "keep", "--socket", tmux.socket_name, "--run-dir", run_dir).exit_code == 0
    result = mosaic("stop", "keep", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.stdout == "cleared keep: no session; removed its stopped record\n"


def test_stop_says_when_no_sidecar_was_watching(tmux, run_dir):
    out = launch(tmux, run_dir, "lonely")
    record = read_record(run_dir / "lonely.hb")
    os.kill(record.hb_pid, signal.SIGKILL)
    wait_for(lambda: not mosaic_hb.alive(record.hb_pid), 10, "the sidecar to go")
    result = mosaic("stop", "lonely", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"stopped lonely: pane pid {out['pane_pid']}; heartbeat: stopped; "
                             "no sidecar was watching\n")


def test_stop_all(tmux, run_dir):
    pids = [launch(tmux, run_dir, n)["pane_pid"] for n in ("all1", "all2")]
    result = mosaic("stop", "--all", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 2
    assert not any(mosaic_hb.alive(p) for p in pids)
    assert [read_record(run_dir / f"{n}.hb").status for n in ("all1", "all2")] == ["stopped", "stopped"]
    again = mosaic("stop", "--all", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert again.exit_code == 0
    assert again.stdout.startswith("nothing to stop")


def test_stop_hangs_up_every_agent_before_waiting_for_any(tmux, run_dir, tmp_path):
    """Each agent exits on hangup only once all three were hung up: stopped
    one after another, the first would wait in vain and need SIGTERM."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = write_script(tmp_path / "together.sh", f"""
marks={shlex.quote(str(marks))}
on_hup() {{
    : > "$marks/$MOSAIC_AGENT_NAME"
    for _ in $(seq 1 600); do
        [ "$(ls "$marks" | wc -l)" -ge 3 ] && exit 0
        sleep 0.05
    done
    exit 1
}}
trap on_hup HUP
while :; do sleep 1000 & wait $!; done
""")
    names = ["tog1", "tog2", "tog3"]
    for name in names:
        launch(tmux, run_dir, name, command=str(script), ready=["/bin/sh", str(script)])
    result = mosaic("stop", *names, "--socket", tmux.socket_name, "--run-dir", run_dir, "--timeout", "60")
    assert result.exit_code == 0, result.output
    assert "needed" not in result.stdout, result.stdout
    assert sorted(os.listdir(marks)) == names
    assert [read_record(run_dir / f"{n}.hb").status for n in names] == ["stopped"] * 3


def test_stop_names_and_all_together_is_a_usage_error(tmux, run_dir):
    result = mosaic("stop", "x", "--all", "--socket", tmux.socket_name)
    assert result.exit_code == 2


# ---- attach -------------------------------------------------------------------------------------------


def test_attach_through_a_real_terminal(tmux, run_dir):
    import pty

    launch(tmux, run_dir, "look")
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm"}
    proc = subprocess.Popen(mosaic_argv("attach", "look", "--socket", tmux.socket_name),
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    drained = threading.Thread(target=_drain, args=(master,), daemon=True)
    drained.start()
    try:
        wait_for(lambda: tmux.cmd("list-clients", "-t", "=look", check=False).stdout.strip(), 10,
                 "a client attached to look")
        tmux.cmd("detach-client", "-s", "=look")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drained.join(5)
        os.close(master)


def _drain(fd):
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def test_attach_not_running(tmux):
    result = mosaic("attach", "nobody", "--socket", tmux.socket_name)
    assert result.exit_code == 1
    assert "nobody is not running" in result.stderr


def test_launch_attach_execs_tmux_attach(tmux, run_dir, monkeypatch):
    seen = []

    def fake_exec(path, argv, env):
        seen.append((argv, "TMUX" in env))
        raise SystemExit(0)

    monkeypatch.setenv("TMUX", "/elsewhere,1,0")
    monkeypatch.setattr(os, "execvpe", fake_exec)
    result = mosaic("launch", "att", "--socket", tmux.socket_name, "--run-dir", run_dir,
                    "--interval", "0.2", "--command", SLEEPER, "--attach")
    assert result.exit_code == 0
    (argv, has_tmux), = seen
    assert argv[1:] == ["-L", tmux.socket_name, "attach-session", "-t", "=att"]
    assert not has_tmux


# ---- the tmux calls, as argv ---------------------------------------------------------------------------


def test_one_tmux_call_creates_the_session(tmux, run_dir, tmp_path, monkeypatch):
    """A logging wrapper around the real tmux: new-session, -P -F and
    remain-on-exit are one invocation, and nothing polls for the pane pid."""
    real = subprocess.run(["sh", "-c", "command -v tmux"], capture_output=True, text=True).stdout.strip()
    log = tmp_path / "tmux-calls"
    shim = tmp_path / "shim"
    write_script(shim / "tmux",
                 f'printf "%s\\037" "$@" >> {shlex.quote(str(log))}\necho >> {shlex.quote(str(log))}\n'
                 f'exec {shlex.quote(real)} "$@"\n')
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    launch(tmux, run_dir, "shape")
    calls = [line.split("\x1f")[:-1] for line in log.read_text().splitlines()]
    subcommands = [call[2] for call in calls]
    assert subcommands == ["list-panes", "new-session"]
    new = calls[1]
    assert new[:9] == ["-L", tmux.socket_name, "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", "shape"]
    separator = new.index(";")
    following = new[separator + 1:]
    assert following[:following.index(";")] == ["set-option", "-w", "-t", "=shape:", "remain-on-exit", "on"]
    assert new[separator - 3:separator] == [shellcmd.shell(), "-c", "exec sleep 1000"]


# ---- more stop, JSON, and failures half-way ----------------------------------------------------------


def test_stop_several_names_one_not_running(tmux, run_dir):
    out = launch(tmux, run_dir, "real1")
    result = mosaic("stop", "real1", "ghost", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert result.exit_code == 1
    assert result.stdout.startswith("stopped real1: ")
    assert result.stderr == f"mosaic: error: ghost is not running (no session on tmux socket {tmux.socket_name})\n"
    assert not mosaic_hb.alive(out["pane_pid"])


def test_stop_takes_the_name_from_the_environment(tmux, run_dir):
    launch(tmux, run_dir, "fromenv")
    result = mosaic("stop", env={"MOSAIC_AGENT_NAME": "fromenv", "MOSAIC_TMUX_SOCKET": tmux.socket_name,
                                 "MOSAIC_HEARTBEAT_RUN_DIR": str(run_dir)})
    assert result.exit_code == 0, result.output
    assert sessions(tmux) == []


def test_json_result(tmux, run_dir):
    out = launch(tmux, run_dir, "js")
    result = out.pop("_result")
    assert len(result.stdout.splitlines()) == 1
    assert set(out) == {"name", "outcome", "socket", "pane_pid", "sidecar_pid", "run_dir", "hb_file",
                        "attach_command", "warnings", "heartbeat_was"}
    assert (out["name"], out["outcome"], out["socket"], out["warnings"]) == ("js", "launched", tmux.socket_name, [])
    assert out["attach_command"] == f"mosaic attach js --socket {tmux.socket_name}"
    assert (out["run_dir"], out["hb_file"]) == (str(run_dir), str(run_dir / "js.hb"))


def test_failed_session_leaves_no_directory_behind(tmux, run_dir, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise tmux_mod.TmuxError("tmux new-session failed for broken: something odd")

    monkeypatch.setattr(tmux_mod, "new_session", fail)
    workdir = tmp_path / "new" / "work"
    result = mosaic("launch", "broken", "--socket", tmux.socket_name, "--run-dir", run_dir / "deep",
                    "--workdir", workdir, "--command", SLEEPER)
    assert result.exit_code == 1
    assert result.stderr == "mosaic: error: tmux new-session failed for broken: something odd\n"
    assert not (tmp_path / "new").exists()
    assert not run_dir.exists()
    assert not server_running(tmux)
