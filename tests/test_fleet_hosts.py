"""`fleet ps` across hosts over ssh (mosaic_launch.fleet.hosts): host parsing
and quoting, and the fan-out against a real sshd (Debian openssh-server) on
127.0.0.1, with a temporary host key, client key and authorized_keys.

The "remote" host is this machine: sshd's SetEnv gives its sessions the
test's HOME, TMUX_TMPDIR, leak-guard token and a PATH with the installed
`mosaic` on it, so a remote `mosaic fleet ps` sees the test's agents."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mosaic_launch.fleet import hosts as fleet_hosts
from mosaic_launch.fleet import render
from mosaic_launch.errors import UsageError
from tests.support.run import mosaic_proc
from tests.support.services import SSH, SSH_KEYGEN, SSHD, free_port
from tests.support.wait import wait_for

needs_ssh = pytest.mark.skipif(SSH is None, reason="ssh is not installed (apt-get install openssh-client)")
needs_sshd = pytest.mark.skipif(
    None in (SSH, SSH_KEYGEN, SSHD),
    reason="sshd, ssh or ssh-keygen is not installed (apt-get install openssh-server openssh-client)",
)

# ---- parsing and quoting: no ssh needed ----------------------------------------


@pytest.mark.parametrize("spec, user, hostname, port", [
    ("web1", None, "web1", None),
    ("deploy@web1.example.com", "deploy", "web1.example.com", None),
    ("web1:2222", None, "web1", 2222),
    ("a.b-c_d@10.0.0.7:22", "a.b-c_d", "10.0.0.7", 22),
    ("[::1]:2222", None, "::1", 2222),
    ("root@[fe80::1%eth0]", "root", "fe80::1%eth0", None),
    ("  web1  ", None, "web1", None),
])
def test_parse_host_accepts(spec, user, hostname, port):
    host = fleet_hosts.parse_host(spec)
    assert (host.user, host.hostname, host.port) == (user, hostname, port)
    assert host.spec == spec.strip()


@pytest.mark.parametrize("spec", [
    "", "-oProxyCommand=touch x", "web1;id", "$(id)", "`id`", "web 1", "@web1", "root@", "a@b@c",
    "web1:", "web1:0", "web1:65536", "web1:22x", "::1", "[::1", "web1/x", "we'b1", "-p22@web1",
    "web1\nid", ".web1", "root@-web1",
])
def test_parse_host_rejects(spec):
    with pytest.raises(UsageError, match="invalid host"):
        fleet_hosts.parse_host(spec)


def test_hosts_from_flags_or_environment():
    env = {"MOSAIC_FLEET_HOSTS": " web1, deploy@web2:2222,,web1 "}
    assert [h.spec for h in fleet_hosts.parse_hosts(None, env)] == ["web1", "deploy@web2:2222"]
    # --host wins over the variable; it may be repeated or comma-separated.
    assert [h.spec for h in fleet_hosts.parse_hosts(["a", "b,c"], env)] == ["a", "b", "c"]
    assert fleet_hosts.parse_hosts(None, {}) == []
    with pytest.raises(UsageError, match="MOSAIC_FLEET_HOSTS"):
        fleet_hosts.parse_hosts(None, {"MOSAIC_FLEET_HOSTS": "web1,x;y"})
    with pytest.raises(UsageError, match="MOSAIC_FLEET_HOSTS is set but empty"):
        fleet_hosts.parse_hosts(None, {"MOSAIC_FLEET_HOSTS": ""})
    readers = {
        "MOSAIC_SSH_CONFIG": lambda e: fleet_hosts.ssh_argv(fleet_hosts.parse_host("web1"), "x", environ=e),
        "MOSAIC_REMOTE_COMMAND": lambda e: fleet_hosts.remote_command(environ=e),
        "MOSAIC_FLEET_HOST_TIMEOUT": fleet_hosts.host_timeout,
        "MOSAIC_SSH_CONNECT_TIMEOUT": fleet_hosts.connect_timeout,
    }
    for var, read in readers.items():
        with pytest.raises(UsageError, match=f"{var} is set but empty"):
            read({var: ""})
    with pytest.raises(UsageError, match="--host is empty"):
        fleet_hosts.parse_hosts([""], env)


def test_ssh_command_line():
    host = fleet_hosts.parse_host("deploy@web1:2222")
    argv = fleet_hosts.ssh_argv(host, "mosaic fleet ps --json", timeout=7,
                                environ={"MOSAIC_SSH_CONFIG": "cfg file"})
    assert argv == ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "-F", "cfg file",
                    "-p", "2222", "--", "deploy@web1", "mosaic fleet ps --json"]
    bare = fleet_hosts.ssh_argv(fleet_hosts.parse_host("[::1]"), "x", environ={})
    assert bare[-3:] == ["--", "::1", "x"] and "-p" not in bare and "-F" not in bare


def test_remote_command_survives_a_shell(tmp_path):
    """Every value reaches the remote argv as one word, whatever it holds."""
    echo_argv = tmp_path / "argv.py"
    echo_argv.write_text("import json, os, sys\n"
                         "print(json.dumps([os.environ.get('MOSAIC_FLEET_HOSTS'), *sys.argv[1:]]))\n")
    hostile = "/srv/run dir/$(touch pwned)/`touch pwned2`;touch pwned3 'q' \"d\" \\ *"
    environ = {"MOSAIC_REMOTE_COMMAND": f"{shlex.quote(sys.executable)} {shlex.quote(str(echo_argv))}"}
    line = fleet_hosts.remote_command(socket="sock-1", run_dir=hostile, stale_after=30,
                                      patterns=["web-*", "-x"], environ=environ)
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                          env=dict(os.environ, MOSAIC_FLEET_HOSTS="web1"))
    assert done.returncode == 0, done.stderr
    # MOSAIC_FLEET_HOSTS is unset for the remote mosaic: it answers for itself.
    assert json.loads(done.stdout) == [None, "fleet", "ps", "--json", "--socket", "sock-1",
                                       "--run-dir", hostile,
                                       "--stale-after", "30.0", "--", "web-*", "-x"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pwned")]
    # The remote command is words, not shell syntax.
    line = fleet_hosts.remote_command(environ={"MOSAIC_REMOTE_COMMAND": "mosaic; touch x"})
    assert line == "env -u MOSAIC_FLEET_HOSTS 'mosaic;' touch x fleet ps --json"
    assert fleet_hosts.remote_command(environ={}) == "env -u MOSAIC_FLEET_HOSTS mosaic fleet ps --json"


@pytest.mark.parametrize("environ, message", [
    ({"MOSAIC_REMOTE_COMMAND": "'unclosed"}, "MOSAIC_REMOTE_COMMAND"),
    ({"MOSAIC_FLEET_HOST_TIMEOUT": "soon"}, "MOSAIC_FLEET_HOST_TIMEOUT"),
    ({"MOSAIC_FLEET_HOST_TIMEOUT": "0"}, "MOSAIC_FLEET_HOST_TIMEOUT"),
    ({"MOSAIC_SSH_CONNECT_TIMEOUT": "nan"}, "MOSAIC_SSH_CONNECT_TIMEOUT"),
    ({"MOSAIC_FLEET_HOST_TIMEOUT": "inf"}, "MOSAIC_FLEET_HOST_TIMEOUT"),
    ({"MOSAIC_FLEET_HOST_TIMEOUT": "-inf"}, "MOSAIC_FLEET_HOST_TIMEOUT"),
    ({"MOSAIC_FLEET_HOST_TIMEOUT": "1e400"}, "MOSAIC_FLEET_HOST_TIMEOUT"),
    ({"MOSAIC_FLEET_HOST_TIMEOUT": "1" * 5000}, "MOSAIC_FLEET_HOST_TIMEOUT"),
    ({"MOSAIC_SSH_CONNECT_TIMEOUT": "9" * 5000}, "MOSAIC_SSH_CONNECT_TIMEOUT"),
    ({"MOSAIC_SSH_CONNECT_TIMEOUT": "Infinity"}, "MOSAIC_SSH_CONNECT_TIMEOUT"),
])
def test_bad_settings_are_usage_errors(environ, message):
    with pytest.raises(UsageError, match=message) as caught:
        fleet_hosts.ps_hosts([fleet_hosts.parse_host("web1")], environ=environ)
    assert len(str(caught.value)) < 150  # one short line, whatever the value's length


def test_documents_are_checked():
    good = {"schema": 1, "socket": "s", "run_dir": "/r",
            "agents": [{"name": "a", "heartbeat": "ok", "pane": "alive", "pid": 5, "age_s": 0.5,
                        "healthy": True, "future_key": [1]}]}
    result = fleet_hosts.parse_document(json.dumps(good), "h1")
    rows = [(r.name, r.host, r.heartbeat, r.pid, r.healthy) for r in result.agents]
    assert rows == [("a", "h1", "ok", 5, True)]
    for bad, why in [
        ("mosaic: error: nope", "not a fleet ps"),
        ("[]", "not a fleet ps"),
        ("[" * 100_000, "nested too deeply"),
        (json.dumps({**good, "schema": 2}), "unsupported fleet ps schema 2"),
        (json.dumps({**good, "schema": True}), "unsupported fleet ps schema"),
        (json.dumps({**good, "agents": {"a": 1}}), "agents is not a list"),
    ]:
        with pytest.raises(ValueError, match=why):
            fleet_hosts.parse_document(bad, "h1")
    # A row with a bad value is that row, corrupt, with the reason; the
    # host's other rows stay.
    for bad_row, why in [
        ({"name": 5}, "name is not a string (an integer)"),
        ({"name": "a", "pid": "5"}, "pid is not an integer (a string)"),
        ({"heartbeat": "ok"}, "an agent row has no name"),
        ({"name": "a", "heartbeat": "error"}, "heartbeat is not one of ok, stale"),
        ({"name": "a", "pane": "zombie"}, "pane is not one of alive, dead, gone"),
        (7, "an agent row is an integer, not an object"),
    ]:
        result = fleet_hosts.parse_document(json.dumps({**good, "agents": [bad_row, good["agents"][0]]}), "h1")
        bad, kept = result.agents
        assert (bad.heartbeat, bad.host, bad.healthy) == ("corrupt", "h1", False)
        assert bad.detail.startswith("bad answer: ") and why in bad.detail, bad.detail
        assert (kept.name, kept.heartbeat, kept.healthy) == ("a", "ok", True)
    # A host's text never carries terminal control sequences into the table.
    sneaky = {**good, "agents": [{"name": "a\x1b[2Jb", "detail": "x\ny"}, {"name": "b", "detail": "x\ny\x9b"}]}
    first, second = fleet_hosts.parse_document(json.dumps(sneaky), "h1").agents
    assert (first.name, first.heartbeat) == ("a [2Jb", "corrupt")
    assert (second.name, second.detail) == ("b", "x y")


@pytest.mark.parametrize("value, why", [
    ("NaN", "age_s is NaN (not JSON, and not finite)"),
    ("Infinity", "age_s is Infinity (not JSON, and not finite)"),
    ("-Infinity", "age_s is -Infinity (not JSON, and not finite)"),
    ("1e400", "age_s is 1e400 (not finite)"),
    ("1" + "0" * 5000, "age_s is an integer of 5001 digits"),
    ("-1", "age_s is out of range (-1; expected 0 to 1e+12)"),
    ("true", "age_s is not a number (a boolean)"),
    ('"5"', "age_s is not a number (a string)"),
    ("[5]", "age_s is not a number (an array)"),
])
def test_a_bad_number_makes_its_row_corrupt(value, why):
    text = ('{"schema": 1, "agents": [{"name": "bad", "heartbeat": "ok", "pane": "alive", "age_s": %s},'
            ' {"name": "good", "heartbeat": "ok", "pane": "alive", "age_s": 1}]}' % value)
    bad, good = fleet_hosts.parse_document(text, "h1").agents
    assert (bad.name, bad.heartbeat, bad.age_s, bad.detail) == ("bad", "corrupt", None, f"bad answer: {why}")
    assert (good.name, good.heartbeat, good.age_s) == ("good", "ok", 1.0)
    assert json.loads(json.dumps(fleet_hosts.to_document([fleet_hosts.HostResult("h1", [bad, good])]),
                                 allow_nan=False))


@pytest.mark.parametrize("key, value", [
    ("pid", 0), ("pid", 2**31), ("pid", -5), ("pid", True), ("pid", 1.5), ("hb_pid", 2**31),
    ("exit_status", 256), ("exit_status", -1), ("exit_signal", 0), ("exit_signal", 129),
    ("rss_bytes", -1), ("rss_bytes", 2**63), ("cpu_percent", -0.1), ("cpu_percent", 1e7),
    ("uptime_s", 1e13), ("activity_s", False), ("runtime", "pi\x00"), ("runtime", 5),
])
def test_every_number_and_name_is_range_checked(key, value):
    text = json.dumps({"schema": 1, "agents": [{"name": "a", key: value}]})
    (row,) = fleet_hosts.parse_document(text, "h1").agents
    assert row.heartbeat == "corrupt" and row.detail.startswith(f"bad answer: {key} is "), row.detail
    assert getattr(row, key) is None


# ---- the real ssh client, no server ------------------------------------------------


@needs_ssh
def test_unreachable_host_is_one_error_row():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    results = fleet_hosts.ps_hosts([fleet_hosts.parse_host(f"127.0.0.1:{port}")], deadline=20, connect=5)
    assert time.monotonic() - started < 15
    (result,) = results
    assert result.agents == [] and "Connection refused" in result.error
    (row,) = result.rows()
    assert (row.host, row.heartbeat, row.healthy) == (f"127.0.0.1:{port}", "error", False)
    assert not fleet_hosts.all_healthy(results)


@needs_ssh
def test_a_silent_host_meets_the_deadline_and_hosts_run_in_parallel():
    """Two hosts that accept the connection and never speak: ssh would wait
    for ConnectTimeout (60 s); the deadline kills it, for both at once."""
    listeners = []
    try:
        for _ in range(2):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)  # never accepted: the kernel completes the handshake
            listeners.append(listener)
        hosts = [fleet_hosts.parse_host(f"127.0.0.1:{sock.getsockname()[1]}") for sock in listeners]
        started = time.monotonic()
        results = fleet_hosts.ps_hosts(hosts, deadline=5.0, connect=60)
        elapsed = time.monotonic() - started
    finally:
        for listener in listeners:
            listener.close()
    assert [r.error for r in results] == ["no answer within 5s (killed ssh)"] * 2
    # In parallel: one deadline, not two in a row (10 s); the margin is for a loaded machine.
    assert 5.0 <= elapsed < 9.5, elapsed


# ---- against a real sshd -------------------------------------------------------------


@pytest.fixture
def agent(tmux, run_dir):
    """One agent, launched for real on this host."""
    done = mosaic_proc("launch", "remote-1", "--socket", tmux.socket_name, "--run-dir", run_dir,
                  "--command", "sleep 300", "--interval", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _ps(sshd, tmux, run_dir, *specs, **kwargs):
    hosts = [fleet_hosts.parse_host(spec) for spec in specs]
    return fleet_hosts.ps_hosts(hosts, socket=tmux.socket_name, run_dir=run_dir, deadline=30, **kwargs)


def test_ps_over_ssh_sees_the_hosts_agents(sshd, tmux, run_dir, agent):
    (result,) = _ps(sshd, tmux, run_dir, sshd.spec())
    assert result.error is None, result.error
    assert (result.socket, result.run_dir) == (tmux.socket_name, str(run_dir))
    (row,) = result.agents
    assert (row.name, row.host, row.pane, row.heartbeat, row.healthy) == \
        ("remote-1", sshd.spec(), "alive", "ok", True)
    assert row.pid == agent["pane_pid"] and row.hb_pid == agent["sidecar_pid"]
    assert fleet_hosts.all_healthy([result])


def test_merged_view_of_several_hosts(sshd, tmux, run_dir, agent):
    """Two names for the same sshd, a host that refuses, a key that is not
    authorized (BatchMode: no prompt), and a host with no mosaic: one row per
    agent or failed host, in the order given."""
    nobody = free_port()
    specs = [sshd.spec(), f"127.0.0.1:{nobody}", sshd.spec(user=None), sshd.spec(user="mosaic-no-such-user")]
    started = time.monotonic()
    results = _ps(sshd, tmux, run_dir, *specs)
    assert time.monotonic() - started < 25
    assert [r.host for r in results] == specs
    assert results[0].error is None and results[2].error is None
    assert "Connection refused" in results[1].error
    assert "Permission denied" in results[3].error

    rows = fleet_hosts.merged_rows(results)
    assert [(r.host, r.name, r.heartbeat) for r in rows] == [
        (specs[0], "remote-1", "ok"), (specs[1], "-", "error"),
        (specs[2], "remote-1", "ok"), (specs[3], "-", "error"),
    ]
    assert not fleet_hosts.all_healthy(results)  # --check covers every host
    assert fleet_hosts.all_healthy([results[0], results[2]])
    problems = fleet_hosts.merged_rows(results, problems=True)
    assert [r.heartbeat for r in problems] == ["error", "error", "ok", "ok"]

    table = render.render_hosts_table(rows)
    assert table[0].split()[:3] == ["HOST", "NAME", "RUNTIME"]
    assert table[1].split()[:4] == [specs[0], "remote-1", "pi", "alive"]
    assert table[2].startswith(specs[1]) and "error: ssh: connect to host 127.0.0.1" in table[2]
    assert render.hosts_summary(results) == "2 agents: 2 ok; 4 hosts, 2 not reached"

    document = json.loads(json.dumps(fleet_hosts.to_document(results)))
    assert document["schema"] == 1
    assert [h["host"] for h in document["hosts"]] == specs
    assert document["hosts"][0]["run_dir"] == str(run_dir) and document["hosts"][1]["run_dir"] is None
    assert [(a["host"], a["name"], a["healthy"]) for a in document["agents"]] == [
        (specs[0], "remote-1", True), (specs[1], None, False),
        (specs[2], "remote-1", True), (specs[3], None, False),
    ]
    assert "Connection refused" in document["agents"][1]["detail"]


def test_remote_command_setting(sshd, tmux, run_dir, agent, monkeypatch):
    # mosaic off the remote PATH, as with pyenv or a virtualenv: name it.
    monkeypatch.setenv("MOSAIC_REMOTE_COMMAND", f"{shlex.quote(sys.executable)} -m mosaic_launch")
    (result,) = _ps(sshd, tmux, run_dir, sshd.spec())
    assert result.error is None and [r.name for r in result.agents] == ["remote-1"]

    monkeypatch.setenv("MOSAIC_REMOTE_COMMAND", "mosaic-not-installed-here")
    (result,) = _ps(sshd, tmux, run_dir, sshd.spec())
    assert result.error.startswith(
        "'mosaic-not-installed-here' not found on the host (set MOSAIC_REMOTE_COMMAND)")

    monkeypatch.setenv("MOSAIC_REMOTE_COMMAND", "echo")  # answers, but not with a document
    (result,) = _ps(sshd, tmux, run_dir, sshd.spec())
    assert result.error == "bad answer: not a fleet ps --json document"


def test_values_reach_the_remote_mosaic_intact(sshd, tmux, tmp_path):
    """A run dir full of shell syntax goes through ssh and the remote shell
    as one word: the remote ps reports that very dir, and nothing ran."""
    odd = tmp_path / "run $(touch pwned) `touch pwned2`; touch pwned3 'x'"
    (result,) = _ps(sshd, tmux, odd, sshd.spec())
    assert result.error is None, result.error
    assert result.run_dir == str(odd) and result.agents == []
    # An unquoted word would have run in the session's directory: the
    # user's home from the password database (sshd does not use $HOME).
    places = [tmp_path, Path(os.environ["HOME"]), Path(pwd.getpwuid(os.geteuid()).pw_dir)]
    assert not [p for place in places for p in place.iterdir() if p.name.startswith("pwned")]


# ---- the command: mosaic fleet ps --host ------------------------------------------------




def test_cli_merges_hosts_with_a_host_column(sshd, tmux, run_dir, agent):
    dead_port = free_port()
    unreachable = f"127.0.0.1:{dead_port}"
    started = time.monotonic()
    done = mosaic_proc("fleet", "ps", "--host", sshd.spec(), "--host", unreachable,
                  "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert time.monotonic() - started < 25
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["HOST", "NAME", "RUNTIME"]
    assert lines[1].split()[:5] == [sshd.spec(), "remote-1", "pi", "alive", "ok"]
    assert lines[2].split()[:2] == [unreachable, "error:"] and "Connection refused" in lines[2]
    assert lines[-1] == "1 agent: 1 ok; 2 hosts, 1 not reached"


def test_cli_check_covers_every_host(sshd, tmux, run_dir, agent):
    common = ["--socket", tmux.socket_name, "--run-dir", run_dir, "--check"]
    assert mosaic_proc("fleet", "ps", "--host", sshd.spec(), *common).returncode == 0
    unreachable = f"127.0.0.1:{free_port()}"
    assert mosaic_proc("fleet", "ps", "--host", sshd.spec(), "--host", unreachable, *common).returncode == 1
    os.kill(agent["pane_pid"], signal.SIGKILL)
    wait_for(lambda: mosaic_proc("fleet", "ps", "--host", sshd.spec(), *common).returncode == 1, 20,
             "--check to fail on the dead agent")


def test_cli_hosts_from_the_environment_as_json(sshd, tmux, run_dir, agent):
    unreachable = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, MOSAIC_FLEET_HOSTS=f"{sshd.spec()}, {unreachable}")
    done = mosaic_proc("fleet", "ps", "--json", "--socket", tmux.socket_name, "--run-dir", run_dir, env=env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [(h["host"], h["error"] is None) for h in document["hosts"]] == [(sshd.spec(), True),
                                                                             (unreachable, False)]
    assert [(a["host"], a["name"], a["heartbeat"]) for a in document["agents"]] == [
        (sshd.spec(), "remote-1", "ok"), (unreachable, None, "error")]


def test_cli_rejects_a_bad_host_before_any_ssh():
    done = mosaic_proc("fleet", "ps", "--host", "web1;touch x")
    assert done.returncode == 2
    assert done.stderr.startswith("mosaic: error: invalid host 'web1;touch x'")
    done = mosaic_proc("fleet", "ps", env=dict(os.environ, MOSAIC_FLEET_HOSTS="-oProxyCommand=sh"))
    assert done.returncode == 2 and "MOSAIC_FLEET_HOSTS" in done.stderr
