"""The Grafana dashboard and the Prometheus it reads (docker/): every query names a series fedplane
exports, and the compose file provisions what the dashboard and the scrape configuration expect."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.scrape import sample_names

DOCKER = Path(__file__).resolve().parents[2] / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "fedplane.json"

# What PromQL spells with a name that is no metric: keywords, and label lists' clauses.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
             "unless", "inf", "nan", "start", "end"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana's $variables and label_values() included)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # string literals
    expr = re.sub(r"\$\{?\w+(:\w+)?\}?", "", expr)  # Grafana variables ($__rate_interval, ${strategy})
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    expr = re.sub(r"(?<![\w:])\d[\w.+-]*", " ", expr)  # numbers and durations
    label_values = re.fullmatch(r"\s*label_values\(\s*([\w:]+)\s*,\s*\w+\s*\)\s*", expr)
    if label_values:
        return {label_values.group(1)}
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", expr):
        followed = expr[match.end():].lstrip()[:1]
        if followed != "(" and match.group() not in _KEYWORDS:  # a name before "(" is a function
            names.add(match.group())
    return names


def test_metric_names_reads_promql():
    assert metric_names('histogram_quantile(0.95, sum by (le, view) (rate(a_bucket{x="1"}[$__rate_interval])))') \
        == {"a_bucket"}
    assert metric_names("sum(rate(b_total[5m] offset 1h)) / on (x) group_left (y) c * 60 > bool 2e3") \
        == {"b_total", "c"}
    assert metric_names('d{status=~"failed|partial", name="sum(x)"} or e') == {"d", "e"}
    assert metric_names("label_values(f_count, strategy)") == {"f_count"}


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, expression) of every query: each panel target, each templating variable."""
    found = [(f"panel {p['title']!r}", t["expr"]) for p in _panels(dashboard["panels"]) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        found.append((f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query))
    return found


@pytest.mark.django_db
def test_every_query_of_the_dashboard_names_a_series_fedplane_exports(client):
    dashboard = json.loads(DASHBOARD.read_text())
    client.get("/livez")  # the request middleware's families exist once a request went through
    exported = sample_names(client.get("/metrics").content.decode())
    queries = _queries(dashboard)
    assert len(queries) >= 30
    unknown = {(where, name) for where, expr in queries for name in metric_names(expr) if name not in exported}
    assert not unknown, sorted(unknown)
    used = {name for _, expr in queries for name in metric_names(expr)}
    for family in ("fedplane_fl_round_duration_seconds_bucket", "fedplane_fl_round_clients_sum",
                   "fedplane_fl_execution_loss", "fedplane_fl_execution_accuracy", "fedplane_fl_aggregation_seconds_sum",
                   "fedplane_region_request_latency_p95_ms", "fedplane_region_replicas",
                   "fedplane_mf_shell_config_requests_total", "fedplane_mf_canary_traffic_percent"):
        assert family in used, family


def test_the_dashboard_holds_together():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = list(_panels(dashboard["panels"]))
    assert len({p["id"] for p in panels}) == len(panels)
    titles = {p["title"] for p in panels if p["type"] == "row"}
    assert {"Federated learning: training progress", "Round times", "Client participation", "Serving by region",
            "Replication"} <= titles
    datasource = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == uid, panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_compose_provisions_prometheus_and_grafana_with_these_files():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in services["grafana"]["volumes"]}
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/fedplane.yml").read_text())
    assert mounts["./grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert {m.split(":")[0]: m.split(":")[1] for m in services["prometheus"]["volumes"]}[
        "./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"

    scrape = {job["job_name"]: job for job in
              yaml.safe_load((DOCKER / "prometheus/prometheus.yml").read_text())["scrape_configs"]}
    web = scrape["fedplane-web"]["static_configs"][0]["targets"]
    assert web == ["web:8000"] and "8000:8000" in services["web"]["ports"]
    environment = services["worker"]["environment"]
    assert "web" in environment["ALLOWED_HOSTS"]  # Django answers the scrape's Host
    workers = scrape["fedplane-worker"]["dns_sd_configs"][0]
    assert set(workers["names"]) == {"worker", "fl-worker"}
    assert environment["FEDPLANE_WORKER_METRICS_ADDRESS"].endswith(f":{workers['port']}")
    for name in ("web", "worker", "fl-worker"):  # several processes per container: one directory, summed
        assert services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"] in services[name]["tmpfs"]
