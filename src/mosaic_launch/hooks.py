"""What each agent CLI gets so that it reports its state to mosaic.

The CLIs have hooks; mosaic's hook program is this installation's
``mosaic-hb``, called as ``mosaic-hb state STATE [--for WHAT]`` (it takes the
agent and the run dir from the pane's environment, and is a silent no-op
outside a mosaic pane). This module says, for each runtime, which hook runs
at which event, in two forms:

* per launch (``launch_command``): extra arguments inserted right after the
  program word of the agent's command, when that program is the runtime's own
  CLI. The user's config files are never written.
* in the user's own config, for commands mosaic cannot rewrite such as
  wrapper scripts: ``hooks_config`` does that (``mosaic hooks install``).

The CLIs' contracts, as documented:

* Claude Code: ``claude --settings <file-or-json>`` merges settings for one
  session (https://code.claude.com/docs/en/cli-reference); settings'
  ``hooks`` map an event to matcher groups, each with ``{"type": "command",
  "command": ...}`` entries run by a shell, with the event as JSON on stdin
  (``hook_event_name``, ``session_id``, ``cwd``, ...). The ``Notification``
  matcher is the notification type (``permission_prompt``,
  ``elicitation_dialog``, ``idle_prompt``); ``PreToolUse`` and
  ``PermissionRequest`` match the tool name
  (https://code.claude.com/docs/en/hooks).
* Codex CLI: ``notify = [argv...]`` in config.toml, or ``-c notify=[...]``
  for one launch (the value is TOML), runs the program with one JSON argument
  on ``agent-turn-complete`` only
  (https://github.com/openai/codex/blob/main/docs/config.md). Codex's own
  hooks (UserPromptSubmit, PreToolUse, PermissionRequest, Stop, ...) are
  not injected. Codex does read inline ``[hooks]`` tables from every config
  layer, the ``-c`` session flags among them, but since hooks went GA (May
  2026) it runs a hook from a layer that is not admin-managed only once the
  user has reviewed and trusted it (a hash kept in the user's config), or
  under ``--dangerously-bypass-hook-trust``, which would also run every
  untrusted hook of the project (https://developers.openai.com/codex/hooks;
  codex-rs/hooks/src/engine/discovery.rs: the session-flags layer is
  ``HookSource::SessionFlags``, not managed, so an untrusted hook is listed
  and skipped). A per-launch hook would be skipped on every launch, and
  mosaic will not hand out that flag. So per launch codex reports ``idle``
  at the end of each turn, and the pane fallback does the rest.
* pi: TypeScript extensions loaded with ``pi -e FILE``, or listed in the
  ``extensions`` array of ``~/.pi/agent/settings.json``
  (https://github.com/badlogic/pi-mono/blob/main/packages/coding-agent/docs/extensions.md).
  mosaic ships one next to mosaic-hb (``mosaic_state.pi.ts``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass

from mosaic_launch import shellcmd

CLAUDE, CODEX, PI = "claude", "codex", "pi"
RUNTIMES = (CLAUDE, CODEX, PI)
PI_EXTENSION_NAME = "mosaic_state.pi.ts"
HB_NAME = "mosaic-hb"

# A command word mosaic can read without a shell: no quotes, no expansions
# but a leading ~, no redirection glued to it.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./~+@%:,=-]+\Z")


@dataclass(frozen=True)
class Hook:
    """One hook: at EVENT (with MATCHER, None: the event has none), report STATE."""

    event: str
    matcher: str | None
    state: str
    waiting_for: str | None = None

    def argv(self, hb: str) -> list[str]:
        words = [hb, "state", self.state]
        if self.waiting_for is not None:
            words += ["--for", self.waiting_for]
        return words

    def command(self, hb: str) -> str:
        """The hook as a shell command line (Claude runs hooks with a shell)."""
        return shlex.join(self.argv(hb))


# Claude Code. SessionStart: the CLI is up and waits for a prompt, so
# starting ends there (idle). SessionEnd is not hooked: the agent's exit is
# what the heartbeat reports. No hook fires on an Esc interrupt; the pane
# fallback covers it.
CLAUDE_HOOKS = (
    Hook("SessionStart", None, "idle"),
    Hook("UserPromptSubmit", None, "working"),
    Hook("PreToolUse", "*", "working"),
    Hook("Notification", "permission_prompt", "waiting", "permission"),
    Hook("Notification", "elicitation_dialog", "waiting", "question"),
    Hook("PermissionRequest", "*", "waiting", "permission"),
    Hook("Stop", None, "idle"),
    Hook("StopFailure", None, "idle"),
)


def hb_path() -> str:
    """The absolute path of this installation's mosaic-hb."""
    import mosaic_hb  # here: `mosaic --help` must not load the C extension

    return mosaic_hb.sidecar_path()


