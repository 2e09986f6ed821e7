import os
from typing import Literal

from mosaic_hb.record import Record

_Path = str | os.PathLike[str]

INTERVAL_MIN: float
INTERVAL_MAX: float
SIDECAR_NAME: str

class RunDirError(OSError): ...
class SidecarError(RuntimeError): ...

def valid_agent_name(name: object) -> bool: ...
def check_interval(value: object) -> float: ...
def proc_start_time(pid: int) -> int | None: ...
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
def read(path: _Path) -> Record: ...
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
def sidecar_path() -> str: ...
def spawn(
    agent: str,
    pid: int,
    run_dir: _Path,
    interval: float = 15.0,
    *,
    fsync: bool = False,
    runtime: str | None = None,
    textfile_dir: _Path | None = None,
    timeout: float = 10.0,
) -> int: ...

class Spawning:
    def wait(self) -> int: ...

def spawn_start(
    agent: str,
    pid: int,
    run_dir: _Path,
    interval: float = 15.0,
    *,
    fsync: bool = False,
    runtime: str | None = None,
    textfile_dir: _Path | None = None,
    timeout: float = 10.0,
) -> Spawning: ...
