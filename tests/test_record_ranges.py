"""Numbers in a record past the C types' range (pid_t, uint64_t) make the
record corrupt, with the reason; no command ends in a traceback, and every
other agent is still handled."""

from __future__ import annotations

import json
import time

import mosaic_hb
import pytest

from tests.support.run import mosaic_proc

GOOD = {
    "ts": "2026-01-01T00:00:00+0000", "pid": "1", "status": "ok", "agent": "odd",
    "epoch": "%f", "seq": "1", "interval": "15", "hb_pid": "1", "pid_start": "0",
}
OUT_OF_RANGE = [
    ("pid", str(2**31)),
    ("pid", str(2**63)),
    ("hb_pid", str(2**31)),
    ("hb_pid", "99999999999999999999"),
    ("pid_start", str(2**64)),
    ("seq", str(2**64)),
    ("hb_start", str(2**64)),
    ("hb_start", "0"),  # the sidecar leaves the key out when it cannot tell
]


def record_bytes(**changes: str) -> bytes:
    fields = {**GOOD, "epoch": "%f" % time.time(), **changes}
    return "".join(f"{key}={value}\n" for key, value in fields.items()).encode()


@pytest.mark.parametrize("key,value", OUT_OF_RANGE)
def test_parser_refuses_numbers_past_the_c_types(key, value):
    with pytest.raises(mosaic_hb.RecordError, match=f"{key}: out of range"):
        mosaic_hb.parse_record(record_bytes(**{key: value}))


def test_parser_takes_the_largest_numbers_in_range():
    record = mosaic_hb.parse_record(record_bytes(
        pid=str(2**31 - 1), hb_pid=str(2**31 - 1), pid_start=str(2**64 - 1), seq=str(2**64 - 1),
        hb_start=str(2**64 - 1)))
    assert record.pid == record.hb_pid == 2**31 - 1
    assert record.pid_start == record.seq == record.hb_start == 2**64 - 1
    assert "hb_start" not in record.extra
    assert mosaic_hb.parse_record(mosaic_hb.record.format_record(record)) == record


@pytest.mark.parametrize("key", ["pid", "hb_pid", "pid_start", "seq", "hb_start", "epoch", "interval"])
def test_parser_refuses_the_digits_of_other_scripts(key):
    """The core reads ASCII digits only. A \\d pattern and int() take '١'
    too: a record with hb_start=٦٣٥ read as valid in fleet ps while the
    hook, which cannot parse it, never signalled its sidecar."""
    fields = {"hb_start": "635", "epoch": "%f" % time.time()}
    ascii_value = {**GOOD, **fields}[key]
    other = ascii_value.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert mosaic_hb.parse_record(record_bytes(**{**fields, key: ascii_value}))
    with pytest.raises(mosaic_hb.RecordError, match=f"{key}: not"):
        mosaic_hb.parse_record(record_bytes(**{**fields, key: other}))


@pytest.mark.parametrize("key,value", OUT_OF_RANGE)
def test_commands_go_on_past_an_out_of_range_record(tmux, run_dir, tmp_path, key, value):
    where = ["--socket", tmux.socket_name, "--run-dir", run_dir]
    done = mosaic_proc("launch", "fine", "--command", "sleep 1000", "--interval", "0.2", *where)
    assert done.returncode == 0, done.stderr
    (run_dir / "odd.hb").write_bytes(record_bytes(**{key: value}))

    done = mosaic_proc("fleet", "ps", "--json", *where)
    assert "Traceback" not in done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["agents"]}
    assert rows["odd"]["heartbeat"] == "corrupt"
    assert "out of range" in rows["odd"]["detail"]
    assert rows["fine"]["heartbeat"] == "ok"

    # launch over the corrupt record: it is replaced by a real agent's
    done = mosaic_proc("launch", "odd", "--command", "sleep 1000", "--interval", "0.2", "--json", *where)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "launched"
    done = mosaic_proc("stop", "odd", *where)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr

    # stop --all and fleet down go past a corrupt record and stop the rest
    (run_dir / "odd.hb").write_bytes(record_bytes(**{key: value}))
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'socket = "{tmux.socket_name}"\nrun_dir = "{run_dir}"\n'
                     '[[agent]]\nname = "odd"\ncommand = "sleep 1000"\n'
                     '[[agent]]\nname = "fine"\ncommand = "sleep 1000"\n')
    done = mosaic_proc("fleet", "down", "-f", fleet)
    assert "Traceback" not in done.stderr, done.stderr
    assert "fine" not in tmux.cmd("list-sessions", "-F", "#{session_name}", check=False).stdout.split()
    done = mosaic_proc("stop", "--all", *where)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
