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


SPELLINGS = ["0x10", "0x1p-2", "1_0", "\uff11", "inf", "nan"]  # hex, underscores, a fullwidth 1


def test_every_seconds_value_is_read_by_the_same_decimal_rule(tmux, run_dir):
    # The C parser (strtod) took hex, and Python's float() took underscores and
    # other scripts' digits: "--interval 0x10" was 16 s while "--timeout 0x10"
    # was an error, and "--timeout 1_0" was 10 s while "--interval 1_0" was one.
    from tests.support.hb import sidecar
    from tests.support.run import mosaic_proc

    where = ["--socket", tmux.socket_name, "--run-dir", str(run_dir)]
    for text in SPELLINGS:
        for args in (["launch", "sec", "--command", "sleep 1000", "--interval", text],
                     ["stop", "sec", "--timeout", text],
                     ["fleet", "ps", "--watch", text]):
            done = mosaic_proc(*args, *where)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert done.stderr.count("\n") == 1 and "expected" in done.stderr, done.stderr
        hb = sidecar("sec", "1", "--run-dir", str(run_dir), "--interval", text)
        assert hb.returncode == 2, (text, hb.stderr)
    assert not (run_dir / "sec.hb").exists()
