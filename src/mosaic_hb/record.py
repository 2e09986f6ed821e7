"""The heartbeat record: parsing and the contract readers rely on.

A record is a small text file, ``<run dir>/<agent>.hb``, written whole by an
atomic rename, so a reader sees either the previous record or the next one,
never a mix. Its format, a superset of the bash sidecar's:

* UTF-8, at most ``RECORD_MAX_BYTES`` bytes, one ``key=value`` per line, every
  line ending in ``\\n`` (a missing final newline means the file was cut);
* first ``ts``, ``pid`` and ``status`` (as the bash sidecar wrote them), then
  ``agent``, ``epoch``, ``seq``, ``interval``, ``hb_pid``, ``pid_start``, and
  optionally ``runtime``, and ``hb_start`` with ``since_boot``: the writer's
  own start time (as ``pid_start`` is the agent's), which names the sidecar
  exactly, and the beat's time on the host's boot clock
  (``mosaic_hb.boot_clock``), which gives its age exactly. Neither can be
  fooled by a step of the wall clock;
* each key at most once; keys that this version does not know are kept in
  ``Record.extra`` and otherwise ignored, so that newer sidecars can add keys.

Anything else raises ``RecordError`` and nothing else: ``fleet ps`` shows
such a file as ``corrupt``.

The agent's state (issue 13). A hook (``mosaic-hb state``) writes
``<run dir>/<agent>.state``, with the same line rules: ``state``, ``source``
(``hook``), ``epoch`` (when the state began), ``agent``, and ``waiting_for``
for a waiting agent. The sidecar copies it into its record as ``state``,
``state_source``, ``state_epoch`` and ``waiting_for``, which ``Record.extra``
keeps; ``record_state()`` reads them back, ``parse_state_file()`` and
``read_state_file()`` read the file itself when no sidecar runs.
"""

from __future__ import annotations

import math
import os
import re
import stat
import time
from dataclasses import dataclass, field

from mosaic_hb._hb import boot_clock
# The agent-name rule and the interval bounds: defined once, in C (hb.h).
from mosaic_hb.rules import AGENT_NAME, INTERVAL_MAX, INTERVAL_MIN

# What a reader accepts; more than the C writer's buffer (RECORD_WRITE_MAX),
# so that a newer sidecar may add keys.
RECORD_MAX_BYTES = 4096
STATUSES = ("ok", "dead", "stopped")
# A record older than this many of its own intervals is stale: its sidecar
# has missed two beats in a row, which a healthy one never does.
STALE_INTERVALS = 3
REQUIRED_KEYS = ("ts", "pid", "status", "agent", "epoch", "seq", "interval", "hb_pid", "pid_start")
OPTIONAL_KEYS = ("runtime", "hb_start", "since_boot")

# The C types these values end up in: pid_t (a signed 32-bit int on every
# platform mosaic supports) and uint64_t. A larger number in a record can
# only come from a corrupt or forged file, and must not reach os.kill or the
# core as an OverflowError.
PID_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1

_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# ASCII digits only, as the core reads them: \d alone also takes other
# scripts' digits ('١'), which int() and float() accept and C does not.
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}\Z", re.ASCII)
_UINT = re.compile(r"\d{1,20}\Z", re.ASCII)
_DECIMAL = re.compile(r"\d{1,20}(\.\d{1,20})?([eE][+-]?\d{1,3})?\Z", re.ASCII)


# The states: the four a hook reports, and what readers say when none has.
HOOK_STATES = ("starting", "working", "waiting", "idle")
STATES = HOOK_STATES + ("unknown",)
WAITING_FOR = ("permission", "question")
STATE_SOURCES = ("hook", "pane")
STATE_SUFFIX = ".state"  # <run dir>/<agent>.state, written by the hook program
# An AGENT.state file is always well under this (HB_STATE_FILE_MAX in hb.h).
STATE_FILE_MAX_BYTES = 512


class RecordError(ValueError):
    """A heartbeat file that is not a valid record."""


class StateFileError(ValueError):
    """An AGENT.state file that is not a valid state file."""


@dataclass(frozen=True)
class AgentState:
    """An agent's state. ``state`` is one of STATES; the rest is None when
    unknown: ``source`` (hook or pane), ``epoch`` (unix time the state
    began) and ``waiting_for`` (permission or question, for waiting)."""
    state: str = "unknown"
    source: str | None = None
    epoch: float | None = None
    waiting_for: str | None = None


UNKNOWN_STATE = AgentState()


