"""The fleet file: which agents a host runs, for ``mosaic fleet up/down``.

TOML, default ``~/.config/mosaic/fleet.toml``::

    socket = "mosaic-factory"          # optional: defaults for the whole file
    run_dir = "~/.config/mosaic/fleet/run"
    interval = 15
    hooks = true                       # false: no state hooks for any agent (like --no-hooks)
    restart = "on-failure"             # no (default), on-failure or always (like --restart)

    [[agent]]
    name = "alpha"                     # required
    runtime = "claude"
    workdir = "~/src/alpha"
    command = "claude --continue"
    env = { ANTHROPIC_LOG = "info" }
    runtime_bin = ["~/.local/bin"]
    hooks = false                      # this agent only; wins over the top-level key
    restart = "always"                 # this agent only; wins over the top-level key
    restart_command = "claude --continue"  # what a restart runs (like --restart-command)

Top-level keys: ``socket``, ``run_dir``, ``interval``, ``hooks``, ``restart`` and the
``agent`` array. Agent keys: ``name`` (required), ``runtime``, ``workdir``,
``command``, ``env`` (a table of strings), ``runtime_bin`` (a list of
strings), ``hooks`` (a boolean; default true), ``restart`` and
``restart_command``. Any
other key is an error, so that a typo never passes silently and hosts can
share files. Relative paths (``workdir``, ``run_dir``, ``runtime_bin``) are
relative to the file's directory; ``~`` is the home directory.

Each agent's settings resolve as: the agent's table, then the file's
top-level keys, then the ``MOSAIC_*`` variables, then the defaults: the same
``settings.resolve_launch`` as ``mosaic launch``, with the file's values in place
of the command-line flags.

Every problem is a ``FleetFileError`` (a ``UsageError``, exit 2) whose
message is ``FILE:LINE: problem``; the line of a schema error is found by
scanning the text (best effort: the table or key the problem is about).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mosaic_hb

from mosaic_launch import settings
from mosaic_launch.errors import UsageError, one_line, show

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

FLEET_FILE_UNDER_HOME = Path(".config", "mosaic", "fleet.toml")
FILE_MAX_BYTES = 1 << 20

TOP_KEYS = ("socket", "run_dir", "interval", "hooks", "restart", "agent")
AGENT_KEYS = ("name", "runtime", "workdir", "command", "env", "runtime_bin", "hooks", "restart",
              "restart_command")

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")
_LONG_NUMBER = re.compile(r"[0-9_]{4000,}")
_TABLE_HEADER = re.compile(r"\s*\[")
_AGENT_HEADER = re.compile(r"""\s*\[\[\s*(agent|"agent"|'agent')\s*\]\]""")
# Flags in settings.py's messages, and the fleet-file keys they come from.
_FLAG_KEYS = {
    "--socket": "socket", "--run-dir": "run_dir", "--interval": "interval", "--runtime-bin": "runtime_bin",
    "--runtime": "runtime", "--workdir": "workdir", "--command": "command", "--env": "env",
    "--restart-command": "restart_command", "--restart": "restart",
}
_TOP_LEVEL_SETTINGS = ("socket", "run_dir", "interval")


class FleetFileError(UsageError):
    """A fleet file that cannot be used; nothing was launched or stopped."""


def default_path() -> Path:
    return Path.home() / FLEET_FILE_UNDER_HOME


@dataclass(frozen=True)
class FleetAgent:
    name: str
    line: int  # of its [[agent]] header (best effort; 0 if not found)
    runtime: str | None = None
    workdir: str | None = None
    command: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    runtime_bin: tuple[str, ...] = ()
    hooks: bool | None = None  # None: the file's top-level key, else true
    restart: str | None = None  # None: the file's top-level key, else MOSAIC_RESTART, else no
    restart_command: str | None = None


@dataclass(frozen=True)
class FleetFile:
    path: Path
    text: str
    socket: str | None
    run_dir: str | None
    interval: float | None
    agents: tuple[FleetAgent, ...]
    hooks: bool | None = None
    restart: str | None = None

    # -- positions ---------------------------------------------------------

    def _error(self, line: int, problem: str) -> FleetFileError:
        return FleetFileError(f"{self.path}:{line or 1}: {problem}")

    def top_key_line(self, key: str) -> int:
        return _top_key_line(self.text, key)

    def agent_key_line(self, agent: FleetAgent, key: str) -> int:
        index = self.agents.index(agent)
        return _agent_key_line(self.text, index, key) or agent.line

    # -- resolution --------------------------------------------------------

    def _file_path(self, value: str | None) -> str | None:
        """A path from the file: relative to the file's directory."""
        if value is None or value == "" or value.startswith("~") or os.path.isabs(value):
            return value
        return str(self.path.parent / value)

    def _setting_error(self, key: str, exc: UsageError) -> UsageError:
        """EXC from resolving top-level KEY: FILE:LINE if the file set it;
        as it is if it came from a MOSAIC_* variable."""
        if getattr(self, key) is None:
            return exc
        return self._error(self.top_key_line(key), _file_words(str(exc)))

    def resolve_socket(self, environ: Mapping[str, str] | None = None) -> str:
        try:
            return settings.resolve_socket(self.socket, environ)
        except UsageError as exc:
            raise self._setting_error("socket", exc) from None

    def resolve_run_dir(self, environ: Mapping[str, str] | None = None) -> Path:
        try:
            return settings.resolve_run_dir(self._file_path(self.run_dir), environ)
        except UsageError as exc:
            raise self._setting_error("run_dir", exc) from None

    def launch_settings(self, environ: Mapping[str, str] | None = None) -> list:
        """Every agent's ``settings.LaunchSettings``, all resolved and validated
        before any is returned: one bad agent, and none is launched."""
        # The file-wide settings first, so that their errors name their line once.
        self.resolve_socket(environ)
        runs = self.resolve_run_dir(environ)
        try:
            settings.check_run_dir(runs)
        except UsageError as exc:
            raise self._setting_error("run_dir", exc) from None
        try:
            settings.resolve_interval(self.interval, environ)
        except UsageError as exc:
            raise self._setting_error("interval", exc) from None

        resolved = []
        for agent in self.agents:
            bins = []
            for entry in agent.runtime_bin:
                bins.append(":".join(self._file_path(part) or "" for part in entry.split(":")))
            try:
                resolved.append(settings.resolve_launch(
                    agent.name,
                    socket=self.socket,
                    runtime=agent.runtime,
                    workdir=self._file_path(agent.workdir),
                    command=agent.command,
                    runtime_bin=bins,
                    run_dir=self._file_path(self.run_dir),
                    interval=self.interval,
                    env=[f"{key}={value}" for key, value in agent.env],
                    hooks=_first_set(agent.hooks, self.hooks, True),
                    restart=agent.restart if agent.restart is not None else self.restart,
                    restart_command=agent.restart_command,
                    environ=environ,
                ))
            except UsageError as exc:
                if "MOSAIC_" in str(exc):  # a variable's fault, not the file's
                    raise
                raise self._error(self._line_for(agent, str(exc)),
                                  f"agent {agent.name}: {_file_words(str(exc))}") from None
        return resolved

    def _line_for(self, agent: FleetAgent, message: str) -> int:
        """The line of the key a resolution error is about (best effort)."""
        for flag, key in _FLAG_KEYS.items():
            if re.search(re.escape(flag) + r"(?![\w-])", message):
                if key == "restart" and agent.restart is None and self.restart is not None:
                    return self.top_key_line(key)
                if key in _TOP_LEVEL_SETTINGS:
                    return self.top_key_line(key) if getattr(self, key) is not None else agent.line
                return self.agent_key_line(agent, key)
        if message.startswith("workdir ") and agent.workdir is not None:
            return self.agent_key_line(agent, "workdir")
        return agent.line


