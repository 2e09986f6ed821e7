"""fleet ps's one look at every process: the Linux /proc pass and the
portable psutil pass see the same processes, trees and figures."""

from __future__ import annotations

import os
import subprocess
import signal
import sys

import psutil
import pytest

from mosaic_launch.fleet import proctable
from tests.support.wait import wait_for


@pytest.fixture
def family():
    """A process with a child and a grandchild, all asleep, in a process
    group of their own (killed whole at the end)."""
    parent = subprocess.Popen(["sh", "-c", "sh -c 'sleep 1000 & wait' & wait"], start_new_session=True,
                              stdin=subprocess.DEVNULL)
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the /proc pass is Linux's")
def test_proc_and_psutil_passes_agree(family):
    fast = proctable.ProcessTable(proctable._read_proc(), linux=True)
    portable = proctable.ProcessTable(proctable._read_psutil())
    expected = [family.pid, *(p.pid for p in psutil.Process(family.pid).children(recursive=True))]
    assert sorted(fast.tree(family.pid)) == sorted(portable.tree(family.pid)) == sorted(expected)
    for pid in expected:
        a, b = fast.processes[pid], portable.processes[pid]
        assert a.ppid == b.ppid
        assert abs(a.created - b.created) < 1.0
        assert abs(a.cpu_seconds - b.cpu_seconds) < 0.5
        assert a.rss_bytes > 0
        # The tree's RSS is statm's, as psutil reads it (stat's is approximate).
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
