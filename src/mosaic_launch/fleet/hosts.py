"""``mosaic fleet ps --host H``: the same ``fleet ps`` on other hosts, over ssh.

Each host H (``--host``, repeatable, or ``MOSAIC_FLEET_HOSTS``,
comma-separated) is ``[user@]host[:port]``; host is a name, an IPv4 address or
a bracketed IPv6 address (``[::1]:2222``). Anything else is a usage error, so
no option (``-oProxyCommand=...``) or shell syntax can reach ssh.

Every host is asked at once, in its own thread, with::

    ssh -T -o BatchMode=yes -o ConnectTimeout=N [-F CONFIG] [-p PORT] -- [user@]host \\
        env -u MOSAIC_FLEET_HOSTS mosaic fleet ps --json [--socket S] [--run-dir D] \\
        [--stale-after N] [-- PATTERN...]

ssh hands that line to the remote user's shell. It is built from constants
and ``shlex.quote``-d values only, so the remote shell sees plain words; ``env``
unsets MOSAIC_FLEET_HOSTS there, so a host never fans out again.
``--socket``, ``--run-dir`` and ``--stale-after`` are passed on only when
given; otherwise each host uses its own defaults.

Nothing hangs: BatchMode never prompts, ConnectTimeout bounds the connection,
and a per-host deadline (``MOSAIC_FLEET_HOST_TIMEOUT``, default 20 s) kills
ssh's whole process group when it expires. A host that fails (cannot connect,
refuses the key, has no ``mosaic``, answers with something that is not a
``fleet ps`` document, misses the deadline) becomes one error row; the other
hosts' rows are still shown. Within a document, every value of a row is
checked (type, range, finite, one of the known words; see INT_RANGES,
FLOAT_RANGES and CHOICES, the states of issue 13 among them): a row with a
bad one is ``corrupt``, with the reasons in ``detail``. NaN, Infinity and
integer literals too long for any field never reach the table or the JSON
output.

Settings (environment):

* ``MOSAIC_FLEET_HOSTS``: the hosts when no ``--host`` is given.
* ``MOSAIC_SSH_CONFIG``: an ssh client config file, given to ssh as ``-F``
  (which then replaces ~/.ssh/config). Without it, ssh reads the user's
  usual config; note that ssh finds ~/.ssh through the password database,
  not $HOME.
* ``MOSAIC_REMOTE_COMMAND``: how to run mosaic on the hosts, default
  ``mosaic``; words split as a shell would (e.g. ``/opt/mosaic/bin/mosaic``
  or ``python3 -m mosaic_launch``), each passed on quoted: no shell operators.
  Needed when mosaic is not on the PATH of a non-interactive ssh session
  (e.g. it was installed under pyenv or a virtualenv).
* ``MOSAIC_FLEET_HOST_TIMEOUT``: the per-host deadline, seconds (default 20).
* ``MOSAIC_SSH_CONNECT_TIMEOUT``: ssh's ConnectTimeout, whole seconds
  (default 5).

Rows are ``status.AgentStatus`` with ``host`` set to H as given. A
host that failed is one row ``error_row(H, why)``: ``heartbeat`` is
``"error"``, ``detail`` says why, and it is never healthy (so ``--check``
fails on it). ``to_document`` gives the multi-host JSON document::

    {"schema": 1,
     "hosts": [{"host": H, "socket": S|null, "run_dir": D|null, "error": str|null}, ...],
     "agents": [ROW, ...]}

where each ROW is a ``fleet ps --json`` row with ``host`` set; an error row
has ``name`` and ``pane`` null, ``heartbeat`` ``"error"``, ``healthy`` false
and the reason in ``detail``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from mosaic_hb import valid_agent_name
from mosaic_hb.record import STATE_SOURCES, STATES, WAITING_FOR

from mosaic_launch.errors import UsageError, seconds, show
from mosaic_launch.settings import ENV_HOSTS, lookup
from mosaic_launch.fleet.status import (HEARTBEAT_STATES, PANE_STATES, RESTART_POLICIES, SCHEMA_VERSION,
                                        AgentStatus, problems_first)

ENV_SSH_CONFIG = "MOSAIC_SSH_CONFIG"
ENV_REMOTE_COMMAND = "MOSAIC_REMOTE_COMMAND"
ENV_HOST_TIMEOUT = "MOSAIC_FLEET_HOST_TIMEOUT"
ENV_CONNECT_TIMEOUT = "MOSAIC_SSH_CONNECT_TIMEOUT"

DEFAULT_REMOTE_COMMAND = "mosaic"
DEFAULT_HOST_TIMEOUT = 20.0
DEFAULT_CONNECT_TIMEOUT = 5
MAX_PARALLEL = 64
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
ERROR_STATE = "error"

_USER = r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})"
_IPV6 = r"\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?\]"
_HOST_SPEC = re.compile(rf"(?:(?P<user>{_USER})@)?(?P<host>{_NAME}|{_IPV6})(?::(?P<port>[0-9]{{1,5}}))?")


@dataclass(frozen=True)
class Host:
    """One ``[user@]host[:port]``."""

    spec: str               # as given: the HOST column
    hostname: str           # without brackets
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.hostname}" if self.user else self.hostname


def parse_host(spec: str) -> Host:
    """SPEC as a Host; UsageError unless it is ``[user@]host[:port]``."""
    text = spec.strip()
    match = _HOST_SPEC.fullmatch(text)
    shown = repr(spec) if len(spec) <= 60 else repr(spec[:56]) + "..."
    if match is None:
        raise UsageError(f"invalid host {shown}: expected [user@]host[:port]")
    port = match.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        raise UsageError(f"invalid host {shown}: port must be 1 to 65535")
    hostname = match.group("host")
    if hostname.startswith("["):
        hostname = hostname[1:-1]
    return Host(spec=text, hostname=hostname, user=match.group("user"),
                port=None if port is None else int(port))


def parse_hosts(flags: Iterable[str] | None, environ: Mapping[str, str] | None = None) -> list[Host]:
    """The hosts from --host FLAGS (each may also be comma-separated), else
    from MOSAIC_FLEET_HOSTS; in order, without repeats. Empty: no hosts (a
    local ps)."""
    environ = os.environ if environ is None else environ
    values = list(flags or [])
    source = "--host"
    if not values:
        values = [lookup(ENV_HOSTS, environ) or ""]
        source = ENV_HOSTS
    hosts: list[Host] = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                if source == "--host" and not value.strip():
                    raise UsageError("--host is empty")
                continue
            try:
                host = parse_host(item)
            except UsageError as exc:
                raise UsageError(f"{exc} (from {source})") from None
            if host not in hosts:
                hosts.append(host)
    return hosts


def _number(environ: Mapping[str, str], var: str, default: float, low: float, high: float) -> float:
    value = lookup(var, environ)
    if value is None:
        return default
    value = value.strip()
    return seconds(value, f"{var}={show(value, 40)}", low=low, high=high, include_low=True)


def host_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The per-host deadline: MOSAIC_FLEET_HOST_TIMEOUT, default 20 s."""
    return _number(os.environ if environ is None else environ, ENV_HOST_TIMEOUT,
                   DEFAULT_HOST_TIMEOUT, 0.1, 3600)


