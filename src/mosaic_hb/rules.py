"""The rules that mosaic's Python code shares with the C core, in one place.

The values come from the C core itself (the ``HB_AGENT_MAX``,
``HB_INTERVAL_MIN`` and ``HB_INTERVAL_MAX`` macros of hb.h, through
``_hb``); only the agent name's character classes are written out here, and
``tests/test_shared_rules.py`` pins them to the C check
(``hb_valid_agent_name``).
"""

import re

from mosaic_hb._hb import AGENT_NAME_MAX, INTERVAL_MAX, INTERVAL_MIN

# Agent names (and tmux socket names, and runtimes in a record).
AGENT_NAME_RULE = f"[A-Za-z0-9][A-Za-z0-9_-]{{0,{AGENT_NAME_MAX - 1}}}"
AGENT_NAME = re.compile(AGENT_NAME_RULE + r"\Z")

__all__ = ["AGENT_NAME", "AGENT_NAME_MAX", "AGENT_NAME_RULE", "INTERVAL_MAX", "INTERVAL_MIN"]
