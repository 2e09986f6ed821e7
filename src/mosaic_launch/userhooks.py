"""``mosaic hooks install|uninstall|status``: mosaic's hooks in the user's
own CLI config, for agents whose command mosaic cannot rewrite (a wrapper
script, a compound command).

* claude: the ``hooks`` of ``~/.claude/settings.json`` (the same hooks as
  ``claude --settings`` gets per launch; https://code.claude.com/docs/en/hooks).
* codex: ``notify`` in ``~/.codex/config.toml``
  (https://github.com/openai/codex/blob/main/docs/config.md). Codex allows
  one notify program: a notify that is not mosaic's is refused, never replaced.
* pi: the shipped extension's path in the ``extensions`` array of
  ``~/.pi/agent/settings.json`` (https://github.com/badlogic/pi-mono/blob/main/packages/coding-agent/docs/extensions.md).

mosaic's entries are recognised by what they run: some installation's
``mosaic-hb state`` (hooks.is_mosaic_command), or for pi the extension file's
name. Install is idempotent (an up-to-date install writes nothing); uninstall
removes exactly mosaic's entries and what install created to hold them (a
list or table it left empty). Everything else is kept: JSON is written back
in the layout it was read in (its indent, its final newline), so a file in
the CLIs' own layout comes back byte for byte; config.toml is edited as text,
one line. Files are replaced atomically (a temporary file in the same
directory, then rename), keep their mode, and a symlink or a file that cannot
be parsed is refused with one line (ConfigError, exit 1).

The hook program is a silent no-op outside a mosaic pane, so a global
install does nothing for other sessions of the CLI.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from mosaic_launch import hooks, runfiles
from mosaic_launch.errors import MosaicError

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

FILE_MAX_BYTES = 4 << 20
CODEX_MARK = "# added by mosaic hooks install"


class ConfigError(MosaicError):
    """A config file mosaic will not edit (exit 1); nothing was written."""


@dataclass(frozen=True)
class Outcome:
    runtime: str
    path: Path
    changed: bool
    message: str


def config_path(runtime: str, home: Path | None = None) -> Path:
    home = Path(os.environ.get("HOME") or Path.home()) if home is None else home
    if runtime == hooks.CLAUDE:
        return home / ".claude" / "settings.json"
    if runtime == hooks.CODEX:
        return home / ".codex" / "config.toml"
    if runtime == hooks.PI:
        return home / ".pi" / "agent" / "settings.json"
    raise ValueError(runtime)


# -- files ------------------------------------------------------------------------------


def _read(path: Path) -> bytes | None:
    """PATH's bytes; None if it does not exist. Refuses a symlink, a
    non-file and a huge file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise ConfigError(f"{path} is a symlink; mosaic edits only a regular file (edit it by hand)")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} is not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > FILE_MAX_BYTES:
        raise ConfigError(f"{path}: larger than {FILE_MAX_BYTES >> 20} MiB")
    return data


def _write(path: Path, data: bytes, was: bytes | None) -> None:
    """Replace PATH with DATA atomically, keeping its mode (0600 if new).
    WAS is what PATH held when read (None: absent): a file changed since
    (the CLI saving its settings, another install) is refused, not
    overwritten with an edit of its old text."""
    if _read(path) != was:
        raise ConfigError(f"{path} changed while mosaic was editing it; nothing written: run the command again")
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        mode = 0o600
    for parent in path.parents:  # mkdir would say only "File exists"
        if os.path.islink(parent) and not parent.exists():
            raise ConfigError(f"{path}: cannot write: {parent} is a symlink to nothing")
        if parent.exists():
            break
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The directory may be a symlink (dotfiles managers link ~/.claude): its real path.
        runfiles.replace(path.parent.resolve(), path.name, data, mode=mode, fsync=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


# -- JSON (claude, pi) ------------------------------------------------------------------


@dataclass(frozen=True)
class _JsonLayout:
    indent: int | str | None
    newline: bool


def _load_json(path: Path) -> tuple[dict, _JsonLayout | None, bytes | None]:
    """PATH's document, its layout and its bytes (None: no file)."""
    data = _read(path)
    if data is None:
        return {}, None, None
    try:
        text = data.decode("utf-8")
        document = (json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
                    if text.strip() else {})
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; mosaic will not edit it") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); mosaic will not edit it") from None
    except _NotJsonNumber as exc:
        raise ConfigError(f"{path}: {exc} is not a JSON number mosaic can write back; "
                          "mosaic will not edit it") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply; mosaic will not edit it") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: not a JSON object; mosaic will not edit it")
    return document, _layout(text), data


class _NotJsonNumber(ValueError):
    pass