def connect_timeout(environ: Mapping[str, str] | None = None) -> int:
    """ssh's ConnectTimeout: MOSAIC_SSH_CONNECT_TIMEOUT, default 5 s."""
    value = _number(os.environ if environ is None else environ, ENV_CONNECT_TIMEOUT,
                    DEFAULT_CONNECT_TIMEOUT, 1, 3600)
    return max(1, int(value))


def remote_words(environ: Mapping[str, str] | None = None) -> list[str]:
    """MOSAIC_REMOTE_COMMAND (default ``mosaic``) split into words."""
    environ = os.environ if environ is None else environ
    value = (lookup(ENV_REMOTE_COMMAND, environ) or DEFAULT_REMOTE_COMMAND).strip()
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise UsageError(f"invalid {ENV_REMOTE_COMMAND}={value!r}: {exc}") from None
    if not words:
        raise UsageError(f"invalid {ENV_REMOTE_COMMAND}={value!r}: no command")
    return words


def remote_command(
    *,
    socket: str | None = None,
    run_dir: str | os.PathLike | None = None,
    stale_after: float | None = None,
    patterns: Sequence[str] = (),
    show_all: bool = False,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The line the remote shell runs: constants and quoted values only.

    ``env -u MOSAIC_FLEET_HOSTS`` first: a host whose shell sets that
    variable must answer for itself, not fan out again."""
    argv = ["env", "-u", ENV_HOSTS, *remote_words(environ), "fleet", "ps", "--json"]
    if socket is not None:
        argv += ["--socket", socket]
    if run_dir is not None:
        argv += ["--run-dir", os.fspath(run_dir)]
    if stale_after is not None:
        argv += ["--stale-after", repr(float(stale_after))]
    if show_all:
        argv += ["--all"]
    if patterns:
        argv += ["--", *patterns]
    return " ".join(shlex.quote(word) for word in argv)


def ssh_argv(host: Host, command: str, *, timeout: int = DEFAULT_CONNECT_TIMEOUT,
             environ: Mapping[str, str] | None = None) -> list[str]:
    """The ssh command line for HOST running COMMAND (from remote_command)."""
    environ = os.environ if environ is None else environ
    argv = ["ssh", "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout}"]
    config = lookup(ENV_SSH_CONFIG, environ)
    if config is not None:
        argv += ["-F", config]
    if host.port is not None:
        argv += ["-p", str(host.port)]
    return [*argv, "--", host.destination, command]


@dataclass
class HostResult:
    """What one host answered: its rows, or why there are none."""

    host: str
    agents: list[AgentStatus] = field(default_factory=list)
    error: str | None = None
    socket: str | None = None
    run_dir: str | None = None

    def rows(self) -> list[AgentStatus]:
        return [error_row(self.host, self.error)] if self.error is not None else self.agents


def error_row(host: str, why: str) -> AgentStatus:
    """The one row of a host that could not be asked."""
    return AgentStatus(name="-", host=host, pane="-", heartbeat=ERROR_STATE, detail=why)


def is_error(row: AgentStatus) -> bool:
    return row.heartbeat == ERROR_STATE


# C0 and C1 controls, and lone surrogates (which JSON's \ud800 escapes can
# carry and which no terminal or UTF-8 stdout can take).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _clean(text: str, limit: int = 300) -> str:
    """One printable line: a remote host's text never drives our terminal."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# The range of every number a remote row may hold. Anything else (out of
# range, not finite, a boolean, a string) makes that row ``corrupt``: it
# would otherwise reach the table's arithmetic, os-level types or the JSON
# output (where NaN and Infinity are not JSON).
PID_MAX = 2**31 - 1            # pid_t
SECONDS_MAX = 1e12             # about 31,700 years: any age, uptime or activity
CPU_PERCENT_MAX = 1e6          # 10,000 cores at 100%
RSS_MAX = 2**63 - 1
INT_RANGES = {
    "pid": (1, PID_MAX),
    "hb_pid": (1, PID_MAX),
    "exit_status": (0, 255),
    "exit_signal": (1, 128),
    "rss_bytes": (0, RSS_MAX),
    "restarts": (0, RSS_MAX),
    "last_exit_status": (0, 255),
    "last_exit_signal": (1, 128),
}
FLOAT_RANGES = {
    "age_s": (0.0, SECONDS_MAX),
    "activity_s": (0.0, SECONDS_MAX),
    "uptime_s": (0.0, SECONDS_MAX),
    "cpu_percent": (0.0, CPU_PERCENT_MAX),
    "state_age_s": (0.0, SECONDS_MAX),
    "last_restart": (0.0, SECONDS_MAX),  # unix times: well within the same bound
    "restart_at": (0.0, SECONDS_MAX),
}
# The values a remote row's words may take.
CHOICES = {
    "pane": PANE_STATES,
    "heartbeat": HEARTBEAT_STATES,
    "state": STATES,
    "state_source": STATE_SOURCES,
    "waiting_for": WAITING_FOR,
    "restart": RESTART_POLICIES,
}
# No valid value of any field is longer: a longer integer literal is refused
# before Python converts it (which costs time quadratic in its length, and
# raises ValueError past 4300 digits).
INT_DIGITS_MAX = 20
DETAIL_MAX = 300


class _Refused:
    """A JSON token a fleet ps document never holds (NaN, Infinity, an
    integer too long to be any field): kept as a marker, so that the field
    that holds it, not the whole answer, is refused."""

    def __init__(self, why: str):
        self.why = why

    def __repr__(self) -> str:
        return self.why


def _refuse_constant(token: str) -> _Refused:
    return _Refused(f"{token} (not JSON, and not finite)")


def _parse_int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > INT_DIGITS_MAX:
        return _Refused(f"an integer of {digits} digits")
    return int(text)


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    if not math.isfinite(value):
        return _Refused(f"{text[:20]}{'...' if len(text) > 20 else ''} (not finite)")
    return value


def _loads(text: str) -> object:
    """TEXT as JSON, with every NaN, Infinity, overflowing float and overlong
    integer as a _Refused marker. ValueError if it is not JSON at all."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int,
                          parse_float=_parse_float)
    except RecursionError:  # "[[[[..." nested past the interpreter's stack
        raise ValueError("nested too deeply") from None


def _int_field(key: str, value: object) -> int:
    low, high = INT_RANGES[key]
    if isinstance(value, _Refused):
        raise ValueError(f"{key} is {value!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} is not an integer ({_type_name(value)})")
    if not low <= value <= high:
        raise ValueError(f"{key} is out of range ({value}; expected {low} to {high})")
    return value


def _float_field(key: str, value: object) -> float:
    low, high = FLOAT_RANGES[key]
    if isinstance(value, _Refused):
        raise ValueError(f"{key} is {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is not a number ({_type_name(value)})")
    if not math.isfinite(value):
        raise ValueError(f"{key} is not finite")
    if not low <= value <= high:
        raise ValueError(f"{key} is out of range ({value:g}; expected {low:g} to {high:g})")
    return float(value)


def _bool_field(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} is not true or false ({_type_name(value)})")
    return value


def _choice_field(key: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string ({_type_name(value)})")
    if value not in choices:
        raise ValueError(f"{key} is not one of {', '.join(choices)} ({_clean(value, 40)!r})")
    return value


def _name_field(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string ({_type_name(value)})")
    if not valid_agent_name(value):
        raise ValueError(f"{key} is not a valid agent name ({_clean(value, 40)!r})")
    return value


def _type_name(value: object) -> str:
    if isinstance(value, _Refused):
        return repr(value)
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _row(data: object, host: str) -> AgentStatus:
    """One remote row; a row with any value that is not what ``fleet ps``
    writes is kept, as ``corrupt`` with the reasons in ``detail``: the other
    rows of the host are still shown."""
    if not isinstance(data, dict):
        return AgentStatus(name="?", host=host, heartbeat="corrupt",
                           detail=f"bad answer: an agent row is {_type_name(data)}, not an object")
    values: dict = {}
    problems: list[str] = []

    def take(key: str, check) -> None:
        value = data.get(key)
        if value is None:
            return
        try:
            values[key] = check(key, value)
        except ValueError as exc:
            problems.append(str(exc))

    take("name", _name_field)
    take("runtime", _name_field)
    for key, choices in CHOICES.items():
        take(key, lambda key, value, choices=choices: _choice_field(key, value, choices))
    for key in INT_RANGES:
        take(key, _int_field)
    for key in FLOAT_RANGES:
        take(key, _float_field)
    take("gave_up", _bool_field)
    detail = data.get("detail")
    if detail is not None:
        if isinstance(detail, str):  # prose for a person: cleaned, not refused
            values["detail"] = _clean(detail, DETAIL_MAX)
        else:
            problems.append(f"detail is not a string ({_type_name(detail)})")
    if "name" not in values and not problems:
        problems.append("an agent row has no name")
    if problems:
        name = values.get("name")
        if name is None:
            raw = data.get("name")
            name = _clean(raw, 64) or "?" if isinstance(raw, str) else "?"
        shown = "; ".join(problems)
        values.update(name=name, heartbeat="corrupt", detail=_clean(f"bad answer: {shown}", DETAIL_MAX))
    return AgentStatus(**values, host=host)


def parse_document(text: str, host: str) -> HostResult:
    """A host's ``fleet ps --json`` output as a HostResult; ValueError if it
    is not a schema-1 document. A row with a bad value is a ``corrupt`` row
    (see ``_row``), not an error of the whole host."""
    try:
        document = _loads(text)
    except ValueError as exc:
        why = " (nested too deeply)" if "nested" in str(exc) else ""
        raise ValueError(f"not a fleet ps --json document{why}") from None
    if not isinstance(document, dict) or "agents" not in document:
        raise ValueError("not a fleet ps --json document")
    schema = document.get("schema")
    if isinstance(schema, bool) or schema != SCHEMA_VERSION:
        shown = repr(schema) if isinstance(schema, (_Refused, int, float, type(None))) else _type_name(schema)
        raise ValueError(f"unsupported fleet ps schema {_clean(shown, 60)} (this mosaic reads "
                         f"{SCHEMA_VERSION})")
    agents = document["agents"]
    if not isinstance(agents, list):
        raise ValueError("agents is not a list")
    socket, run_dir = document.get("socket"), document.get("run_dir")
    return HostResult(
        host=host,
        agents=[_row(item, host) for item in agents],
        socket=_clean(socket) if isinstance(socket, str) else None,
        run_dir=_clean(run_dir) if isinstance(run_dir, str) else None,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _why(stderr: bytes, status: int, command: str) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    last = _clean(lines[-1]) if lines else ""
    if status == 255:  # ssh's own failure
        return last or "ssh failed (exit status 255)"
    if status == 127:
        return f"{command!r} not found on the host (set {ENV_REMOTE_COMMAND}): {last}" if last else \
            f"{command!r} not found on the host (set {ENV_REMOTE_COMMAND})"
    return last or f"the remote command failed (exit status {status})"


def ask_host(host: Host, command: str, *, deadline: float = DEFAULT_HOST_TIMEOUT,
             connect: int = DEFAULT_CONNECT_TIMEOUT, environ: Mapping[str, str] | None = None) -> HostResult:
    """Run COMMAND on HOST over ssh, within DEADLINE seconds. Never raises
    for a host's failure: that is the result's error."""
    argv = ssh_argv(host, command, timeout=connect, environ=environ)
    env = None if environ is None else dict(environ)
    try:
        # A session of its own: on expiry the whole group (ssh, and any
        # ProxyCommand it started) is killed, so no pipe stays open.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
    except OSError as exc:
        return HostResult(host.spec, error=f"cannot run ssh: {exc.strerror or exc}")
    try:
        stdout, stderr = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a descendant left the group and holds a pipe
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
        return HostResult(host.spec, error=f"no answer within {deadline:g}s (killed ssh)")
    finally:
        if proc.poll() is None:  # an interrupt: do not leave ssh behind
            _kill_group(proc)
            proc.wait()
    if proc.returncode != 0:
        first = remote_words(environ)[0]
        return HostResult(host.spec, error=_why(stderr, proc.returncode, first))
    if len(stdout) > MAX_OUTPUT_BYTES:
        return HostResult(host.spec, error="the answer is too large")
    try:
        return parse_document(stdout.decode(errors="replace"), host.spec)
    except ValueError as exc:
        return HostResult(host.spec, error=f"bad answer: {exc}")


def ps_hosts(
    hosts: Sequence[Host],
    *,
    socket: str | None = None,
    run_dir: str | os.PathLike | None = None,
    stale_after: float | None = None,
    patterns: Sequence[str] = (),
    show_all: bool = False,
    deadline: float | None = None,
    connect: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[HostResult]:
    """``fleet ps --json`` on every host at once; one HostResult per host, in
    the order given. Takes at most about DEADLINE (default
    MOSAIC_FLEET_HOST_TIMEOUT) for up to MAX_PARALLEL hosts. Raises
    UsageError only for bad settings (before any ssh starts)."""
    command = remote_command(socket=socket, run_dir=run_dir, stale_after=stale_after,
                             patterns=patterns, show_all=show_all, environ=environ)
    deadline = host_timeout(environ) if deadline is None else deadline
    connect = connect_timeout(environ) if connect is None else connect
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(len(hosts), MAX_PARALLEL)) as pool:
        futures = [pool.submit(ask_host, host, command, deadline=deadline, connect=connect, environ=environ)
                   for host in hosts]
        return [future.result() for future in futures]


def merged_rows(results: Iterable[HostResult], *, problems: bool = False) -> list[AgentStatus]:
    """Every host's rows in host order (each host's by name), or with
    PROBLEMS the unhealthy ones (error rows among them) first."""
    rows = [row for result in results for row in result.rows()]
    return problems_first(rows) if problems else rows


def all_healthy(results: Iterable[HostResult]) -> bool:
    """What --check asks of all hosts: every host answered, no agent needs
    its operator (agents stopped on purpose never do)."""
    return not any(row.problem for result in results for row in result.rows())


def to_document(results: Sequence[HostResult], *, problems: bool = False) -> dict:
    """The multi-host ``fleet ps --json`` document (see the module doc)."""
    agents = []
    for row in merged_rows(results, problems=problems):
        data = row.to_json()
        if is_error(row):
            data["name"] = data["pane"] = None
        agents.append(data)
    return {
        "schema": SCHEMA_VERSION,
        "hosts": [{"host": r.host, "socket": r.socket, "run_dir": r.run_dir, "error": r.error}
                  for r in results],
        "agents": agents,
    }
