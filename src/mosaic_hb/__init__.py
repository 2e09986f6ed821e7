"""mosaic heartbeat core: the compiled sidecar and its Python binding.

The heartbeat loop is C (hb.c). It runs either as the standalone
``mosaic-hb`` executable (``spawn()``; no Python in the running sidecar) or
in this process (``run()``).
"""

from mosaic_hb._hb import (
    RunDirError,
    SidecarError,
    Spawning,
    alive,
    beat,
    check_interval,
    check_run_dir,
    proc_start_time,
    read,
    run,
    sidecar_path,
    spawn,
    spawn_start,
    valid_agent_name,
    wait_exit,
)
from mosaic_hb._version import __version__
from mosaic_hb.record import RECORD_MAX_BYTES, STALE_INTERVALS, Record, RecordError, parse_record
from mosaic_hb.rules import AGENT_NAME_RULE, INTERVAL_MAX, INTERVAL_MIN

__all__ = [
    "AGENT_NAME_RULE",
    "INTERVAL_MAX",
    "INTERVAL_MIN",
    "RECORD_MAX_BYTES",
    "Record",
    "RecordError",
    "RunDirError",
    "SidecarError",
    "Spawning",
    "STALE_INTERVALS",
    "__version__",
    "alive",
    "beat",
    "check_interval",
    "check_run_dir",
    "parse_record",
    "proc_start_time",
    "read",
    "run",
    "sidecar_path",
    "spawn",
    "spawn_start",
    "valid_agent_name",
    "wait_exit",
]
