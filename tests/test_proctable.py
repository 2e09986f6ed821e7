"""fleet ps's one look at every process: the Linux /proc pass and the
portable psutil pass see the same processes, trees and figures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import psutil
import pytest

import mosaic_hb

from mosaic_launch.fleet import proctable
from tests.support.agents import start_agent
from tests.support.run import mosaic_argv
from tests.support.wait import wait_for


# Processes whose memory holds still, for comparisons with psutil's later
# look: the sanitized run (scripts/check-sanitizers) preloads its runtime
# into every process, and that runtime's memory moves while they sleep.
STEADY_ENV = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}


@pytest.fixture
def family():
    """A process with a child and a grandchild, all asleep, in a process
    group of their own (killed whole at the end)."""
    parent = subprocess.Popen(["sh", "-c", "sh -c 'sleep 1000 & wait' & wait"], start_new_session=True,
                              stdin=subprocess.DEVNULL, env=STEADY_ENV)
    try:
        wait_for(lambda: len(psutil.Process(parent.pid).children(recursive=True)) >= 2, 10,
                 "the child and the grandchild to start")
        yield parent
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        parent.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the core's pass is Linux's")
def test_core_and_psutil_passes_agree(family):
    fast = proctable.ProcessTable(proctable._read_core(), from_core=True)
    portable = proctable.ProcessTable(proctable._read_psutil())
    expected = [family.pid, *(p.pid for p in psutil.Process(family.pid).children(recursive=True))]
    assert sorted(fast.tree(family.pid)) == sorted(portable.tree(family.pid)) == sorted(expected)
    for pid in expected:
        a, b = fast.processes[pid], portable.processes[pid]
        assert a.ppid == b.ppid
        assert abs(a.created - b.created) < 1.0
        assert abs(a.cpu_seconds - b.cpu_seconds) < 0.5
        assert a.rss_bytes > 0
        # The tree's RSS is statm's, as psutil reads it (stat's may lag).
        assert fast.usage(pid)[1] == sum(psutil.Process(p).memory_info().rss for p in fast.tree(pid))


def test_usage_sums_the_whole_tree(family):
    table = proctable.ProcessTable.take()
    cpu, rss = table.usage(family.pid)
    pids = table.tree(family.pid)
    assert len(pids) == 3  # sh, its sh, and that one's sleep
    assert rss == sum(psutil.Process(p).memory_info().rss for p in pids)  # sleeping: stable
    assert cpu >= 0
    assert table.usage(2**31 - 1) is None and table.tree(2**31 - 1) == []


def test_a_process_that_exits_after_the_pass_is_just_missing(spawn_process):
    short = spawn_process(["sleep", "1000"])
    table = proctable.ProcessTable.take()
    short.kill()
    short.wait()
    assert table.usage(short.pid) is not None  # the table is one moment's look
    assert proctable.ProcessTable.take().usage(short.pid) is None


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the core's pass is Linux's")


@linux_only
def test_the_core_pass_reads_odd_command_names_and_zombies(spawn_process, tmp_path):
    # The command name (comm) is in parentheses in /proc/PID/stat and may
    # hold spaces and ')' itself: the fields after it must still be found.
    odd = tmp_path / ") 1 2 (x) Z"
    odd.symlink_to(shutil.which("sleep"))
    sleeper = spawn_process([str(odd), "1000"], env=STEADY_ENV)
    zombie = spawn_process(["true"])
    wait_for(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE, 10, "the child to exit")
    wait_for(lambda: psutil.Process(sleeper.pid).name() == odd.name[:15], 10, "the odd name to show")
    table = {row[0]: row for row in mosaic_hb.proc_table()}
    pid, ppid, is_zombie, cpu_ticks, start, rss_pages = table[sleeper.pid]
    assert (ppid, is_zombie, start) == (os.getpid(), False, mosaic_hb.proc_start_time(sleeper.pid))
    assert rss_pages > 0 and cpu_ticks >= 0
    assert table[zombie.pid][1:3] == (os.getpid(), True)
    resident = mosaic_hb.proc_resident(sleeper.pid) * os.sysconf("SC_PAGE_SIZE")
    assert resident == psutil.Process(sleeper.pid).memory_info().rss
    assert mosaic_hb.proc_resident(2**31 - 1) is None


@linux_only
def test_the_core_pass_sees_every_process_psutil_sees(family):
    # The pass grows its array from 64 entries: any host with more
    # processes than that (this one, with pytest) takes the growth path.
    stable = {family.pid, *(p.pid for p in psutil.Process(family.pid).children(recursive=True)), os.getpid(), 1}
    before = set(psutil.pids())
    table = {row[0]: row for row in mosaic_hb.proc_table()}
    after = set(psutil.pids())
    assert len(table) > 64 or len(before) <= 64
    # Others come and go during the pass; what lived throughout is there.
    assert (before & after) - {os.getpid()} <= set(table) | _exited(before & after)
    for pid in stable:
        assert table[pid][:3] == (pid, psutil.Process(pid).ppid(), False)
        assert table[pid][4] == mosaic_hb.proc_start_time(pid)


def _exited(pids) -> set[int]:
    return {pid for pid in pids if not psutil.pid_exists(pid)}


@linux_only
def test_a_table_whose_processes_exit_after_the_pass_falls_back_to_the_pass_figure(spawn_process):
    short = spawn_process(["sleep", "1000"])
    table = proctable.ProcessTable.take()
    short.kill()
    short.wait()
    assert table.usage(short.pid)[1] == table.processes[short.pid].rss_bytes  # no statm left to read


def _without_proc(argv) -> subprocess.CompletedProcess:
    """ARGV run in a mount namespace of its own, where an empty tmpfs hides
    /proc (a sandbox without one); skipped where no such namespace can be made."""
    unshare = shutil.which("unshare")
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("the sanitizer runtime preloaded in every process needs /proc itself")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    script = 'mount -t tmpfs none /proc 2>/dev/null || exit 77; exec "$@"'
    done = subprocess.run([unshare, "-m", "sh", "-c", script, "sh", *map(os.fspath, argv)],
                          capture_output=True, text=True, timeout=60)
    if done.returncode == 77 or "unshare:" in done.stderr:
        pytest.skip("no mount namespace with a tmpfs on /proc here (needs CAP_SYS_ADMIN)")
    return done


@linux_only
def test_the_core_pass_refuses_a_proc_that_is_not_procfs():
    # An empty /proc is no process table: not an empty host.
    code = ("import errno, mosaic_hb\n"
            "try:\n"
            "    print(len(mosaic_hb.proc_table()))\n"
            "except OSError as exc:\n"
            "    print(errno.errorcode[exc.errno])\n")
    done = _without_proc([sys.executable, "-c", code])
    assert (done.returncode, done.stdout) == (0, "ENOENT\n"), done.stderr


@linux_only
def test_fleet_ps_without_proc_shows_the_fleet_without_a_traceback(tmux, run_dir):
    start_agent(tmux, run_dir, "alpha")
    done = _without_proc(mosaic_argv("fleet", "ps", "--json", "--socket", tmux.socket_name, "--run-dir", run_dir))
    assert "Traceback" not in done.stderr, done.stderr
    (row,) = json.loads(done.stdout)["agents"]
    assert (row["name"], row["pane"]) == ("alpha", "alive")


@linux_only
def test_a_pass_that_cannot_open_the_stat_files_fails_rather_than_showing_an_empty_host():
    # One descriptor left: /proc opens, no /proc/PID/stat does (EMFILE).
    # Not ours to read (EACCES) leaves one process out; out of descriptors
    # leaves them all out, and the pass must say so. Run apart: it spends
    # every descriptor.
    code = (
        "import errno, os, resource, mosaic_hb\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "fds = []\n"
        "try:\n"
        "    while True:\n"
        "        fds.append(os.open(os.devnull, os.O_RDONLY))\n"
        "except OSError:\n"
        "    pass\n"
        "os.close(fds.pop())\n"
        "try:\n"
        "    print(len(mosaic_hb.proc_table()), 'processes')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "EMFILE\n"), done.stderr


def test_the_tree_keeps_the_cpu_of_children_it_has_reaped(spawn_process, tmp_path):
    """An agent whose commands are short-lived (a build, a test run) spends
    its CPU in children gone before the next look: their time, added to
    their parent's when it reaps them, is the tree's all the same."""
    ready = tmp_path / "reaped"
    busy = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    parent = spawn_process(["sh", "-c", '"$0" -c "$1" && touch "$2" && exec sleep 1000',
                            sys.executable, busy, str(ready)], env=STEADY_ENV)
    wait_for(ready.exists, 10, "the busy child to be reaped")
    for table in (proctable.ProcessTable(proctable._read_psutil()),
                  *([proctable.ProcessTable.take()] if sys.platform.startswith("linux") else [])):
        assert table.tree(parent.pid) == [parent.pid]
        cpu, _ = table.usage(parent.pid)
        assert cpu >= 0.4, cpu