def pi_extension_path() -> str:
    """The pi extension shipped with this installation (next to mosaic-hb,
    which it finds by its own location)."""
    return os.path.join(os.path.dirname(hb_path()), PI_EXTENSION_NAME)


def claude_hooks(hb: str) -> dict:
    """The ``hooks`` value of Claude Code settings that reports states."""
    hooks: dict[str, list] = {}
    for hook in CLAUDE_HOOKS:
        group: dict = {}
        if hook.matcher is not None:
            group["matcher"] = hook.matcher
        group["hooks"] = [{"type": "command", "command": hook.command(hb)}]
        hooks.setdefault(hook.event, []).append(group)
    return hooks


def claude_settings_json(hb: str) -> str:
    """The JSON given to ``claude --settings``."""
    return json.dumps({"hooks": claude_hooks(hb)}, separators=(",", ":"), ensure_ascii=False)


def codex_notify(hb: str) -> list[str]:
    """The ``notify`` argv for Codex (it appends its JSON argument)."""
    return [hb, "state", "idle"]


def toml_string_array(words: list[str]) -> str:
    """WORDS as a TOML array of basic strings. JSON's string escapes
    (\\" \\\\ \\n \\uXXXX ...) are all valid TOML basic-string escapes."""
    return "[" + ",".join(json.dumps(word, ensure_ascii=True) for word in words) + "]"


def launch_args(runtime: str, hb: str | None = None) -> list[str]:
    """The arguments inserted after RUNTIME's program word, per launch."""
    hb = hb_path() if hb is None else hb
    if runtime == CLAUDE:
        return ["--settings", claude_settings_json(hb)]
    if runtime == CODEX:
        return ["-c", "notify=" + toml_string_array(codex_notify(hb))]
    if runtime == PI:
        return ["-e", os.path.join(os.path.dirname(hb), PI_EXTENSION_NAME)]
    raise ValueError(f"no hooks for runtime {runtime!r}")


def program_runtime(command: str) -> tuple[str, int] | None:
    """(runtime, end of the program word) when COMMAND is one simple command
    whose program is a CLI mosaic has hooks for (its basename is claude,
    codex or pi); else None. A program word with quotes, expansions or
    anything mosaic cannot read for certain without a shell is not one."""
    span = shellcmd.command_word(command)
    if span is None:
        return None
    word = command[span[0]:span[1]]
    if not _PLAIN_WORD.match(word):
        return None
    name = os.path.basename(word)
    if name not in RUNTIMES:
        return None
    return name, span[1]


def launch_command(command: str, hb: str | None = None) -> str:
    """COMMAND with the hooks of its CLI inserted after its program word,
    each argument shell-quoted; COMMAND itself, unchanged, when its program
    is not a CLI mosaic has hooks for. The user's words are kept exactly:
    the insertion is the only change."""
    found = program_runtime(command)
    if found is None:
        return command
    runtime, end = found
    return command[:end] + " " + shlex.join(launch_args(runtime, hb)) + command[end:]


def is_mosaic_command(command: str) -> bool:
    """COMMAND (a shell command line) runs some installation's
    ``mosaic-hb state``: how mosaic recognises its own hook entries."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    # Exactly the line mosaic writes (shlex.join): a user's own command that
    # runs mosaic-hb state and then more (; && | $(...)) is the user's.
    return is_mosaic_argv(words) and shlex.join(words) == command


# What mosaic's own hooks say after "mosaic-hb state".
_MOSAIC_STATE_ARGS = {(h.state,) if h.waiting_for is None else (h.state, "--for", h.waiting_for)
                      for h in CLAUDE_HOOKS} | {("idle",), ("working",)}


def is_mosaic_argv(words: list) -> bool:
    """WORDS are one of mosaic's own hook commands, word for word (any
    installation's mosaic-hb); a user's command with other words is not."""
    return (len(words) >= 3 and all(isinstance(w, str) for w in words)
            and os.path.basename(words[0]) == HB_NAME and words[1] == "state"
            and tuple(words[2:]) in _MOSAIC_STATE_ARGS)
