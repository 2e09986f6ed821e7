"""All of mosaic's settings, resolved in one place.

Each setting resolves as: the command-line value, then its ``MOSAIC_*``
environment variable, then the default. A variable that is consulted (no
command-line value was given) and is set but empty is an error
(``UsageError``), never a silent default; so is any value that fails
validation. Resolution creates nothing: a workdir or run dir that does
not exist yet is only checked for being creatable.

Every ``resolve_*`` function takes an optional ``environ`` mapping (default
``os.environ``), so that ``mosaic fleet`` can resolve per-agent settings from
its own layer of variables. ``resolve_launch`` returns the frozen
``LaunchSettings`` that ``launch.launch_agent`` consumes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import mosaic_hb

from mosaic_launch import shellcmd
from mosaic_launch.errors import MosaicError, UsageError, ascii_digits, one_line, show
from mosaic_launch.tmux import TMUX_OWNED

# The variables, one per setting.
ENV_NAME = "MOSAIC_AGENT_NAME"
ENV_SOCKET = "MOSAIC_TMUX_SOCKET"
ENV_RUNTIME = "MOSAIC_AGENT_RUNTIME"
ENV_WORKDIR = "MOSAIC_AGENT_WORKDIR"
ENV_COMMAND = "MOSAIC_AGENT_COMMAND"
ENV_RUNTIME_BIN = "MOSAIC_RUNTIME_BIN"
ENV_RUN_DIR = "MOSAIC_HEARTBEAT_RUN_DIR"
ENV_INTERVAL = "MOSAIC_HEARTBEAT_INTERVAL"
ENV_TEXTFILE_DIR = "MOSAIC_TEXTFILE_DIR"  # read by the sidecar itself; checked here
ENV_LOG_DIR = "MOSAIC_LOG_DIR"
ENV_LOG_MAX_BYTES = "MOSAIC_LOG_MAX_BYTES"
ENV_HOSTS = "MOSAIC_FLEET_HOSTS"  # fleet ps --host's default; parsed in fleet/hosts.py
ENV_RESTART = "MOSAIC_RESTART"
ENV_RESTART_COMMAND = "MOSAIC_RESTART_COMMAND"
# The restart timing, in milliseconds, for tests and for hosts that need
# other numbers (the sidecar's defaults are systemd-like; see mosaic-hb --help).
ENV_RESTART_DELAY_MS = "MOSAIC_RESTART_DELAY_MS"
ENV_RESTART_SLOTS = "MOSAIC_RESTART_SLOTS"
ENV_RESTART_SLOT_HOLD_MS = "MOSAIC_RESTART_SLOT_HOLD_MS"

DEFAULT_SOCKET = "mosaic-factory"
DEFAULT_RUNTIME = "pi"
DEFAULT_INTERVAL = 15.0
RUN_DIR_UNDER_HOME = Path(".config", "mosaic", "fleet", "run")
LOG_DIR_BESIDE_RUN_DIR = "logs"  # the default log dir: RUN_DIR/../logs
DEFAULT_LOG_MAX_BYTES = 10_000_000  # mosaic-hb log's own default (hb_log.h)
LOG_MAX_BYTES_MIN = 1024  # HB_LOG_MAX_BYTES_MIN; 0 turns rotation off


@dataclass(frozen=True)
class Runtime:
    """An agent runtime: its CLI and where its installers usually put it."""

    name: str
    command: str
    bin_dirs: tuple[str, ...]  # relative to $HOME, in order of preference
    # `mosaic send`: seconds between the end of the paste and the Enter. A
    # TUI that gets the Enter too soon after a paste takes it as part of the
    # paste (a newline in its composer, not a submit): Codex does below
    # about 120 ms (byobu#115); Claude's Ink input needs a smaller gap.
    send_settle_s: float = 0.15


RUNTIMES: dict[str, Runtime] = {
    "pi": Runtime("pi", "pi", (".local/bin", ".npm-global/bin", ".bun/bin"), send_settle_s=0.1),
    "claude": Runtime("claude", "claude", (".local/bin", ".claude/local", ".npm-global/bin", ".bun/bin"),
                      send_settle_s=0.1),
    "codex": Runtime("codex", "codex", (".local/bin", ".npm-global/bin", ".bun/bin", ".cargo/bin"),
                     send_settle_s=0.15),
}
# The settle delay of an agent whose runtime is not one of RUNTIMES (a record
# without one, a newer runtime): the longest, as the safe side.
SEND_SETTLE_UNKNOWN_S = max(rt.send_settle_s for rt in RUNTIMES.values())


def send_settle(runtime: str | None) -> float:
    """Seconds `mosaic send` waits between the paste and the Enter, for an
    agent of RUNTIME (None: not known)."""
    known = RUNTIMES.get(runtime) if runtime else None
    return known.send_settle_s if known is not None else SEND_SETTLE_UNKNOWN_S

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


RESTART_POLICIES = ("no", "on-failure", "always")
# mosaic-hb --respawn takes at most this many words (HB_RESTART_ARGV_MAX less
# room for tmux's own, hb_main.c); a restart command's are /usr/bin/env,
# PATH=, the three MOSAIC_* variables, one per --env, and SHELL -c COMMAND.
RESPAWN_WORDS_MAX = 232
RESTART_ENV_MAX = RESPAWN_WORDS_MAX - 8
DEFAULT_RESTART = "no"


@dataclass(frozen=True)
class RestartSettings:
    """When and how the sidecar restarts a dead agent (see mosaic-hb --help).
    None: the sidecar's default."""

    policy: str = DEFAULT_RESTART  # one of RESTART_POLICIES
    command: str | None = None  # shell syntax; None: rerun the launch command
    delay_ms: int | None = None  # the first delay (default 1000), doubled up to 300 s
    slots: int | None = None  # restarts in flight per host (default 2)
    slot_hold_ms: int | None = None  # how long each keeps its slot (default 1000)

    @property
    def on(self) -> bool:
        return self.policy != "no"


