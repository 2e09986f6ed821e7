"""The rules Python shares with the C core have one Python home,
mosaic_hb.rules; these tests pin it to the C values and to the help texts
that must write it out (mosaic --help does not import mosaic_hb)."""

import subprocess
import sys

import mosaic_hb
from mosaic_hb import _hb, rules


def test_interval_bounds_are_the_c_ones():
    assert (rules.INTERVAL_MIN, rules.INTERVAL_MAX) == (_hb.INTERVAL_MIN, _hb.INTERVAL_MAX)
    assert (mosaic_hb.INTERVAL_MIN, mosaic_hb.INTERVAL_MAX) == (rules.INTERVAL_MIN, rules.INTERVAL_MAX)


def test_agent_name_pattern_is_the_c_rule():
    probes = ["a", "A9", "a-b_c", "x" * 64, "x" * 65, "", "-a", "_a", "a.b", "a b", "é", "a\n", "9" * 64]
    for name in probes:
        assert bool(rules.AGENT_NAME.match(name)) == mosaic_hb.valid_agent_name(name), name


def test_help_texts_write_out_the_rules():
    done = subprocess.run([sys.executable, "-m", "mosaic_launch", "launch", "--help"],
                          capture_output=True, text=True, timeout=30)
    text = " ".join(done.stdout.split())
    assert rules.AGENT_NAME_RULE in text
    assert f"{rules.INTERVAL_MIN:g} to {rules.INTERVAL_MAX:g}" in text
