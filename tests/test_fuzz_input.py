"""Property-based fuzzing (hypothesis) of the two readers of outside data
that ``fleet ps`` trusts least, through the command itself:

* the heartbeat record reader: mutated records in a run dir, next to a
  real tmux session of the same name, then ``mosaic fleet ps``;
* the remote-answer reader: generated ``fleet ps --json`` documents, given
  by an ssh stand-in, then ``mosaic fleet ps --host``.

Whatever the input: exit 0 or 1, never a traceback, the table prints,
``--json`` is strict JSON (no NaN or Infinity), and a row is a known state
(``corrupt`` with a reason when the input is bad). Runs are derandomized and
the example counts small, so CI never flakes and the file stays fast."""

from __future__ import annotations

import json
import math
import re
import time

import mosaic_hb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_launch.fleet import hosts as fleet_hosts
from mosaic_launch.fleet import status
from tests.support.run import mosaic
from tests.support.remote import GOOD_ROW, fake_ssh, strict_json
from tests.support.tmux import new_session

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)
AGENT = "fz-1"
# What the table may hold: printable text and newlines; never an escape
# sequence or any other control character from the input.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def check_output(result, *, json_mode: bool) -> dict | None:
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert not _CONTROL.search(result.stdout), repr(result.stdout[:400])
    if not json_mode:
        return None
    document = strict_json(result.stdout)
    for row in document["agents"]:
        assert row["heartbeat"] in (*status.HEARTBEAT_STATES, fleet_hosts.ERROR_STATE), row
        if row["heartbeat"] in ("corrupt", fleet_hosts.ERROR_STATE):
            assert row["detail"] and not row["healthy"], row
        for key in ("age_s", "activity_s", "uptime_s", "cpu_percent"):
            assert row[key] is None or (math.isfinite(row[key]) and row[key] >= 0), row
    return document


# ---- the record reader ------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-0", "0", "1e-400", "0x10", "1_0",
                     " 5", "5 ", "+5", "2147483647", "2147483648", "18446744073709551615",
                     "18446744073709551616", "9" * 25, "1" * 5000]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


def valid_record(pid: int, pid_start: int, hb_pid: int, epoch: float) -> dict[str, str]:
    return {"ts": "2024-05-01T12:00:00+0000", "pid": str(pid), "status": "ok", "agent": AGENT,
            "epoch": f"{epoch:.6f}", "seq": "7", "interval": "2", "hb_pid": str(hb_pid),
            "pid_start": str(pid_start), "runtime": "pi"}


def _lines(fields: dict[str, str]) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in fields.items()).encode("utf-8", "surrogatepass")


@st.composite
def records(draw, real: dict[str, str]) -> bytes:
    """A valid record (of the live session's pid, or not) with a few mutations."""
    fields = dict(real) if draw(st.booleans()) else valid_record(
        draw(st.integers(1, 2**22)), draw(st.integers(0, 2**40)), draw(st.integers(1, 2**22)),
        draw(st.floats(0, 4e9)))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["number", "text", "drop", "odd key", "long line", "status", "agent"]))
        key = draw(st.sampled_from(sorted(fields) or ["pid"]))
        if how == "number":
            fields[key] = draw(NUMBERS)
        elif how == "text":
            fields[key] = draw(ODD_TEXT)
        elif how == "drop":
            fields.pop(key, None)
        elif how == "odd key":
            fields[draw(st.sampled_from(["stopped_by", "x", "Bad-Key", "", "a=b", "k" * 40]))] = draw(ODD_TEXT)
        elif how == "long line":
            fields[key] = "9" * draw(st.integers(100, 5000))
        elif how == "status":
            fields["status"] = draw(st.sampled_from(["ok", "dead", "stopped", "OK", "", "corrupt"]))
        else:
            fields["agent"] = draw(st.sampled_from([AGENT, "other", "", "x" * 70, "fz 1"]))
    data = _lines(fields)
    raw = draw(st.sampled_from(["as is", "as is", "as is", "cut", "bytes", "no newline", "empty"]))
    if raw == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif raw == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]
    elif raw == "no newline":
        data = data.rstrip(b"\n")
    elif raw == "empty":
        data = b""
    return data


