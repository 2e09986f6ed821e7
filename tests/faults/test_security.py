"""Security: the run dir's safety rules at every door, planted symlinks, and
no shell injection, end to end.

Already covered elsewhere, and not repeated here: the sidecar's refusal of a
symlinked or group-writable run dir and of another user's run dir when run
as root (test_hb_bad_input.py); ``fleet ps``'s refusals (test_fleet_ps.py);
``launch``'s refusal of a symlinked or world-writable run dir
(test_launch_input.py); symlinks planted before a sidecar starts
(test_hb_sidecar.py); injection through workdir, --runtime-bin and --env in
process (test_launch.py); names with shell syntax (test_launch_input.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import mosaic_hb
from tests.support.hb import read_record, record_with, sidecar
from tests.support.procs import live_token_processes, pid_exists
from tests.support.run import mosaic_argv, mosaic_proc, one_line_error
from tests.support.wait import settle, wait_for

GENEROUS = 10.0
PRECIOUS = "precious\n"


def hb_refusal(done: subprocess.CompletedProcess) -> str:
    assert (done.returncode, done.stdout) == (1, ""), (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mosaic-hb: "), done.stderr
    return lines[0]


@pytest.fixture
def agent(spawn_process):
    return spawn_process(["sleep", "300"])


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file that no write may reach."""
    path = tmp_path / "victim"
    path.write_text(PRECIOUS)
    return path


def plant_link(target: Path, at: Path) -> None:
    """Put a symlink to TARGET at AT, atomically (AT may exist, or be being
    written by a running sidecar)."""
    staging = at.with_name(at.name + ".planting")
    staging.symlink_to(target)
    os.replace(staging, at)


# ---- the run dir: created 0700, refused when unsafe ---------------------------------------------


