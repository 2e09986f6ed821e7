"""The agent's state as Python reads it: from a record's extra keys
(record_state) and from an AGENT.state file (parse_state_file,
read_state_file), with the record parser's rules."""

from __future__ import annotations

import os
import subprocess

import pytest

import mosaic_hb
from mosaic_hb import _hb
from mosaic_hb.record import (
    STATE_FILE_MAX_BYTES,
    UNKNOWN_STATE,
    AgentState,
    StateFileError,
    parse_record,
    parse_state_file,
    read_state_file,
    record_state,
)

BASE = (b"ts=2025-12-02T10:00:00+0000\npid=42\nstatus=ok\nagent=a1\nepoch=1764680000.5\nseq=3\n"
        b"interval=15\nhb_pid=43\npid_start=99\nruntime=claude\n")
GOOD_STATE = b"state=waiting\nsource=hook\nepoch=1764680000.123456\nagent=a1\nwaiting_for=permission\n"


def test_the_size_bound_is_the_c_cores():
    assert STATE_FILE_MAX_BYTES == _hb.STATE_FILE_MAX


def test_record_state_reads_the_sidecars_keys():
    record = parse_record(BASE + b"state=waiting\nstate_source=hook\nstate_epoch=1764680000.25\n"
                                 b"waiting_for=question\n")
    assert record_state(record) == AgentState("waiting", "hook", 1764680000.25, "question")


def test_an_older_sidecars_record_has_no_state():
    assert record_state(parse_record(BASE)) == UNKNOWN_STATE == AgentState()
    assert UNKNOWN_STATE.state == "unknown"


@pytest.mark.parametrize("extra", [
    b"state=sleeping\nstate_source=hook\nstate_epoch=1.5\n",     # a state this version does not know
    b"state=unknown\nstate_source=hook\nstate_epoch=1.5\n",      # not a hook's to report
    b"state=idle\nstate_source=guess\nstate_epoch=1.5\n",
    b"state=idle\nstate_source=hook\nstate_epoch=nan\n",
    b"state=idle\nstate_source=hook\nstate_epoch=1e999\n",
    b"state=idle\nstate_source=hook\nstate_epoch=-1\n",
    b"state=idle\nstate_source=hook\n",
    b"state=idle\n",
])
def test_invalid_state_keys_mean_unknown(extra):
    assert record_state(parse_record(BASE + extra)) == UNKNOWN_STATE


def test_waiting_for_only_for_waiting_and_only_known_values():
    odd = parse_record(BASE + b"state=working\nstate_source=hook\nstate_epoch=2\nwaiting_for=permission\n")
    assert record_state(odd) == AgentState("working", "hook", 2.0, None)
    unknown = parse_record(BASE + b"state=waiting\nstate_source=hook\nstate_epoch=2\nwaiting_for=coffee\n")
    assert record_state(unknown) == AgentState("waiting", "hook", 2.0, None)


def test_parse_state_file():
    assert parse_state_file(GOOD_STATE) == AgentState("waiting", "hook", 1764680000.123456, "permission")
    assert parse_state_file(GOOD_STATE, "a1").state == "waiting"
    # Unknown keys are kept out, for a newer writer's sake.
    assert parse_state_file(b"state=idle\nsource=hook\nepoch=3\nagent=a1\nnew_key=x\n").state == "idle"


@pytest.mark.parametrize("data, why", [
    (b"", "empty"),
    (GOOD_STATE[:-1], "truncated"),
    (GOOD_STATE + b"state=idle\n", "duplicate"),
    (b"x" * (STATE_FILE_MAX_BYTES + 1), "larger than"),
    (b"state=idle\nsource=hook\nepoch=3\n", "missing agent"),
    (b"state=unknown\nsource=hook\nepoch=3\nagent=a1\n", "state: unknown"),
    (b"state=idle\nsource=pane\nepoch=3\nagent=a1\n", "source"),
    (b"state=idle\nsource=hook\nepoch=inf\nagent=a1\n", "epoch"),
    (b"state=idle\nsource=hook\nepoch=3\nagent=../x\n", "agent"),
    (b"state=waiting\nsource=hook\nepoch=3\nagent=a1\nwaiting_for=coffee\n", "waiting_for"),
    (b"state=idle\nsource=hook\nepoch=3\nagent=a1\nnote=\x01\n", "control character"),
    (b"\xff\n", "UTF-8"),
])
def test_parse_state_file_refuses(data, why):
    with pytest.raises(StateFileError, match=why):
        parse_state_file(data)


def test_parse_state_file_checks_the_agent():
    with pytest.raises(StateFileError, match="not 'b2'"):
        parse_state_file(GOOD_STATE, "b2")


def test_read_state_file(tmp_path):
    path = tmp_path / "a1.state"
    with pytest.raises(FileNotFoundError):
        read_state_file(path)
    path.write_bytes(GOOD_STATE)
    assert read_state_file(path, "a1").waiting_for == "permission"
    link = tmp_path / "link.state"
    link.symlink_to(path)
    with pytest.raises(StateFileError, match="unreadable"):
        read_state_file(link)
    fifo = tmp_path / "fifo.state"
    os.mkfifo(fifo)
    with pytest.raises(StateFileError, match="not a regular file"):
        read_state_file(fifo)  # and it did not hang on the FIFO
    big = tmp_path / "big.state"
    big.write_bytes(GOOD_STATE + b"pad=" + b"x" * STATE_FILE_MAX_BYTES + b"\n")
    with pytest.raises(StateFileError, match="larger than"):
        read_state_file(big)


def test_the_hook_and_the_reader_agree(tmp_path):
    """What the C hook writes is what Python reads."""
    tmp_path.chmod(0o700)
    env = dict(os.environ, MOSAIC_AGENT_NAME="a1", MOSAIC_HEARTBEAT_RUN_DIR=str(tmp_path))
    done = subprocess.run([mosaic_hb.sidecar_path(), "state", "waiting", "--for", "question"],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    assert done.returncode == 0
    assert read_state_file(tmp_path / "a1.state", "a1").waiting_for == "question"