@pytest.fixture
def live_session(tmux, run_dir):
    """A real session named AGENT, and the valid record of its pane."""
    pane_pid = new_session(tmux, AGENT)
    run_dir.mkdir(mode=0o700)
    return valid_record(pane_pid, mosaic_hb.proc_start_time(pane_pid), pane_pid, time.time())


def test_fuzz_the_record_reader_through_fleet_ps(tmux, run_dir, live_session):
    record_path = run_dir / f"{AGENT}.hb"
    common = ["--socket", tmux.socket_name, "--run-dir", run_dir, "--all"]

    @FUZZ
    @given(data=records(live_session))
    def run(data: bytes) -> None:
        record_path.write_bytes(data)
        try:
            expected = mosaic_hb.parse_record(data)
        except mosaic_hb.RecordError:
            expected = None
        document = check_output(mosaic("fleet", "ps", "--json", "--check", *common), json_mode=True)
        (row,) = [row for row in document["agents"] if row["name"] == AGENT]
        if expected is None or expected.agent != AGENT:
            assert row["heartbeat"] == "corrupt", (data, row)
        else:
            assert row["heartbeat"] != "corrupt", (data, row)
            assert row["pid"] == expected.pid and row["hb_pid"] == expected.hb_pid
        check_output(mosaic("fleet", "ps", *common), json_mode=False)

    run()


# ---- the remote-answer reader ---------------------------------------------------------


class Raw:
    """JSON text put into a document as it is (NaN, a 5000-digit integer)."""

    def __init__(self, text: str):
        self.text = text


def to_text(value, ascii_only: bool) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_text(v, ascii_only)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_text(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e400"), Raw("-1e400"),
                     Raw("9" * 5000), Raw("-" + "9" * 30), Raw("0.0"), Raw("[[[[[]]]]]"),
                     Raw('"\\ud800"'), Raw('"\\u001b[2J"')]),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def answers(draw) -> str:
    """A fleet ps --json document of a few rows, each a valid row with some
    of its values replaced by odd ones; now and then the document itself
    is broken."""
    rows = []
    for index in range(draw(st.integers(0, 3))):
        row = {**GOOD_ROW, "name": f"web-{index}"}
        for key in draw(st.lists(st.sampled_from([*GOOD_ROW, "extra"]), max_size=4)):
            row[key] = draw(ODD_VALUES)
        rows.append(row if draw(st.integers(0, 9)) else draw(ODD_VALUES))
    document = {"schema": 1, "socket": "s", "run_dir": "/r", "agents": rows}
    broken = draw(st.integers(0, 9))
    if broken == 0:
        document[draw(st.sampled_from(["schema", "agents", "socket", "run_dir"]))] = draw(ODD_VALUES)
    text = to_text(document, draw(st.booleans()))
    if broken == 1:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def test_fuzz_the_remote_answer_reader_through_fleet_ps_host(tmp_path):
    env = fake_ssh(tmp_path, {"fuzzed": "", "good": '{"schema": 1, "agents": [%s]}' % json.dumps(GOOD_ROW)})
    answer_file = tmp_path / "answers" / "fuzzed"
    args = ["fleet", "ps", "--host", "fuzzed", "--host", "good"]

    @FUZZ
    @given(text=answers())
    def run(text: str) -> None:
        answer_file.write_bytes(text.encode("utf-8", "surrogatepass"))
        document = check_output(mosaic(*args, "--json", "--check", env=env), json_mode=True)
        good = [row for row in document["agents"] if row["host"] == "good"]
        assert good == [{**GOOD_ROW, "host": "good"}]  # the other host never suffers
        fuzzed = [row for row in document["agents"] if row["host"] == "fuzzed"]
        assert fuzzed or document["hosts"][0]["error"] is None  # an error is a row
        table = mosaic(*args, env=env)
        check_output(table, json_mode=False)
        assert table.exit_code == 0
        assert table.stdout.splitlines()[-1].endswith(("2 hosts", "2 hosts, 1 not reached"))

    run()
