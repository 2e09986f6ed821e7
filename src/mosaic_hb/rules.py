"""The rules that mosaic's Python code shares with the C core, in one place.

Pure Python, so that ``record`` (which ``_hb`` imports) can use them. The C
core has its own copies (``hb_valid_agent_name``, ``HB_INTERVAL_MIN`` and
``HB_INTERVAL_MAX`` in hb.h); ``_hb.INTERVAL_MIN`` and ``_hb.INTERVAL_MAX``
are C's values, which these must equal.
"""

import re

# Agent names (and tmux socket names, and runtimes in a record).
AGENT_NAME_RULE = "[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
AGENT_NAME = re.compile(AGENT_NAME_RULE + r"\Z")

# Seconds between beats.
INTERVAL_MIN = 0.05
INTERVAL_MAX = 86400.0
