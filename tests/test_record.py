"""The record parser: the contract readers rely on, and fuzzing."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mosaic_hb
from mosaic_hb import RECORD_MAX_BYTES, RecordError, parse_record

GOOD = (
    b"ts=2026-11-28T00:08:53+0000\npid=2547\nstatus=ok\nagent=a1\nepoch=1795824533.876\n"
    b"seq=3\ninterval=0.2\nhb_pid=2551\npid_start=35315\n"
)


def test_a_good_record():
    record = parse_record(GOOD)
    assert (record.pid, record.status, record.agent, record.seq, record.interval) == (2547, "ok", "a1", 3, 0.2)
    assert record.runtime is None and record.extra == {}


def test_unknown_keys_are_kept_and_ignored():
    record = parse_record(GOOD + b"runtime=codex\nfuture_key=1\n")
    assert record.runtime == "codex"
    assert record.extra == {"future_key": "1"}


def test_the_writers_start_and_the_boot_clock_are_read_and_written_back():
    record = parse_record(GOOD + b"hb_start=35316\nsince_boot=120.5\n")
    assert (record.hb_start, record.since_boot, record.extra) == (35316, 120.5, {})
    assert parse_record(mosaic_hb.record.format_record(record)) == record


def test_a_beats_age_is_read_on_the_boot_clock_when_the_record_has_it():
    """On the boot clock, whatever the wall clock says; on the wall clock for
    an older record, or one whose boot time lies ahead of this boot's clock
    (written before a reboot)."""
    now = time.time()
    boot = mosaic_hb.boot_clock()
    record = parse_record(GOOD)
    fresh = dataclasses.replace(record, interval=15.0, epoch=now - 7200, hb_start=1, since_boot=boot - 2)
    assert 1.9 <= fresh.beat_age(now) < 45 and not fresh.is_stale(now)
    old = dataclasses.replace(fresh, since_boot=boot - 60)
    assert old.beat_age(now) >= 59.9 and old.is_stale(now)
    for wall_only in (dataclasses.replace(fresh, since_boot=None), dataclasses.replace(fresh, since_boot=boot + 1e6)):
        assert wall_only.beat_age(now) == 7200 and wall_only.is_stale(now)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (GOOD[:-1], "truncated"),
        (GOOD[:40], "truncated"),
        (b"\x00\xff\xfe" * 20, "not UTF-8"),
        (GOOD + b"x" * RECORD_MAX_BYTES, "larger than"),
        (GOOD + b"pid=1\n", "duplicate key"),
        (b"ts=2026-11-28T00:08:53+0000\npid=1\nstatus=ok\n", "missing agent"),
        (b"".join(b"k%d=v\n" % i for i in range(100)), "missing ts"),
        (GOOD.replace(b"status=ok", b"status=fine"), "status"),
        (GOOD.replace(b"pid=2547", b"pid=-1"), "pid"),
        (GOOD.replace(b"pid=2547", b"pid=0"), "pid"),
        (GOOD.replace(b"interval=0.2", b"interval=nan"), "interval"),
        (GOOD.replace(b"agent=a1", b"agent=../x"), "agent"),
        (GOOD.replace(b"seq=3\n", b"seq=3\n\n"), "not key=value"),
        (GOOD.replace(b"seq=3", b"seq=3\x1b[2J"), "control character"),
        (GOOD + b"hb_start=35316\nsince_boot=inf\n", "since_boot"),
        (GOOD + b"hb_start=35316\nsince_boot=-1\n", "since_boot"),
        (GOOD + b"hb_start=x\n", "hb_start"),
    ],
)
def test_corrupt_records(data, reason):
    with pytest.raises(RecordError, match=reason):
        parse_record(data)


def test_read_refuses_huge_binary_and_linked_files(tmp_path):
    huge = tmp_path / "huge.hb"
    huge.write_bytes(GOOD + b"x" * (10 * 1024 * 1024))
    with pytest.raises(RecordError, match="larger than"):
        mosaic_hb.read(huge)
    good = tmp_path / "good.hb"
    good.write_bytes(GOOD)
    link = tmp_path / "link.hb"
    link.symlink_to(good)
    with pytest.raises(RecordError, match="unreadable"):
        mosaic_hb.read(link)
    with pytest.raises(FileNotFoundError):
        mosaic_hb.read(tmp_path / "missing.hb")


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_bytes_never_raise_anything_else(data):
    try:
        parse_record(data)
    except RecordError:
        pass


lines = st.lists(
    st.tuples(
        st.sampled_from(["ts", "pid", "status", "agent", "epoch", "seq", "interval", "hb_pid", "pid_start",
                         "runtime", "x", "", "PID", "a=b"]),
        st.text(max_size=30),
    ),
    max_size=14,
)


@settings(max_examples=3000, deadline=None)
@given(lines, st.booleans())
def test_fuzz_key_value_shapes_never_raise_anything_else(pairs, final_newline):
    text = "\n".join(f"{key}={value}" for key, value in pairs) + ("\n" if final_newline else "")
    try:
        record = parse_record(text.encode("utf-8", "surrogatepass"))
    except RecordError:
        return
    assert record.status in ("ok", "dead", "stopped")
    assert record.pid >= 1