@dataclass(frozen=True)
class Record:
    ts: str
    pid: int
    status: str
    agent: str
    epoch: float
    seq: int
    interval: float
    hb_pid: int
    pid_start: int
    runtime: str | None = None
    hb_start: int | None = None  # the writer's start time (mosaic_hb.proc_start_time); None: not told
    since_boot: float | None = None  # the beat on the boot clock (mosaic_hb.boot_clock); None: not told
    extra: dict[str, str] = field(default_factory=dict)

    def beat_age(self, now: float) -> float:
        """Seconds since the last beat at unix time NOW; negative if the beat
        lies in the future. On this host's boot clock (mosaic_hb.boot_clock)
        when the record has ``since_boot`` and that age is not negative:
        that clock never steps. Else on the wall clock, which may have
        stepped since the beat. (A record from an earlier boot can give any
        age: readers also check, by ``hb_start``, that its sidecar runs.)"""
        if self.since_boot is not None:
            wall = time.time()
            age = boot_clock() - (wall - now) - self.since_boot
            if age >= 0:
                return age
        return now - self.epoch

    def stale_limit(self, stale_after: float | None = None) -> float:
        """Seconds without a beat after which the record is stale:
        STALE_AFTER, by default STALE_INTERVALS of its own interval."""
        return stale_after if stale_after is not None else STALE_INTERVALS * self.interval

    def is_stale(self, now: float, stale_after: float | None = None) -> bool:
        """True if the last beat is older than the stale limit at unix time NOW."""
        return self.beat_age(now) > self.stale_limit(stale_after)


