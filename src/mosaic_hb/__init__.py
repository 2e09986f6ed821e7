"""mosaic heartbeat core: the compiled sidecar and its Python binding.

The heartbeat loop is C (hb.c). It runs either as the standalone
``mosaic-hb`` executable (``spawn()``; no Python in the running sidecar) or
in this process (``run()``).
"""

from mosaic_hb._hb import (
    RunDirError,
    alive,
    beat,
    boot_clock,
    check_interval,
    check_run_dir,
    proc_resident,
    proc_start_time,
    proc_table,
    run,
    valid_agent_name,
    wait_exit,
)
from mosaic_hb._version import __version__
from mosaic_hb.record import (
    RECORD_MAX_BYTES,
    STALE_INTERVALS,
    STATES,
    AgentState,
    Record,
    RecordError,
    StateFileError,
    parse_record,
    parse_state_file,
    read_state_file,
    record_state,
)
from mosaic_hb.rules import AGENT_NAME_RULE, INTERVAL_MAX, INTERVAL_MIN
from mosaic_hb.sidecar import SidecarError, Spawning, read, sidecar_path, spawn, spawn_start

__all__ = [
    "AgentState",
    "STATES",
    "StateFileError",
    "parse_state_file",
    "read_state_file",
    "record_state",
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
    "boot_clock",
    "check_interval",
    "check_run_dir",
    "parse_record",
    "proc_resident",
    "proc_start_time",
    "proc_table",
    "read",
    "run",
    "sidecar_path",
    "spawn",
    "spawn_start",
    "valid_agent_name",
    "wait_exit",
]
