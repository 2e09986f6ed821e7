"""The help texts that must write out the shared rules (mosaic --help does
not import mosaic_hb) say what mosaic_hb.rules says; that module is pinned
to the C values in tests/test_packaging.py."""

import subprocess
import sys

from mosaic_hb import rules


def test_help_texts_write_out_the_rules():
    done = subprocess.run([sys.executable, "-m", "mosaic_launch", "launch", "--help"],
                          capture_output=True, text=True, timeout=30)
    text = " ".join(done.stdout.split())
    assert rules.AGENT_NAME_RULE in text
    assert f"{rules.INTERVAL_MIN:g} to {rules.INTERVAL_MAX:g}" in text