@pytest.mark.parametrize("creator", ["mosaic launch", "mosaic-hb"])
def test_run_dir_and_its_missing_parents_are_created_0700_whatever_the_umask(tmux, tmp_path, agent, creator):
    run_dir = tmp_path / "deep" / "er" / "run"
    loose = ["sh", "-c", 'umask 000 && exec "$@"', "sh"]
    if creator == "mosaic launch":
        argv = mosaic_argv("launch", "uniform", "--socket", tmux.socket_name, "--run-dir", str(run_dir),
                           "--interval", "0.2", "--command", "sleep 300")
    else:
        argv = [mosaic_hb.sidecar_path(), "uniform", str(agent.pid), "--run-dir", str(run_dir), "--interval", "0.2"]
    try:
        done = subprocess.run([*loose, *argv], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        for directory in (tmp_path / "deep", tmp_path / "deep" / "er", run_dir):
            assert stat.S_IMODE(directory.lstat().st_mode) == 0o700, directory
        for name in ("uniform.hb", "uniform.hb.lock"):
            assert stat.S_IMODE((run_dir / name).lstat().st_mode) == 0o600, name
    finally:
        agent.kill()
        settle(tmux)


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o720, 0o702], ids=oct)
def test_group_or_world_writable_run_dir_is_refused_everywhere(tmux, tmp_path, agent, mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    line = hb_refusal(sidecar("alpha", str(agent.pid), "--run-dir", str(shared)))
    assert line == f"mosaic-hb: run dir is group- or world-writable: {shared}"
    line = one_line_error(mosaic_proc("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", shared), 1)
    assert str(shared) in line and "group- or world-writable" in line
    line = one_line_error(mosaic_proc("launch", "alpha", "--socket", tmux.socket_name, "--run-dir", shared,
                          "--command", "sleep 300"), 2)
    assert str(shared) in line and "group- or world-writable" in line
    assert list(shared.iterdir()) == []
    assert tmux.server_pid() is None


@pytest.mark.parametrize("mode", [0o1777, 0o1770], ids=oct)
def test_sticky_shared_run_dir_is_accepted_by_the_sidecar(agent, tmp_path, mode):
    shared = tmp_path / "sticky"
    shared.mkdir()
    shared.chmod(mode)
    done = sidecar("alpha", str(agent.pid), "--run-dir", str(shared), "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    assert mosaic_hb.read(shared / "alpha.hb").hb_pid == int(done.stdout)
    agent.kill()
    wait_for(record_with(shared / "alpha.hb", status="dead"), GENEROUS, "status=dead")


@pytest.fixture
def foreign_dir(tmp_path) -> Path:
    """A directory owned by another user: as root, one given away; otherwise
    /usr (root's, and not writable by us, so nothing could land there anyway)."""
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        return theirs
    system = Path("/usr")
    if not system.is_dir() or system.is_symlink() or system.stat().st_uid == os.geteuid():
        pytest.skip("no directory owned by another user to test with")
    return system


def test_run_dir_owned_by_another_user_is_refused_everywhere(tmux, agent, foreign_dir):
    before = sorted(os.listdir(foreign_dir))
    line = hb_refusal(sidecar("alpha", str(agent.pid), "--run-dir", str(foreign_dir)))
    assert line == f"mosaic-hb: run dir is owned by another user: {foreign_dir}"
    line = one_line_error(mosaic_proc("fleet", "ps", "--socket", tmux.socket_name, "--run-dir", foreign_dir), 1)
    assert "owned by another user" in line
    line = one_line_error(mosaic_proc("launch", "alpha", "--socket", tmux.socket_name, "--run-dir", foreign_dir,
                          "--command", "sleep 300"), 2)
    assert "owned by another user" in line
    assert sorted(os.listdir(foreign_dir)) == before
    assert tmux.server_pid() is None


# ---- planted symlinks never redirect a write --------------------------------------------------------


def test_symlinks_planted_while_the_sidecar_runs_never_redirect_a_write(agent, run_dir, tmp_path, victim):
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    done = sidecar("tango", str(agent.pid), "--run-dir", str(run_dir), "--interval", "0.05",
                   "--textfile-dir", str(textfile_dir))
    assert done.returncode == 0, done.stderr
    hb_pid = int(done.stdout)
    hb_file = run_dir / "tango.hb"
    seq = mosaic_hb.read(hb_file).seq
    for path in (run_dir / "tango.hb.tmp", hb_file, textfile_dir / "mosaic_tango.prom.tmp",
                 textfile_dir / "mosaic_tango.prom"):
        plant_link(victim, path)
    # The beats go on, each replacing the links with files of their own.
    wait_for(lambda: (r := read_record(hb_file)) and r.seq > seq + 3, GENEROUS, "beats after the planting")
    assert not hb_file.is_symlink() and not (textfile_dir / "mosaic_tango.prom").is_symlink()
    assert victim.read_text() == PRECIOUS
    agent.kill()  # the final record goes the same way
    wait_for(record_with(hb_file, status="dead"), GENEROUS, "status=dead")
    wait_for(lambda: not pid_exists(hb_pid), GENEROUS, "the sidecar to exit")
    assert victim.read_text() == PRECIOUS


def beat_time(prom: Path) -> float:
    """The heartbeat timestamp in a sidecar's Prometheus textfile (0 if none)."""
    try:
        for line in prom.read_text().splitlines():
            if line.startswith("mosaic_agent_heartbeat_timestamp_seconds{"):
                return float(line.split()[-1])
    except FileNotFoundError:
        pass
    return 0.0


def test_run_dir_swapped_for_a_symlink_while_the_sidecar_runs_is_not_followed(agent, run_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    textfile_dir = tmp_path / "textfile"  # written before each record: a witness of every beat
    textfile_dir.mkdir()
    done = sidecar("uniform", str(agent.pid), "--run-dir", str(run_dir), "--interval", "0.05",
                   "--textfile-dir", str(textfile_dir))
    assert done.returncode == 0, done.stderr
    hb_pid = int(done.stdout)
    prom = textfile_dir / "mosaic_uniform.prom"
    def swap() -> bool:  # a beat may make the dir again between the two steps: then go again
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            run_dir.symlink_to(elsewhere)
        except FileExistsError:
            return False
        return True

    wait_for(swap, GENEROUS, "the run dir to be swapped for a symlink")
    swapped = time.time()
    wait_for(lambda: beat_time(prom) > swapped + 0.2, GENEROUS, "beats after the swap")
    assert pid_exists(hb_pid)  # still watching; its record writes are refused
    agent.kill()
    wait_for(lambda: not pid_exists(hb_pid), GENEROUS, "the sidecar to exit once the agent died")
    assert 'mosaic_agent_up{agent="uniform",runtime=""} 0' in prom.read_text().splitlines()  # it tried
    assert list(elsewhere.iterdir()) == []
    assert run_dir.is_symlink()


def test_symlinked_lock_files_are_refused_and_never_followed(tmux, agent, run_dir, victim):
    run_dir.mkdir(mode=0o700)
    (run_dir / "victor.hb.lock").symlink_to(victim)
    line = hb_refusal(sidecar("victor", str(agent.pid), "--run-dir", str(run_dir)))
    assert "victor" in line and "lock" in line
    (run_dir / "whiskey.launch.lock").symlink_to(victim)
    line = one_line_error(mosaic_proc("launch", "whiskey", "--socket", tmux.socket_name, "--run-dir", run_dir,
                          "--command", "sleep 300"), 1)
    assert "launch lock" in line and str(run_dir / "whiskey.launch.lock") in line
    assert tmux.server_pid() is None  # refused before any session
    assert victim.read_text() == PRECIOUS
    assert sorted(p.name for p in run_dir.iterdir()) == ["victor.hb.lock", "whiskey.launch.lock"]


def test_one_off_beat_never_follows_planted_symlinks(agent, run_dir, victim):
    """mosaic_hb.beat(), which launch uses to record an agent that died
    before its sidecar could start."""
    run_dir.mkdir(mode=0o700)
    (run_dir / "xray.hb").symlink_to(victim)
    (run_dir / "xray.hb.tmp").symlink_to(victim)
    mosaic_hb.beat("xray", agent.pid, run_dir, status="dead", interval=1)
    assert victim.read_text() == PRECIOUS
    assert not (run_dir / "xray.hb").is_symlink() and mosaic_hb.read(run_dir / "xray.hb").status == "dead"


# ---- no shell injection, end to end ---------------------------------------------------------------

PAYLOADS = {"dollar-paren": "$(touch {x})", "semicolon": ";touch {x}", "backticks": "`touch {x}`"}
# A simple command (launch puts `exec` before it): writes its arguments and
# $PAYLOAD to printed.txt in its working directory, then waits.
RECORDER = ("import os, sys, time; "
            "open('printed.txt', 'w').write(''.join(a + chr(10) for a in [*sys.argv[1:], os.environ['PAYLOAD']])); "
            "time.sleep(300)")


def printed(workdir: Path) -> list[str] | None:
    """The lines an agent printed into WORKDIR/printed.txt, once complete."""
    try:
        text = (workdir / "printed.txt").read_text()
    except FileNotFoundError:
        return None
    return text.splitlines() if text.count("\n") >= 2 else None


@pytest.mark.parametrize("kind", PAYLOADS)
def test_no_shell_injection_end_to_end(tmux, run_dir, tmp_path, home, kind):
    """Through the real `mosaic` command: a payload in a name or socket is
    refused; in a workdir, a PATH entry (--runtime-bin, MOSAIC_RUNTIME_BIN, the
    launcher's own PATH), an --env value, a fleet-file value, or as an
    argument in --command, it arrives as literal text. The file the payload
    would create never appears."""
    marker = tmp_path / "PWNED"
    payload = PAYLOADS[kind].format(x=marker)
    where = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]

    def never_ran():
        assert not os.path.lexists(marker), f"{payload!r} was run by a shell"

    try:
        # Refused: names and socket names.
        for args, env in [
            (["launch", *where, "--command", "sleep 300", "--", payload], None),
            (["launch", *where, "--command", "sleep 300"], {"MOSAIC_AGENT_NAME": payload}),
            (["launch", "agent", "--socket", payload, "--run-dir", run_dir, "--command", "sleep 300"], None),
            (["launch", "agent", "--run-dir", run_dir, "--command", "sleep 300"], {"MOSAIC_TMUX_SOCKET": payload}),
            (["stop", *where, "--", payload], None),
            (["attach", "--socket", tmux.socket_name, "--", payload], None),
        ]:
            full_env = None if env is None else {**os.environ, **env}
            line = one_line_error(mosaic_proc(*args, env=full_env, cwd=tmp_path), 2)
            assert "invalid" in line
        fleet_file = tmp_path / "bad.toml"
        fleet_file.write_text(f"socket = {json.dumps(tmux.socket_name)}\n[[agent]]\nname = {json.dumps(payload)}\n")
        assert "invalid agent name" in one_line_error(mosaic_proc("fleet", "up", "-f", fleet_file, cwd=tmp_path), 2)
        assert tmux.server_pid() is None and not run_dir.exists()
        never_ran()

        def dirs(label: str) -> tuple[Path, Path]:
            """A workdir (created by launch) and a bin dir (made here), both named with the payload."""
            bindir = tmp_path / f"{label}-bin {payload}"
            bindir.mkdir(parents=True)
            return tmp_path / f"{label}-work {payload}", bindir

        # Literal: flags, and the launcher's own PATH.
        work, bindir = dirs("cli")
        path_entry = tmp_path / f"path {payload}"
        path_entry.mkdir(parents=True)
        command = f"printf '%s\\n' '{payload}' \"$PAYLOAD\" > printed.txt && exec sleep 300"
        env = {**os.environ, "PATH": f"{path_entry}:{os.environ['PATH']}"}
        done = mosaic_proc("launch", "cli", *where, "--workdir", work, "--runtime-bin", bindir,
                           "--env", f"PAYLOAD={payload}",
                   "--command", command, "--json", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        agents = {"cli": (json.loads(done.stdout)["pane_pid"], work, bindir)}

        # Literal: MOSAIC_* variables.
        work, bindir = dirs("vars")
        env = {**os.environ, "MOSAIC_AGENT_WORKDIR": str(work), "MOSAIC_RUNTIME_BIN": str(bindir),
               "MOSAIC_AGENT_COMMAND": shlex.join([sys.executable, "-c", RECORDER, payload])}
        done = mosaic_proc("launch", "vars", *where, "--env", f"PAYLOAD={payload}", "--json", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        agents["vars"] = (json.loads(done.stdout)["pane_pid"], work, bindir)

        # Literal: a fleet file.
        work, bindir = dirs("file")
        fleet_file = tmp_path / "fleet.toml"
        fleet_file.write_text("\n".join([
            f"socket = {json.dumps(tmux.socket_name)}", f"run_dir = {json.dumps(str(run_dir))}",
            "[[agent]]", 'name = "file"', f"workdir = {json.dumps(str(work))}",
            f"runtime_bin = [{json.dumps(str(bindir))}]", f"env = {{ PAYLOAD = {json.dumps(payload)} }}",
            f"command = {json.dumps(shlex.join([sys.executable, '-c', RECORDER, payload]))}", ""]))
        done = mosaic_proc("fleet", "up", "-f", fleet_file, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        agents["file"] = (int(re.search(r"^file: launched \(pane pid (\d+),", done.stdout).group(1)), work, bindir)

        for name, (pid, work, bindir) in agents.items():
            assert wait_for(lambda w=work: printed(w), GENEROUS, f"{name} to print") == [payload, payload]
            agent = psutil.Process(pid)
            assert agent.cwd() == str(work)
            assert agent.environ()["PAYLOAD"] == payload
            assert agent.environ()["PATH"].split(":")[0] == str(bindir)
            session_path = subprocess.run(
                ["tmux", "-L", tmux.socket_name, "display-message", "-p", "-t", f"={name}:", "#{session_path}"],
                capture_output=True, text=True, timeout=10).stdout.strip()
            assert session_path == str(work)
            record = wait_for(record_with(run_dir / f"{name}.hb", status="ok"), GENEROUS, f"{name}'s record")
            assert record.pid == pid
        assert psutil.Process(agents["vars"][0]).cmdline()[-1] == payload  # an argument, as given
        assert str(path_entry) in psutil.Process(agents["cli"][0]).environ()["PATH"].split(":")
        never_ran()
        assert not list(home.rglob("PWNED*")) and not os.path.lexists(Path("/") / marker.name)
    finally:
        settle(tmux)
    wait_for(lambda: not live_token_processes(), GENEROUS, "every agent and sidecar to exit")
    assert all(mosaic_hb.read(run_dir / f"{name}.hb").status == "dead" for name in ("cli", "vars", "file"))
    never_ran()
