"""The Prometheus path, end to end, with the real engines: mosaic launch (with
MOSAIC_TEXTFILE_DIR) -> the sidecar's textfile -> node_exporter's textfile
collector -> Prometheus, evaluating the shipped rules in docs/prometheus/.

Needs Debian's `prometheus` (with promtool) and `prometheus-node-exporter`;
.ci/run installs them. Without them these tests skip, saying so."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.parse
from pathlib import Path

import pytest

import mosaic_hb

from tests.support.run import mosaic_proc
from tests.support.services import HttpService, http_get
from tests.support.wait import every, wait_for

DOCS = Path(__file__).resolve().parent.parent / "docs" / "prometheus"
RULES = DOCS / "mosaic-rules.yml"

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
MISSING = [name for name, path in (("prometheus", PROMETHEUS), ("promtool", PROMTOOL),
                                   ("prometheus-node-exporter", NODE_EXPORTER)) if path is None]
needs_prometheus = pytest.mark.skipif(
    bool(MISSING),
    reason=f"not installed: {', '.join(MISSING)} (apt-get install prometheus prometheus-node-exporter)",
)

SCRAPE_TIMEOUT = 30.0  # a sample seen through the query API (scrapes every 1 s)
ALERT_TIMEOUT = 60.0   # the dead alert firing (for: 0s, evaluated every 1 s)


@pytest.fixture
def textfile_dir(tmp_path) -> Path:
    path = tmp_path / "textfile"
    path.mkdir()
    return path


@pytest.fixture
def node_exporter(tmp_path, textfile_dir):
    service = HttpService(
        "node_exporter", tmp_path / "node_exporter.log",
        lambda port: [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
                      "--collector.disable-defaults", "--collector.textfile",
                      f"--collector.textfile.directory={textfile_dir}"],
        "/metrics",
    )
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def prometheus(tmp_path, node_exporter):
    """Prometheus scraping NODE_EXPORTER every second, with a copy of the
    shipped rules file, byte for byte."""
    config_dir = tmp_path / "prometheus"
    config_dir.mkdir()
    shutil.copyfile(RULES, config_dir / "mosaic-rules.yml")
    config = config_dir / "prometheus.yml"
    # JSON is YAML: no YAML library needed to write the config.
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["mosaic-rules.yml"],
        "scrape_configs": [{
            "job_name": "node",
            "static_configs": [{"targets": [f"127.0.0.1:{node_exporter.port}"]}],
        }],
    }, indent=2))
    service = HttpService(
        "prometheus", tmp_path / "prometheus.log",
        lambda port: [PROMETHEUS, f"--config.file={config}",
                      f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{port}"],
        "/-/ready",
    )
    try:
        yield service.start()
    finally:
        service.stop()


def api(prometheus: HttpService, path: str, **params) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    answer = http_get(f"{prometheus.url}/api/v1/{path}{query}")
    assert answer is not None, f"prometheus stopped answering:\n{prometheus.tail()}"
    status, body = answer
    document = json.loads(body)
    assert status == 200 and document["status"] == "success", document
    return document["data"]


def instant(prometheus: HttpService, expr: str) -> dict[str, str]:
    """agent -> value of each series that EXPR returns now."""
    data = api(prometheus, "query", query=expr)
    return {sample["metric"].get("agent", ""): sample["value"][1] for sample in data["result"]}


def firing(prometheus: HttpService, alertname: str, agent: str) -> dict | None:
    for alert in api(prometheus, "alerts")["alerts"]:
        labels = alert["labels"]
        if (labels.get("alertname"), labels.get("agent"), alert["state"]) == (alertname, agent, "firing"):
            return alert
    return None


def launch_agent(tmux, run_dir, name: str, textfile_dir: Path) -> dict:
    """`mosaic launch NAME` with MOSAIC_TEXTFILE_DIR set, as a user would."""
    env = dict(os.environ, MOSAIC_TEXTFILE_DIR=str(textfile_dir))
    done = mosaic_proc("launch", name, "--socket", tmux.socket_name, "--run-dir", run_dir,
                  "--command", "sleep 300", "--interval", "0.5", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---- without the engines -----------------------------------------------------


def test_launch_passes_the_textfile_dir_to_the_sidecar(tmux, run_dir, textfile_dir):
    out = launch_agent(tmux, run_dir, "exported", textfile_dir)
    prom = textfile_dir / "mosaic_exported.prom"
    assert prom.exists()
    assert 'mosaic_agent_up{agent="exported",runtime="pi"} 1' in prom.read_text().splitlines()
    os.kill(out["pane_pid"], signal.SIGKILL)
    wait_for(lambda: 'mosaic_agent_up{agent="exported",runtime="pi"} 0' in prom.read_text().splitlines(),
             10, "the sidecar to write mosaic_agent_up 0")


def test_a_deliberate_stop_retires_the_metrics(tmux, run_dir, textfile_dir):
    launch_agent(tmux, run_dir, "retired", textfile_dir)
    prom = textfile_dir / "mosaic_retired.prom"
    assert prom.exists()
    env = dict(os.environ, MOSAIC_TEXTFILE_DIR=str(textfile_dir))
    done = mosaic_proc("stop", "retired", "--socket", tmux.socket_name, "--run-dir", run_dir, env=env)
    assert done.returncode == 0, done.stderr
    assert mosaic_hb.read(run_dir / "retired.hb").status == "stopped"
    assert not prom.exists()  # no dead alert for an agent stopped on purpose


def test_fleet_up_passes_the_textfile_dir_to_the_sidecars(tmux, run_dir, textfile_dir, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text("\n".join([
        f"socket = {json.dumps(tmux.socket_name)}",
        f"run_dir = {json.dumps(str(run_dir))}",
        "interval = 0.5",
        *(f'[[agent]]\nname = "{name}"\ncommand = "sleep 300"' for name in ("fa", "fb")),
        "",
    ]))
    done = mosaic_proc("fleet", "up", "--file", fleet, env=dict(os.environ, MOSAIC_TEXTFILE_DIR=str(textfile_dir)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in textfile_dir.iterdir()) == ["mosaic_fa.prom", "mosaic_fb.prom"]
    done = mosaic_proc("fleet", "down", "--file", fleet)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("fa", "fb"):
        lines = (textfile_dir / f"mosaic_{name}.prom").read_text().splitlines()
        assert f'mosaic_agent_up{{agent="{name}",runtime="pi"}} 0' in lines


# ---- the shipped files ---------------------------------------------------------


@needs_prometheus
def test_shipped_rules_pass_promtool():
    done = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout + done.stderr


@needs_prometheus
def test_shipped_rules_unit_tests_pass():
    """docs/prometheus/mosaic-rules.test.yml: dead fires at once and not also
    stale; stale fires after its for:; textfile errors fire; waiting fires
    past 10 minutes of waiting, and not for a dead agent; dead does not fire
    while a restart waits (up to 10 minutes after the death), and does once
    the restarts gave up."""
    done = subprocess.run([PROMTOOL, "test", "rules", "mosaic-rules.test.yml"], cwd=DOCS,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_prometheus
def test_shipped_scrape_config_is_valid():
    done = subprocess.run([PROMTOOL, "check", "config", "prometheus.yml"], cwd=DOCS,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# ---- end to end ------------------------------------------------------------------


@needs_prometheus
def test_agent_up_then_dead_alert_fires(tmux, run_dir, textfile_dir, prometheus):
    name = "promagent"
    out = launch_agent(tmux, run_dir, name, textfile_dir)

    up = wait_for(every(0.2, lambda: instant(prometheus, f'mosaic_agent_up{{agent="{name}"}}')),
                  SCRAPE_TIMEOUT, f"mosaic_agent_up{{agent={name!r}}} through Prometheus")
    assert up == {name: "1"}
    # All the gauges arrive, with the agent's labels and the scrape's; the
    # state is one-hot, a series per state.
    series = api(prometheus, "series", **{"match[]": f'{{__name__=~"mosaic_agent_.+",agent="{name}"}}'})
    assert sorted(s["__name__"] for s in series) == [
        "mosaic_agent_heartbeat_interval_seconds", "mosaic_agent_heartbeat_timestamp_seconds",
        "mosaic_agent_start_time_seconds", *["mosaic_agent_state"] * 5,
        "mosaic_agent_state_since_seconds", "mosaic_agent_up",
    ]
    assert all(s["runtime"] == "pi" and s["job"] == "node" and "pid" not in s for s in series)
    assert instant(prometheus, "node_textfile_scrape_error") == {"": "0"}
    assert firing(prometheus, "MosaicAgentDead", name) is None

    os.kill(out["pane_pid"], signal.SIGKILL)

    alert = wait_for(every(0.2, lambda: firing(prometheus, "MosaicAgentDead", name)), ALERT_TIMEOUT,
                     f"MosaicAgentDead firing for {name} in /api/v1/alerts")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["runtime"] == "pi"
    assert float(alert["value"]) == 0
    assert instant(prometheus, f'mosaic_agent_up{{agent="{name}"}}') == {name: "0"}
    # Dead is not also reported as a stale heartbeat.
    assert instant(prometheus, 'ALERTS{alertname="MosaicAgentHeartbeatStale"}') == {}