def _first_set(*values):
    return next(value for value in values if value is not None)


def _file_words(message: str) -> str:
    """settings.py's message with its flags named as fleet-file keys."""
    for flag, key in _FLAG_KEYS.items():
        message = re.sub(re.escape(flag) + r"(?![\w-])", key, message)
    return " ".join(message.split())


# -- scanning the text for lines ------------------------------------------------


def _key_pattern(key: str) -> re.Pattern:
    quoted = re.escape(key)
    return re.compile(rf"""\s*(?:{quoted}|"{quoted}"|'{quoted}')\s*[=.]""")


def _top_key_line(text: str, key: str) -> int:
    """The line of top-level KEY (before the first table header); 0 if not found."""
    pattern = _key_pattern(key)
    for number, line in enumerate(text.splitlines(), start=1):
        if _TABLE_HEADER.match(line):
            break
        if pattern.match(line):
            return number
    if key == "agent":
        for number, line in enumerate(text.splitlines(), start=1):
            if _AGENT_HEADER.match(line):
                return number
    return 0


def _agent_header_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1) if _AGENT_HEADER.match(line)]


def _agent_key_line(text: str, index: int, key: str | None = None) -> int:
    """The line of the INDEXth [[agent]] header, or of KEY inside that table;
    0 if not found (e.g. agents written as an inline array)."""
    headers = _agent_header_lines(text)
    if index >= len(headers):
        return 0
    start = headers[index]
    if key is None:
        return start
    pattern = _key_pattern(key)
    lines = text.splitlines()
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if re.match(rf"\s*\[\s*agent\s*\.\s*{re.escape(key)}\s*[].]", line):
            return number  # [agent.env]
        if _TABLE_HEADER.match(line) and not re.match(r"\s*\[\s*agent\s*\.", line):
            break
        if pattern.match(line):
            return number
    return start