@dataclass(frozen=True)
class LaunchSettings:
    """Everything ``launch_agent`` needs, validated."""

    name: str
    socket: str
    runtime: str
    workdir: Path  # absolute; may not exist yet (launch creates it)
    command: str  # shell syntax, as typed; see shellcmd
    path_prefix: tuple[str, ...]  # the candidate bin dirs that exist, in order, no duplicates
    pane_path: str  # the pane's whole PATH: path_prefix, then the base PATH
    env: tuple[tuple[str, str], ...]  # --env pairs, in order, one per key
    run_dir: Path  # absolute; may not exist yet (the sidecar creates it 0700)
    interval: float
    shell: str = shellcmd.SHELL  # runs the command: bash if on PATH, else /bin/sh
    hooks: bool = True  # give the agent's CLI mosaic's state hooks (see hooks.py)
    log_dir: Path | None = None  # absolute; the pane's output goes to LOG_DIR/NAME.log; None: not logged
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES  # the log is rotated at this size; 0: never
    restart: RestartSettings = RestartSettings()

    @property
    def hb_file(self) -> Path:
        return self.run_dir / f"{self.name}.hb"


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def lookup(var: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of VAR, None if unset; UsageError if set but empty."""
    value = _environ(environ).get(var)
    if value == "":
        raise UsageError(f"{var} is set but empty; unset it or give it a value")
    return value


def _pick(flag: str | None, option: str, var: str, environ) -> tuple[str | None, str]:
    """(value, where it came from) by precedence: flag, then variable."""
    if flag is not None:
        if flag == "":
            raise UsageError(f"{option} is empty")
        return flag, option
    return lookup(var, environ), var


def _home(environ) -> Path:
    home = _environ(environ).get("HOME")
    return Path(home) if home else Path.home()


def _abs_path(value: str, source: str, environ) -> Path:
    if _CONTROL.search(value):
        raise UsageError(f"{source}: path contains a control character: {show(value)}")
    if value == "~" or value.startswith("~/"):
        value = str(_home(environ)) + value[1:]
    try:
        return Path(os.path.abspath(value))
    except OSError as exc:  # a relative path, and the current directory was removed
        raise MosaicError(f"{source}: {show(value)} is relative and the current directory "
                          f"cannot be found: {exc.strerror or exc}") from None


def _check_creatable(path: Path, what: str) -> None:
    """PATH is a directory this user can enter, or could be made one: its
    nearest existing ancestor is a directory it can write to and enter.

    tmux falls back to another directory, silently, when it cannot enter a
    session's directory; an agent then edits the wrong tree. So a dangling
    symlink, a directory without search permission, or one that cannot be
    created is refused here, before anything is started."""
    if os.path.islink(path) and not path.exists():
        raise UsageError(f"{what} {path} is a symlink to nothing")
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{what} {path} exists and is not a directory")
        if not os.access(path, os.X_OK):
            raise UsageError(f"{what} {path} cannot be entered (no search permission)")
        return
    for parent in path.parents:
        if os.path.islink(parent) and not parent.exists():
            raise UsageError(f"{what} {path} cannot be created: {parent} is a symlink to nothing")
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{what} {path} cannot be created: {parent} is not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"{what} {path} cannot be created: {parent} is not writable")
            return


def _checked_name(value: str, what: str, source: str) -> str:
    """VALUE if it follows the one naming rule (agent and socket names alike)."""
    if not mosaic_hb.valid_agent_name(value):
        raise UsageError(f"invalid {what} {show(value)} (from {source}): it must match {mosaic_hb.AGENT_NAME_RULE}")
    return value


def resolve_name(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The agent name: NAME, then MOSAIC_AGENT_NAME; required."""
    if flag is not None:
        name, source = flag, "NAME"
    else:
        name, source = lookup(ENV_NAME, environ), ENV_NAME
    if name is None:
        raise UsageError(f"missing NAME: give the agent name as an argument or set {ENV_NAME}")
    return _checked_name(name, "agent name", source)


_NAME_GLOB = re.compile(r"[A-Za-z0-9_*?\[\]!-]+\Z")


def is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def resolve_patterns(names: Iterable[str]) -> list[str]:
    """NAMES, each an agent name or a glob of agent names (``web-*``);
    UsageError for the first that is neither."""
    names = list(names)
    for name in names:
        if not _NAME_GLOB.match(name) or (not is_glob(name) and not mosaic_hb.valid_agent_name(name)):
            raise UsageError(f"invalid agent name {show(name)}: it must match {mosaic_hb.AGENT_NAME_RULE} "
                             "(or be a glob of such names)")
    return names


def resolve_socket(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The tmux socket name (``tmux -L``): --socket, then MOSAIC_TMUX_SOCKET,
    then ``mosaic-factory``. Same character rule as agent names."""
    value, source = _pick(flag, "--socket", ENV_SOCKET, environ)
    return DEFAULT_SOCKET if value is None else _checked_name(value, "tmux socket name", source)


def resolve_runtime(flag: str | None = None, environ: Mapping[str, str] | None = None) -> Runtime:
    value, source = _pick(flag, "--runtime", ENV_RUNTIME, environ)
    if value is None:
        return RUNTIMES[DEFAULT_RUNTIME]
    if value not in RUNTIMES:
        choices = ", ".join(RUNTIMES)
        raise UsageError(f"unknown runtime {show(value)} (from {source}): choose one of {choices}")
    return RUNTIMES[value]


def resolve_interval(flag: str | float | None = None, environ: Mapping[str, str] | None = None) -> float:
    """Seconds between beats: --interval, then MOSAIC_HEARTBEAT_INTERVAL,
    then 15. A finite number from 0.05 to 86400."""
    if isinstance(flag, (int, float)) and not isinstance(flag, bool):
        flag = repr(flag)
    value, source = _pick(flag, "--interval", ENV_INTERVAL, environ)
    if value is None:
        return DEFAULT_INTERVAL
    try:
        return mosaic_hb.check_interval(value)
    except ValueError as exc:
        message = one_line(str(exc))
        if len(str(value)) > 40:  # the message quotes the value: one short line, whatever was given
            message = (f"invalid interval {show(str(value), 40)}: expected seconds from "
                       f"{mosaic_hb.INTERVAL_MIN:g} to {mosaic_hb.INTERVAL_MAX:g}")
        raise UsageError(f"{source}: {message}") from None


def resolve_run_dir(flag: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The heartbeat run dir: --run-dir, then MOSAIC_HEARTBEAT_RUN_DIR, then
    ~/.config/mosaic/fleet/run. Absolute; not created, not checked."""
    value, source = _pick(None if flag is None else os.fspath(flag), "--run-dir", ENV_RUN_DIR, environ)
    if value is None:
        return _home(environ) / RUN_DIR_UNDER_HOME
    return _abs_path(value, source, environ)


def check_run_dir(path: Path) -> None:
    """UsageError unless PATH is a safe run dir or could be created as one."""
    if path.exists() or path.is_symlink():
        try:
            mosaic_hb.check_run_dir(path, create=False)
        except OSError as exc:
            raise UsageError(f"run dir {path}: {exc.strerror or exc}") from None
    else:
        _check_creatable(path, "run dir")


def resolve_log_dir(flag: str | os.PathLike | None = None, run_dir: Path | None = None,
                    environ: Mapping[str, str] | None = None) -> Path:
    """Where the pane logs go: --log-dir, then MOSAIC_LOG_DIR, then ``logs``
    beside the run dir (RUN_DIR/../logs; RUN_DIR: resolve_run_dir's).
    Absolute; not created, not checked."""
    value, source = _pick(None if flag is None else os.fspath(flag), "--log-dir", ENV_LOG_DIR, environ)
    if value is None:
        runs = resolve_run_dir(None, environ) if run_dir is None else run_dir
        return runs.parent / LOG_DIR_BESIDE_RUN_DIR
    return _abs_path(value, source, environ)


def check_log_dir(path: Path) -> None:
    """UsageError unless PATH is a safe log dir (as a run dir: ours, not a
    symlink, not group- or world-writable) or could be created as one."""
    if path.exists() or path.is_symlink():
        try:
            mosaic_hb.check_run_dir(path, create=False)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).replace("run dir", "log dir")
            raise UsageError(f"log dir {path}: {reason}") from None
    else:
        _check_creatable(path, "log dir")


def resolve_log_max_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The size at which a pane log is rotated: MOSAIC_LOG_MAX_BYTES, else
    10 MB. 0 (never rotate), or at least 1024 bytes."""
    value = lookup(ENV_LOG_MAX_BYTES, environ)
    if value is None:
        return DEFAULT_LOG_MAX_BYTES
    text = value.strip()
    if not ascii_digits(text) or (0 < int(text) < LOG_MAX_BYTES_MIN) or len(text) > 18:
        raise UsageError(f"{ENV_LOG_MAX_BYTES}: invalid size {show(value, 40)}: "
                         f"expected 0 (no rotation) or a number of bytes from {LOG_MAX_BYTES_MIN}")
    return int(text)


def check_textfile_dir(environ: Mapping[str, str] | None = None) -> None:
    """UsageError for a MOSAIC_TEXTFILE_DIR the sidecar would refuse (set
    but empty, or not a directory). The sidecar reads it, not the launcher;
    checking it first means such a launch creates nothing, instead of a
    session whose sidecar cannot start."""
    value = lookup(ENV_TEXTFILE_DIR, environ)
    if value is not None and not os.path.isdir(value):
        raise UsageError(f"{ENV_TEXTFILE_DIR}: {show(value)} is not a directory")


def resolve_workdir(flag: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The session's directory: --workdir, then MOSAIC_AGENT_WORKDIR, then
    $HOME. Absolute; must be a directory or creatable (launch creates it)."""
    value, source = _pick(None if flag is None else os.fspath(flag), "--workdir", ENV_WORKDIR, environ)
    path = _home(environ) if value is None else _abs_path(value, source, environ)
    if _CONTROL.search(str(path)):
        raise UsageError(f"workdir contains a control character: {show(str(path))}")
    _check_creatable(path, "workdir")
    return path


def resolve_command(
    flag: str | None,
    runtime: Runtime,
    environ: Mapping[str, str] | None = None,
    sh: str = shellcmd.SHELL,
) -> str:
    """The agent's command line: --command, then MOSAIC_AGENT_COMMAND, then
    the runtime's own CLI. Shell syntax, checked with ``SH -n``."""
    value, source = _pick(flag, "--command", ENV_COMMAND, environ)
    if value is None:
        return runtime.command
    _check_command(value, source, sh)
    return value


def _check_command(value: str, source: str, sh: str) -> None:
    """A usage error unless VALUE (read from SOURCE) is a command line SH
    would run: not blank, no NUL, valid syntax (``SH -n``)."""
    if not value.strip():
        raise UsageError(f"{source} is blank")
    if "\0" in value:
        raise UsageError(f"{source} contains a NUL character")
    problem = shellcmd.syntax_error(value, sh)
    if problem is not None:
        raise UsageError(f"{source} is not valid shell syntax: {one_line(problem)}")


def resolve_restart_policy(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The restart policy: --restart, then MOSAIC_RESTART, then no."""
    value, source = _pick(flag, "--restart", ENV_RESTART, environ)
    if value is None:
        return DEFAULT_RESTART
    if value not in RESTART_POLICIES:
        raise UsageError(f"invalid restart policy {show(value)} (from {source}): "
                         f"choose one of {', '.join(RESTART_POLICIES)}")
    return value


def _restart_number(var: str, low: int, high: int, environ) -> int | None:
    value = lookup(var, environ)
    if value is None:
        return None
    if not ascii_digits(value) or not low <= int(value) <= high:
        raise UsageError(f"{var}: invalid {show(value, 40)}: expected a whole number from {low} to {high}")
    return int(value)


def resolve_restart(policy: str | None = None, command: str | None = None,
                    environ: Mapping[str, str] | None = None,
                    sh: str = shellcmd.SHELL) -> RestartSettings:
    """The restart settings: --restart and --restart-command (then
    MOSAIC_RESTART, MOSAIC_RESTART_COMMAND), and the timing variables."""
    chosen = resolve_restart_policy(policy, environ)
    value, source = _pick(command, "--restart-command", ENV_RESTART_COMMAND, environ)
    if value is not None:
        _check_command(value, source, sh)
    if command is not None and chosen == "no":  # a flag that would do nothing (the variable may be a default)
        raise UsageError("--restart-command needs a restart policy: --restart on-failure or always")
    return RestartSettings(
        policy=chosen,
        command=value,
        delay_ms=_restart_number(ENV_RESTART_DELAY_MS, 1, 86_400_000, environ),
        slots=_restart_number(ENV_RESTART_SLOTS, 1, 64, environ),
        slot_hold_ms=_restart_number(ENV_RESTART_SLOT_HOLD_MS, 0, 3_600_000, environ),
    )


def resolve_runtime_bin(
    flags: Iterable[str] = (),
    runtime: Runtime | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The candidate bin dirs, in order: the given ones (--runtime-bin, each
    colon-separated, else MOSAIC_RUNTIME_BIN), then RUNTIME's built-in ones
    under $HOME. Absolute, without duplicates; existence is not checked."""
    flags = list(flags)
    given: list[tuple[str, str]] = []
    if flags:
        for flag in flags:
            if flag == "":
                raise UsageError("--runtime-bin is empty")
            given += [(part, "--runtime-bin") for part in flag.split(":")]
    else:
        value = lookup(ENV_RUNTIME_BIN, environ)
        if value is not None:
            given += [(part, ENV_RUNTIME_BIN) for part in value.split(":")]
    candidates = [str(_abs_path(part, source, environ)) for part, source in given if part]
    if runtime is not None:
        home = _home(environ)
        candidates += [str(home / sub) for sub in runtime.bin_dirs]
    return tuple(dict.fromkeys(candidates))


def pane_path(prefix: Iterable[str], base: str) -> str:
    """PREFIX then the entries of BASE (a PATH value), each once, first
    occurrence kept; empty entries (meaning the current directory) dropped."""
    kept: list[str] = []
    seen: set[str] = set()
    for entry in [*prefix, *base.split(":")]:
        if not entry:
            continue
        normal = os.path.normpath(entry)
        if normal not in seen:
            seen.add(normal)
            kept.append(entry)
    return ":".join(kept)


def resolve_env(pairs: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """--env KEY=VALUE pairs, validated; a later KEY replaces an earlier one."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--env {show(pair)}: expected KEY=VALUE")
        if not _ENV_KEY.match(key):
            raise UsageError(f"--env {show(pair)}: KEY must match [A-Za-z_][A-Za-z0-9_]*")
        if key in TMUX_OWNED:
            raise UsageError(f"--env {key}: tmux sets {key} in every pane; it cannot be overridden")
        if any(c in value for c in "\n\r\0"):
            raise UsageError(f"--env {key}: the value contains a newline or NUL")
        result.pop(key, None)
        result[key] = value
    return tuple(result.items())


def resolve_launch(
    name: str | None = None,
    *,
    socket: str | None = None,
    runtime: str | None = None,
    workdir: str | os.PathLike | None = None,
    command: str | None = None,
    runtime_bin: Iterable[str] = (),
    run_dir: str | os.PathLike | None = None,
    interval: str | float | None = None,
    env: Iterable[str] = (),
    hooks: bool = True,
    log_dir: str | os.PathLike | None = None,
    restart: str | None = None,
    restart_command: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LaunchSettings:
    """Resolve and validate every setting of ``mosaic launch``.

    Arguments are the command-line values (None: not given). Raises
    UsageError for the first bad one; creates nothing.

    The pane's PATH is the existing candidate bin dirs, then the base PATH:
    the ``PATH`` of ``--env`` if given, else the launcher's. It is set
    explicitly in the pane, because a pane otherwise gets the environment of
    the tmux server (whoever started it, whenever), not the launcher's."""
    environ = _environ(environ)
    agent = resolve_name(name, environ)
    sock = resolve_socket(socket, environ)
    rt = resolve_runtime(runtime, environ)
    seconds = resolve_interval(interval, environ)
    env_pairs = resolve_env(env)
    directory = resolve_workdir(workdir, environ)
    runs = resolve_run_dir(run_dir, environ)
    check_run_dir(runs)
    logs = resolve_log_dir(log_dir, runs, environ)
    check_log_dir(logs)
    log_max_bytes = resolve_log_max_bytes(environ)
    check_textfile_dir(environ)
    sh = shellcmd.shell(environ.get("PATH", os.defpath))
    line = resolve_command(command, rt, environ, sh)
    restarts = resolve_restart(restart, restart_command, environ, sh)
    candidates = resolve_runtime_bin(runtime_bin, rt, environ)
    prefix = tuple(d for d in candidates if os.path.isdir(d))
    user_env = dict(env_pairs)
    base = user_env.pop("PATH", None) or environ.get("PATH") or os.defpath
    if restarts.command is not None and len(user_env) > RESTART_ENV_MAX:
        raise UsageError(f"a restart command takes at most {RESTART_ENV_MAX} --env values "
                         f"({len(user_env)} given): the sidecar's respawn has room for {RESPAWN_WORDS_MAX} words")
    return LaunchSettings(
        name=agent,
        socket=sock,
        runtime=rt.name,
        workdir=directory,
        command=line,
        path_prefix=prefix,
        pane_path=pane_path(prefix, base),
        env=tuple(user_env.items()),
        run_dir=runs,
        interval=seconds,
        shell=sh,
        hooks=bool(hooks),
        log_dir=logs,
        log_max_bytes=log_max_bytes,
        restart=restarts,
    )