def _uint(key: str, text: str, minimum: int = 0, maximum: int = UINT64_MAX) -> int:
    if not _UINT.match(text):
        raise RecordError(f"{key}: not an integer: {text[:40]!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise RecordError(f"{key}: out of range: {value}")
    return value


def _seconds(key: str, text: str) -> float:
    if not _DECIMAL.match(text):
        raise RecordError(f"{key}: not a number: {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):
        raise RecordError(f"{key}: not finite")
    return value


def _parse_fields(data: bytes, max_bytes: int) -> dict[str, str]:
    """The key=value lines of a record or a state file (the rules in the
    module's docstring), at most MAX_BYTES. Raises RecordError only."""
    if not isinstance(data, (bytes, bytearray)):
        raise RecordError("not bytes")
    if len(data) == 0:
        raise RecordError("empty")
    if len(data) > max_bytes:
        raise RecordError(f"larger than {max_bytes} bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("not UTF-8") from None
    if not text.endswith("\n"):
        raise RecordError("truncated: no final newline")
    fields: dict[str, str] = {}
    for number, line in enumerate(text[:-1].split("\n"), start=1):
        key, sep, value = line.partition("=")
        if not sep or not _KEY.match(key):
            raise RecordError(f"line {number}: not key=value")
        if key in fields:
            raise RecordError(f"line {number}: duplicate key {key!r}")
        if _CONTROL.search(value):
            raise RecordError(f"line {number}: control character in {key!r}")
        fields[key] = value
    return fields


def parse_record(data: bytes) -> Record:
    """Parse the bytes of a heartbeat file. Raises RecordError only."""
    fields = _parse_fields(data, RECORD_MAX_BYTES)
    missing = [key for key in REQUIRED_KEYS if key not in fields]
    if missing:
        raise RecordError("missing " + ", ".join(missing))

    status = fields["status"]
    if status not in STATUSES:
        raise RecordError(f"status: unknown {status[:20]!r}")
    if not _TS.match(fields["ts"]):
        raise RecordError("ts: not %Y-%m-%dT%H:%M:%S%z")
    agent = fields["agent"]
    if not AGENT_NAME.match(agent):
        raise RecordError("agent: not a valid agent name")
    runtime = fields.get("runtime")
    if runtime is not None and not AGENT_NAME.match(runtime):
        raise RecordError("runtime: not a valid name")
    interval = _seconds("interval", fields["interval"])
    if not INTERVAL_MIN <= interval <= INTERVAL_MAX:
        raise RecordError("interval: out of range")
    hb_start = _uint("hb_start", fields["hb_start"], minimum=1) if "hb_start" in fields else None
    since_boot = _seconds("since_boot", fields["since_boot"]) if "since_boot" in fields else None
    extra = {k: v for k, v in fields.items() if k not in REQUIRED_KEYS and k not in OPTIONAL_KEYS}
    return Record(
        ts=fields["ts"],
        pid=_uint("pid", fields["pid"], minimum=1, maximum=PID_MAX),
        status=status,
        agent=agent,
        epoch=_seconds("epoch", fields["epoch"]),
        seq=_uint("seq", fields["seq"]),
        interval=interval,
        hb_pid=_uint("hb_pid", fields["hb_pid"], minimum=1, maximum=PID_MAX),
        pid_start=_uint("pid_start", fields["pid_start"]),
        runtime=runtime,
        hb_start=hb_start,
        since_boot=since_boot,
        extra=extra,
    )


def format_record(record: Record) -> bytes:
    """The bytes of RECORD in the file format ``parse_record`` reads: the
    inverse of the parser (``parse_record(format_record(r)) == r``). Used by
    writers other than the sidecar, such as ``mosaic stop`` marking a
    deliberate stop; the sidecar formats its records in C."""
    fields = {
        "ts": record.ts, "pid": record.pid, "status": record.status, "agent": record.agent,
        "epoch": f"{record.epoch:.6f}", "seq": record.seq, "interval": f"{record.interval:g}",
        "hb_pid": record.hb_pid, "pid_start": record.pid_start,
    }
    if record.runtime is not None:
        fields["runtime"] = record.runtime
    if record.hb_start is not None:
        fields["hb_start"] = record.hb_start
    if record.since_boot is not None:
        fields["since_boot"] = f"{record.since_boot:.6f}"
    fields.update(record.extra)
    data = "".join(f"{key}={value}\n" for key, value in fields.items()).encode()
    parse_record(data)  # never write what a reader would call corrupt
    return data


# ---- the agent's state ------------------------------------------------------


def _state_epoch(text: str | None) -> float | None:
    """TEXT as a state's start (positive finite seconds), else None."""
    if text is None or not _DECIMAL.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) and value > 0 else None


def record_state(record: Record) -> AgentState:
    """The hook state a sidecar copied into RECORD (its ``state``,
    ``state_source``, ``state_epoch`` and ``waiting_for`` keys, kept in
    ``Record.extra``), validated: a state this version does not know, a
    source other than hook, or an epoch that is not a finite positive number
    gives UNKNOWN_STATE, as does a record without them (an older sidecar).
    ``waiting_for`` is kept only for waiting, and only a known value."""
    extra = record.extra
    state = extra.get("state")
    epoch = _state_epoch(extra.get("state_epoch"))
    if state not in HOOK_STATES or extra.get("state_source") != "hook" or epoch is None:
        return UNKNOWN_STATE
    waiting_for = extra.get("waiting_for")
    if state != "waiting" or waiting_for not in WAITING_FOR:
        waiting_for = None
    return AgentState(state=state, source="hook", epoch=epoch, waiting_for=waiting_for)


def parse_state_file(data: bytes, agent: str | None = None) -> AgentState:
    """Parse the bytes of an AGENT.state file, with the record's line rules
    and at most STATE_FILE_MAX_BYTES. With AGENT, its ``agent`` key must
    match. Raises StateFileError only."""
    try:
        fields = _parse_fields(data, STATE_FILE_MAX_BYTES)
    except RecordError as exc:
        raise StateFileError(str(exc)) from None
    missing = [key for key in ("state", "source", "epoch", "agent") if key not in fields]
    if missing:
        raise StateFileError("missing " + ", ".join(missing))
    state = fields["state"]
    if state not in HOOK_STATES:
        raise StateFileError(f"state: unknown {state[:20]!r}")
    if fields["source"] != "hook":
        raise StateFileError(f"source: unknown {fields['source'][:20]!r}")
    epoch = _state_epoch(fields["epoch"])
    if epoch is None:
        raise StateFileError("epoch: not a positive finite number")
    if not AGENT_NAME.match(fields["agent"]):
        raise StateFileError("agent: not a valid agent name")
    if agent is not None and fields["agent"] != agent:
        raise StateFileError(f"agent: {fields['agent']!r}, not {agent!r}")
    waiting_for = fields.get("waiting_for")
    if waiting_for is not None and waiting_for not in WAITING_FOR:
        raise StateFileError(f"waiting_for: unknown {waiting_for[:20]!r}")
    return AgentState(state=state, source="hook", epoch=epoch,
                      waiting_for=waiting_for if state == "waiting" else None)


def read_state_file(path: str | os.PathLike[str], agent: str | None = None) -> AgentState:
    """Read and parse an AGENT.state file: never through a symlink, never
    blocking (a FIFO is refused), at most STATE_FILE_MAX_BYTES. Raises
    FileNotFoundError if it does not exist, StateFileError otherwise."""
    return parse_state_file(read_bounded(path, STATE_FILE_MAX_BYTES, StateFileError, regular=True), agent)


def read_bounded(path: str | os.PathLike[str], limit: int, error: type[ValueError] = RecordError, *,
                 regular: bool = False) -> bytes:
    """At most LIMIT + 1 bytes of the run-dir file at PATH (one more than a
    valid file may hold, so that the parser can tell it is too large):
    never through a symlink, never blocking on a FIFO, and with REGULAR
    nothing but a regular file. Raises FileNotFoundError if it does not
    exist, ERROR("unreadable: ...") otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"unreadable: {exc.strerror}") from None
    try:
        if regular and not _is_regular(fd):
            raise error("not a regular file")
        return os.read(fd, limit + 1)
    except OSError as exc:
        raise error(f"unreadable: {exc.strerror}") from None
    finally:
        os.close(fd)


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)