# -- loading -----------------------------------------------------------------------


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def load(path: str | os.PathLike) -> FleetFile:
    """Read and validate the fleet file at PATH; raises FleetFileError."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        raise FleetFileError(f"{path}: no such fleet file") from None
    except IsADirectoryError:
        raise FleetFileError(f"{path}: is a directory, not a fleet file") from None
    except OSError as exc:
        raise FleetFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > FILE_MAX_BYTES:
        raise FleetFileError(f"{path}: larger than {FILE_MAX_BYTES // 1024} KiB; not a fleet file")
    return parse(data, path)


def parse(data: bytes, path: str | os.PathLike = "fleet.toml") -> FleetFile:
    """Validate fleet-file DATA (bytes of PATH, for messages)."""
    path = Path(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FleetFileError(f"{path}:{line}: not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = one_line(exc) or "invalid TOML"
        found = _TOML_POSITION.search(message)
        if found:
            line, column = found.groups()
            problem = _TOML_POSITION.sub("", message)
            raise FleetFileError(f"{path}:{line}: {problem} (column {column})") from None
        if isinstance(getattr(exc, "lineno", None), int):  # tomli >= 2.1 keeps the position
            problem = one_line(getattr(exc, "msg", "") or message)
            raise FleetFileError(f"{path}:{exc.lineno}: {problem}") from None
        line = text.count("\n") + 1
        raise FleetFileError(f"{path}:{line}: {_TOML_END.sub('', message)} (at end of file)") from None
    except ValueError:
        # Past 4300 digits Python refuses to convert an integer, and the
        # TOML reader lets that ValueError through as it is.
        found = _LONG_NUMBER.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else 1
        raise FleetFileError(f"{path}:{line}: a number too long to be a TOML integer") from None
    return _validate(document, text, path)


def _validate(document: dict, text: str, path: Path) -> FleetFile:
    def fail(line: int, problem: str) -> FleetFileError:
        return FleetFileError(f"{path}:{line or 1}: {problem}")

    for key in document:
        if key not in TOP_KEYS:
            raise fail(_top_key_line(text, key),
                       f"unknown key {key!r} (top-level keys: {', '.join(TOP_KEYS)})")

    def top_string(key: str) -> str | None:
        value = document.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(_top_key_line(text, key), f"{key} must be a string, not {_type_name(value)}")
        return value

    socket = top_string("socket")
    run_dir = top_string("run_dir")
    interval = document.get("interval")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise fail(_top_key_line(text, "interval"),
                       f"interval must be a number of seconds, not {_type_name(interval)}")
        try:  # TOML integers are 64-bit, but the reader takes any length
            interval = float(interval)
        except OverflowError:
            interval = math.inf
        if not math.isfinite(interval):
            raise fail(_top_key_line(text, "interval"), "interval must be a finite number of seconds")

    hooks = document.get("hooks")
    if hooks is not None and not isinstance(hooks, bool):
        raise fail(_top_key_line(text, "hooks"), f"hooks must be true or false, not {_type_name(hooks)}")

    restart = top_string("restart")

    tables = document.get("agent", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise fail(_top_key_line(text, "agent"), "agent must be an array of tables ([[agent]])")

    agents: list[FleetAgent] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        header = _agent_key_line(text, index)

        def key_line(key: str) -> int:
            return _agent_key_line(text, index, key) or header

        for key in table:
            if key not in AGENT_KEYS:
                raise fail(key_line(key), f"agent #{index + 1}: unknown key {key!r} "
                                          f"(agent keys: {', '.join(AGENT_KEYS)})")
        if "name" not in table:
            raise fail(header, f"agent #{index + 1}: missing required key 'name'")
        name = table["name"]
        if not isinstance(name, str):
            raise fail(key_line("name"), f"agent #{index + 1}: name must be a string, not {_type_name(name)}")
        if not mosaic_hb.valid_agent_name(name):
            raise fail(key_line("name"), f"invalid agent name {show(name)}: it must match {mosaic_hb.AGENT_NAME_RULE}")
        if name in seen:
            raise fail(key_line("name"), f"duplicate agent name {name!r} (first at line {seen[name]})")
        seen[name] = key_line("name")

        def string(key: str) -> str | None:
            value = table.get(key)
            if value is not None and not isinstance(value, str):
                raise fail(key_line(key), f"agent {name}: {key} must be a string, not {_type_name(value)}")
            return value

        runtime, workdir, command = string("runtime"), string("workdir"), string("command")
        agent_restart, restart_command = string("restart"), string("restart_command")
        env_table = table.get("env", {})
        if not isinstance(env_table, dict):
            raise fail(key_line("env"), f"agent {name}: env must be a table of strings, not {_type_name(env_table)}")
        for key, value in env_table.items():
            if not isinstance(value, str):
                raise fail(key_line("env"),
                           f"agent {name}: env.{key} must be a string, not {_type_name(value)}")
        bins = table.get("runtime_bin", [])
        if not isinstance(bins, list):
            raise fail(key_line("runtime_bin"),
                       f"agent {name}: runtime_bin must be an array of strings, not {_type_name(bins)}")
        for entry in bins:
            if not isinstance(entry, str):
                raise fail(key_line("runtime_bin"),
                           f"agent {name}: runtime_bin entries must be strings, not {_type_name(entry)}")
        agent_hooks = table.get("hooks")
        if agent_hooks is not None and not isinstance(agent_hooks, bool):
            raise fail(key_line("hooks"),
                       f"agent {name}: hooks must be true or false, not {_type_name(agent_hooks)}")
        agents.append(FleetAgent(
            name=name, line=header, runtime=runtime, workdir=workdir, command=command,
            env=tuple(env_table.items()), runtime_bin=tuple(bins), hooks=agent_hooks,
            restart=agent_restart, restart_command=restart_command,
        ))
    return FleetFile(path=path, text=text, socket=socket, run_dir=run_dir, interval=interval,
                     agents=tuple(agents), hooks=hooks, restart=restart)