# Python's json reads NaN and Infinity (not JSON) and turns 1e400 into
# inf; it would write all three back as NaN/Infinity, which no CLI parses.
def _refuse_constant(name: str) -> float:
    raise _NotJsonNumber(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise _NotJsonNumber(text[:20])
    return value


def _layout(text: str) -> _JsonLayout:
    indent: int | str | None = None
    found = re.search(r"\n([ \t]+)\S", text)
    if found:
        white = found.group(1)
        indent = white if "\t" in white else len(white)
    elif "\n" in text.strip():
        indent = 0
    return _JsonLayout(indent=indent, newline=text.endswith("\n"))


def _dump_json(document: dict, layout: _JsonLayout | None) -> bytes:
    layout = layout or _JsonLayout(indent=2, newline=True)  # how the CLIs write theirs
    if layout.indent is None:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    else:
        text = json.dumps(document, indent=layout.indent, ensure_ascii=False, allow_nan=False)
    return (text + ("\n" if layout.newline else "")).encode("utf-8")


# -- claude -----------------------------------------------------------------------------


def _claude_entries(document: dict, path: Path) -> list[tuple[str, str | None, str]]:
    """mosaic's hook entries in a settings document: (event, matcher, command)."""
    table = document.get("hooks", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: \"hooks\" is not a JSON object; mosaic will not edit it")
    found = []
    for event, groups in table.items():
        if not isinstance(groups, list):
            continue
        for group in groups:
            if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                continue
            for entry in group["hooks"]:
                if (isinstance(entry, dict) and isinstance(entry.get("command"), str)
                        and hooks.is_mosaic_command(entry["command"])):
                    found.append((event, group.get("matcher"), entry["command"]))
    return found


def _claude_wanted(hb: str) -> list[tuple[str, str | None, str]]:
    return [(hook.event, hook.matcher, hook.command(hb)) for hook in hooks.CLAUDE_HOOKS]


def _claude_remove(document: dict) -> None:
    table = document.get("hooks")
    if not isinstance(table, dict):
        return
    for event in list(table):
        groups = table[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                kept = [e for e in group["hooks"] if not (
                    isinstance(e, dict) and isinstance(e.get("command"), str)
                    and hooks.is_mosaic_command(e["command"]))]
                if len(kept) != len(group["hooks"]):
                    if not kept:
                        continue  # the group held only mosaic's hooks
                    group["hooks"] = kept
            kept_groups.append(group)
        if kept_groups:
            table[event] = kept_groups
        else:
            del table[event]
    if not table:
        del document["hooks"]


def _claude_add(document: dict, hb: str) -> None:
    table = document.setdefault("hooks", {})
    for event, groups in hooks.claude_hooks(hb).items():
        table.setdefault(event, []).extend(groups)


# -- pi ---------------------------------------------------------------------------------


def _pi_entries(document: dict, path: Path) -> list[str]:
    extensions = document.get("extensions", [])
    if not isinstance(extensions, list):
        raise ConfigError(f"{path}: \"extensions\" is not a JSON array; mosaic will not edit it")
    return [e for e in extensions if isinstance(e, str) and os.path.basename(e) == hooks.PI_EXTENSION_NAME]


def _pi_remove(document: dict) -> None:
    extensions = document.get("extensions")
    if not isinstance(extensions, list):
        return
    kept = [e for e in extensions if not (isinstance(e, str) and os.path.basename(e) == hooks.PI_EXTENSION_NAME)]
    if kept:
        document["extensions"] = kept
    else:
        del document["extensions"]


# -- codex ------------------------------------------------------------------------------


def _codex_read(path: Path) -> tuple[str | None, dict]:
    data = _read(path)
    if data is None:
        return None, {}
    try:
        text = data.decode("utf-8")
        return text, tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; mosaic will not edit it") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid TOML ({problem}); mosaic will not edit it") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply; mosaic will not edit it") from None


def _codex_line(hb: str) -> str:
    return f"notify = {hooks.toml_string_array(hooks.codex_notify(hb))}  {CODEX_MARK}\n"


_CODEX_OUR_LINE = re.compile(r"^notify = \[.*\]  " + re.escape(CODEX_MARK) + r"\n", re.M)


# -- the commands -----------------------------------------------------------------------


def install(runtime: str, hb: str | None = None, home: Path | None = None) -> Outcome:
    hb = hooks.hb_path() if hb is None else hb
    path = config_path(runtime, home)
    if runtime == hooks.CODEX:
        return _codex_install(path, hb)
    document, layout, was = _load_json(path)
    if runtime == hooks.CLAUDE:
        if sorted(_claude_entries(document, path), key=repr) == sorted(_claude_wanted(hb), key=repr):
            return Outcome(runtime, path, False, f"claude: mosaic's hooks are already in {path}")
        _claude_remove(document)
        _claude_add(document, hb)
        _write(path, _dump_json(document, layout), was)
        return Outcome(runtime, path, True, f"claude: added mosaic's hooks to {path}")
    extension = os.path.join(os.path.dirname(hb), hooks.PI_EXTENSION_NAME)
    if _pi_entries(document, path) == [extension]:
        return Outcome(runtime, path, False, f"pi: mosaic's extension is already in {path}")
    _pi_remove(document)
    document.setdefault("extensions", []).append(extension)
    _write(path, _dump_json(document, layout), was)
    return Outcome(runtime, path, True, f"pi: added mosaic's extension to {path}")


def _codex_install(path: Path, hb: str) -> Outcome:
    text, document = _codex_read(path)
    notify = document.get("notify")
    line = _codex_line(hb)
    if notify is not None and not hooks.is_mosaic_argv(notify if isinstance(notify, list) else []):
        raise ConfigError(f"{path} already has a notify program that is not mosaic's; "
                          "codex takes one: mosaic will not replace it")
    if notify == hooks.codex_notify(hb):
        return Outcome(hooks.CODEX, path, False, f"codex: mosaic's notify is already in {path}")
    if notify is not None:  # mosaic's, from another installation
        if not _CODEX_OUR_LINE.search(text or ""):
            raise ConfigError(f"{path}: its notify runs mosaic-hb but was not written by mosaic hooks "
                              "install; edit it by hand")
        new = _CODEX_OUR_LINE.sub(lambda _: line, text, count=1)
    else:
        # At the very top: a key before any [table] header is a top-level key.
        new = line + (text or "")
    _check_codex(path, new, hb)
    _write(path, new.encode("utf-8"), None if text is None else text.encode("utf-8"))
    return Outcome(hooks.CODEX, path, True, f"codex: added mosaic's notify to {path}")


def _check_codex(path: Path, text: str, hb: str | None) -> None:
    """The edited text still parses, with the notify wanted (None: none)."""
    try:
        notify = tomllib.loads(text).get("notify")
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        raise ConfigError(f"{path}: editing it would break it; edit it by hand") from None
    if notify != (None if hb is None else hooks.codex_notify(hb)):
        raise ConfigError(f"{path}: editing it would not give the notify wanted; edit it by hand")


def uninstall(runtime: str, home: Path | None = None) -> Outcome:
    path = config_path(runtime, home)
    if runtime == hooks.CODEX:
        text, document = _codex_read(path)
        notify = document.get("notify")
        if not (isinstance(notify, list) and hooks.is_mosaic_argv(notify)):
            return Outcome(runtime, path, False, f"codex: no mosaic notify in {path}")
        if not _CODEX_OUR_LINE.search(text):
            raise ConfigError(f"{path}: its notify runs mosaic-hb but was not written by mosaic hooks "
                              "install; edit it by hand")
        new = _CODEX_OUR_LINE.sub("", text, count=1)
        _check_codex(path, new, None)
        _write(path, new.encode("utf-8"), None if text is None else text.encode("utf-8"))
        return Outcome(runtime, path, True, f"codex: removed mosaic's notify from {path}")
    document, layout, was = _load_json(path)
    if runtime == hooks.CLAUDE:
        if not _claude_entries(document, path):
            return Outcome(runtime, path, False, f"claude: no mosaic hooks in {path}")
        _claude_remove(document)
        what = "hooks"
    else:
        if not _pi_entries(document, path):
            return Outcome(runtime, path, False, f"pi: no mosaic extension in {path}")
        _pi_remove(document)
        what = "extension"
    _write(path, _dump_json(document, layout), was)
    return Outcome(runtime, path, True, f"{runtime}: removed mosaic's {what} from {path}")


def status(runtime: str, hb: str | None = None, home: Path | None = None) -> str:
    """One line: what of mosaic's is installed in RUNTIME's config."""
    hb = hooks.hb_path() if hb is None else hb
    path = config_path(runtime, home)
    if runtime == hooks.CODEX:
        _, document = _codex_read(path)
        notify = document.get("notify")
        if not (isinstance(notify, list) and hooks.is_mosaic_argv(notify)):
            other = " (its notify is another program)" if notify is not None else ""
            return f"codex: not installed in {path}{other}"
        where = "this installation" if notify == hooks.codex_notify(hb) else f"another installation ({notify[0]})"
        return f"codex: installed in {path}: notify runs mosaic-hb of {where}"
    document, _, _ = _load_json(path)
    if runtime == hooks.CLAUDE:
        found = _claude_entries(document, path)
        if not found:
            return f"claude: not installed in {path}"
        events = ", ".join(dict.fromkeys(event for event, _, _ in found))
        current = sorted(found, key=repr) == sorted(_claude_wanted(hb), key=repr)
        state = "up to date" if current else "not this installation's, or incomplete: run mosaic hooks install claude"
        return f"claude: installed in {path} ({len(found)} hooks: {events}); {state}"
    found = _pi_entries(document, path)
    if not found:
        return f"pi: not installed in {path}"
    extension = os.path.join(os.path.dirname(hb), hooks.PI_EXTENSION_NAME)
    state = "up to date" if found == [extension] else f"not this installation's ({found[0]})"
    return f"pi: installed in {path}: {found[0]}; {state}"
