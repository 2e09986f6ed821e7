import os
from typing import Literal

_Path = str | os.PathLike[str]

AGENT_NAME_MAX: int
INTERVAL_MIN: float
INTERVAL_MAX: float
RECORD_WRITE_MAX: int
STATE_FILE_MAX: int

class RunDirError(OSError): ...

def valid_agent_name(name: object) -> bool: ...
def check_interval(value: object) -> float: ...
def proc_start_time(pid: int) -> int | None: ...
def boot_clock() -> float: ...
def proc_table() -> list[tuple[int, int, bool, int, int, int]]: ...
def proc_resident(pid: int) -> int | None: ...
def alive(pid: int, pid_start: int = 0) -> bool: ...
def wait_exit(pid: int, pid_start: int = 0, timeout: float = 10.0) -> bool: ...
def check_run_dir(path: _Path, create: bool = False) -> None: ...
def beat(
    agent: str,
    pid: int,
    run_dir: _Path,
    *,
    status: Literal["ok", "dead", "stopped"] = "ok",
    interval: float = 15.0,
    seq: int = 1,
    pid_start: int | None = None,
    runtime: str | None = None,
    fsync: bool = False,
) -> None: ...
def run(
    agent: str,
    pid: int,
    run_dir: _Path,
    interval: float = 15.0,
    *,
    fsync: bool = False,
    runtime: str | None = None,
    textfile_dir: _Path | None = None,
) -> Literal["dead", "stopped", "replaced"]: ...
