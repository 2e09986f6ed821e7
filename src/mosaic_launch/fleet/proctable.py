"""One look at every process on the host, for ``fleet ps``'s resource columns.

A ``ProcessTable`` is taken once per snapshot; each agent's process tree is
then read off it (``tree``, ``usage``), so a snapshot costs one pass over
the host's processes plus a few dictionary lookups per agent, however many
agents there are.

On Linux the pass is the core's (``mosaic_hb.proc_table``): one read of
each ``/proc/PID/stat``, whose one line holds the parent, the CPU times, the
start time and the resident size. Other platforms go through psutil
(``process_iter``), which reads what the platform offers.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import mosaic_hb
import psutil


# A NamedTuple, not a dataclass: a snapshot makes one per process on the
# host, and a tuple is several times cheaper to build.
class ProcessInfo(NamedTuple):
    ppid: int
    cpu_seconds: float  # user + system, over the process's life, with its reaped children's
    rss_bytes: int
    created: float  # unix time the process started
    zombie: bool = False  # it has exited, and waits for its parent to reap it
    start_ticks: int | None = None  # Linux: the start time as the core reads it (mosaic_hb.proc_start_time)


class ProcessTable:
    """Every process on the host at one moment: pid -> ProcessInfo, and
    each process's children."""

    def __init__(self, processes: dict[int, ProcessInfo], *, from_core: bool = False):
        self.processes = processes
        # The core's pass (Linux) takes resident sizes from stat, which may
        # lag; the agents' trees ask again, exactly (mosaic_hb.proc_resident).
        self._from_core = from_core
        self.children: dict[int, list[int]] = {}
        for pid, info in processes.items():
            self.children.setdefault(info.ppid, []).append(pid)

    @classmethod
    def take(cls) -> "ProcessTable":
        try:
            return cls(_read_core(), from_core=True)
        except OSError:  # no such pass here (ENOTSUP), or no /proc to read (ENOENT)
            pass
        try:
            return cls(_read_psutil())
        except (OSError, psutil.Error, IndexError):  # no /proc: psutil's pids() indexes an empty list
            return cls({})

    def tree(self, pid: int) -> list[int]:
        """PID and its descendants that the table holds (a pid is never its
        own ancestor, but a table read while processes come and go is
        checked anyway)."""
        if pid not in self.processes:
            return []
        found = [pid]
        seen = {pid}
        todo = [pid]
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    todo.append(child)
        return found

    def alive(self, pid: int, pid_start: int) -> bool | None:
        """Whether PID runs and (PID_START given, on Linux) is the process
        that started then, as mosaic_hb.alive says; None if the table
        cannot tell (PID is not in it: it may have started since)."""
        info = self.processes.get(pid)
        if info is None or (pid_start and info.start_ticks is None):
            return None
        return not info.zombie and (not pid_start or info.start_ticks == pid_start)

    def usage(self, pid: int) -> tuple[float, int] | None:
        """(CPU seconds, RSS bytes) of PID's whole tree; None if PID is not
        in the table."""
        pids = self.tree(pid)
        if not pids:
            return None
        processes = self.processes
        return sum(processes[p].cpu_seconds for p in pids), sum(self._rss(p) for p in pids)

    def _rss(self, pid: int) -> int:
        if self._from_core:
            try:
                pages = mosaic_hb.proc_resident(pid)
            except OSError:
                pages = None
            if pages is not None:
                return pages * _PAGE
        return self.processes[pid].rss_bytes


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _read_core() -> dict[int, ProcessInfo]:
    """The core's one pass (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    boot = psutil.boot_time()
    return {
        pid: ProcessInfo(ppid, cpu_ticks / ticks, rss_pages * _PAGE, boot + start / ticks, zombie, start)
        for pid, ppid, zombie, cpu_ticks, start, rss_pages in mosaic_hb.proc_table()
    }


def _read_psutil() -> dict[int, ProcessInfo]:
    found: dict[int, ProcessInfo] = {}
    for proc in psutil.process_iter(["ppid", "cpu_times", "memory_info", "create_time", "status"]):
        info = proc.info
        if info["ppid"] is None or info["create_time"] is None:
            continue
        times, memory = info["cpu_times"], info["memory_info"]
        found[proc.pid] = ProcessInfo(
            ppid=info["ppid"],
            cpu_seconds=(times.user + times.system + times.children_user + times.children_system)
            if times is not None else 0.0,
            rss_bytes=memory.rss if memory is not None else 0,
            created=info["create_time"],
            zombie=info["status"] == psutil.STATUS_ZOMBIE,
        )
    return found
