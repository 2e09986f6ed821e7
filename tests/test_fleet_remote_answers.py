"""`fleet ps --host` against hosts that answer with values no mosaic writes:
NaN, Infinity, integers of thousands of digits, booleans for numbers,
negative ages. Each is the real command, as a process, with a stand-in for
ssh that answers with a file (and once through a real sshd): the bad row is
`corrupt` with its reason, the good host's rows are all there, and both the
table and ``--json`` (strict JSON) come out, with no traceback."""

from __future__ import annotations

import json
import shlex

from tests.support.remote import GOOD_ROW, fake_ssh, strict_json
from tests.support.run import mosaic_proc


# Each host's answer: a document whose one agent row holds one bad value
# (written as raw JSON text: NaN and friends are what Python's json emits).
BAD_VALUES = {
    "nan": ("age_s", "NaN", "age_s is NaN (not JSON, and not finite)"),
    "inf": ("cpu_percent", "Infinity", "cpu_percent is Infinity (not JSON, and not finite)"),
    "ninf": ("uptime_s", "-Infinity", "uptime_s is -Infinity (not JSON, and not finite)"),
    "huge": ("pid", "9" * 5000, "pid is an integer of 5000 digits"),
    "bool": ("hb_pid", "true", "hb_pid is not an integer (a boolean)"),
    "negative": ("age_s", "-3.5", "age_s is out of range (-3.5; expected 0 to 1e+12)"),
}


def answer(key: str | None = None, raw: str | None = None) -> str:
    """A `fleet ps --json` document with the good row, and (with KEY) a row
    `bad-1` whose KEY is the JSON text RAW."""
    rows = [json.dumps(GOOD_ROW)]
    if key is not None:
        bad = json.dumps({**GOOD_ROW, "name": "bad-1", key: 0})
        rows.insert(0, bad.replace(f'"{key}": 0', f'"{key}": {raw}'))
    return '{"schema": 1, "socket": "s", "run_dir": "/r", "agents": [%s]}\n' % ", ".join(rows)


def test_remote_answers_with_nan_infinity_and_huge_integers(tmp_path):
    answers = {host: answer(key, raw) for host, (key, raw, _) in BAD_VALUES.items()}
    answers["good"] = answer()
    env = fake_ssh(tmp_path, answers)
    hosts = [arg for host in [*BAD_VALUES, "good"] for arg in ("--host", host)]

    table = mosaic_proc("fleet", "ps", *hosts, env=env)
    assert table.returncode == 0 and table.stderr == "", table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["HOST", "NAME", "RUNTIME", "PANE"]
    cells = [line.split() for line in lines[1:-1]]
    for host in BAD_VALUES:
        bad, good = [c for c in cells if c[0] == host]
        assert bad[1:5] == ["bad-1", "pi", "alive", "corrupt"], bad
        assert good[1:5] == ["web-1", "pi", "alive", "ok"], good
    assert [c[1:5] for c in cells if c[0] == "good"] == [["web-1", "pi", "alive", "ok"]]
    assert lines[-1] == "13 agents: 7 ok, 6 corrupt; 6 not healthy; 7 hosts"

    done = mosaic_proc("fleet", "ps", "--json", *hosts, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    document = strict_json(done.stdout)
    assert [h["error"] for h in document["hosts"]] == [None] * 7
    rows = {(row["host"], row["name"]): row for row in document["agents"]}
    assert len(rows) == 13
    for host, (key, _, why) in BAD_VALUES.items():
        bad = rows[host, "bad-1"]
        assert (bad["heartbeat"], bad["healthy"], bad[key]) == ("corrupt", False, None)
        assert bad["detail"] == f"bad answer: {why}"
        assert rows[host, "web-1"] == {**GOOD_ROW, "host": host}
    assert rows["good", "web-1"] == {**GOOD_ROW, "host": "good"}

    # --check fails on a corrupt row, and passes on the good host alone.
    assert mosaic_proc("fleet", "ps", "--check", *hosts, env=env).returncode == 1
    assert mosaic_proc("fleet", "ps", "--check", "--host", "good", env=env).returncode == 0


def test_a_malformed_answer_makes_its_host_one_error_row(tmp_path):
    """An answer that is not a document at all (nested past the parser's
    stack, a NaN schema, a bare NaN) is that host's error; the good host's
    rows are still shown."""
    env = fake_ssh(tmp_path, {
        "deep": "[" * 200_000,
        "nanschema": '{"schema": NaN, "agents": []}',
        "bare": "NaN",
        "hugeschema": '{"schema": %s, "agents": []}' % ("1" * 5000),
        "good": answer(),
    })
    hosts = [arg for host in ("deep", "nanschema", "bare", "hugeschema", "good") for arg in ("--host", host)]
    table = mosaic_proc("fleet", "ps", "--check", *hosts, env=env)
    assert table.returncode == 1 and table.stderr == "", table.stderr
    lines = table.stdout.splitlines()
    assert lines[1:5] == [
        "deep        error: bad answer: not a fleet ps --json document (nested too deeply)",
        "nanschema   error: bad answer: unsupported fleet ps schema NaN (not JSON, and not finite) "
        "(this mosaic reads 1)",
        "bare        error: bad answer: not a fleet ps --json document",
        "hugeschema  error: bad answer: unsupported fleet ps schema an integer of 5000 digits "
        "(this mosaic reads 1)",
    ]
    assert lines[5].split()[:5] == ["good", "web-1", "pi", "alive", "ok"]
    assert lines[-1] == "1 agent: 1 ok; 5 hosts, 4 not reached"
    done = mosaic_proc("fleet", "ps", "--json", *hosts, env=env)
    assert done.returncode == 0, done.stderr
    document = strict_json(done.stdout)
    assert [(a["host"], a["heartbeat"]) for a in document["agents"]] == [
        ("deep", "error"), ("nanschema", "error"), ("bare", "error"), ("hugeschema", "error"), ("good", "ok")]


def test_a_nan_answer_over_a_real_ssh(sshd, tmp_path, monkeypatch):  # noqa: F811 (the fixture)
    """The same through a real sshd: the remote command prints a document
    with NaN and a 5000-digit pid, as a broken or hostile mosaic might."""
    document = tmp_path / "answer.json"
    document.write_text(answer("age_s", "NaN").replace('"pid": 4242', '"pid": ' + "7" * 5000, 1))
    monkeypatch.setenv("MOSAIC_REMOTE_COMMAND", f"sh -c {shlex.quote('cat ' + shlex.quote(str(document)))} sh")
    done = mosaic_proc("fleet", "ps", "--json", "--check", "--host", sshd.spec())
    assert done.returncode == 1 and done.stderr == "", done.stderr
    agents = strict_json(done.stdout)["agents"]
    assert [(a["name"], a["heartbeat"]) for a in agents] == [("bad-1", "corrupt"), ("web-1", "ok")]
    assert agents[0]["detail"] == \
        "bad answer: pid is an integer of 5000 digits; age_s is NaN (not JSON, and not finite)"
    table = mosaic_proc("fleet", "ps", "--host", sshd.spec())
    assert table.returncode == 0 and table.stderr == "", table.stderr
    assert table.stdout.splitlines()[-1] == "2 agents: 1 ok, 1 corrupt; 1 not healthy; 1 host"
