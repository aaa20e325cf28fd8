"""packaging/grafana/reservoir.json and packaging/prometheus/alerts.yml only use metrics that
a live Reservoir's /metrics really exposes."""
from __future__ import annotations

import json
import os
import re

import pytest

import harness

prometheus_parser = pytest.importorskip(
    "prometheus_client.parser",
    reason="python3-prometheus-client is not installed (scripts/bootstrap installs it)")

GRAFANA = os.path.join(harness.REPO_ROOT, "packaging", "grafana", "reservoir.json")
ALERTS = os.path.join(harness.REPO_ROOT, "packaging", "prometheus", "alerts.yml")
METRIC = re.compile(r"\breservoir_[a-z0-9_]+")


def exposed_names(res) -> set[str]:
    status, body = res.http_get("/metrics")
    assert status == 200
    names = set()
    for family in prometheus_parser.text_string_to_metric_families(body):
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


def grafana_exprs() -> list[str]:
    with open(GRAFANA) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v.get("query", "") for v in dash["templating"]["list"]
              if isinstance(v.get("query"), str)]
    return exprs


def alert_exprs() -> list[str]:
    yaml = pytest.importorskip("yaml", reason="python3-yaml is not installed")
    with open(ALERTS) as f:
        rules = yaml.safe_load(f)
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"], rule
            out.append(rule["expr"])
    return out


def test_dashboard_and_alerts_use_only_real_metrics(reservoir):
    res = reservoir(pool_mode="transaction")
    conn = res.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        with pytest.raises(Exception):
            cur.execute("SELECT * FROM missing_table")  # so reservoir_errors_total has a sample
    names = exposed_names(res)
    conn.close()
    referenced = {}
    for source, exprs in (("grafana", grafana_exprs()), ("alerts", alert_exprs())):
        for expr in exprs:
            for name in METRIC.findall(expr):
                referenced.setdefault(name, source)
    assert len(referenced) >= 10
    missing = {name: src for name, src in referenced.items() if name not in names}
    assert not missing, f"metrics used in packaging/ but not in /metrics: {missing}"
    # The alerts cover what the issue asks for.
    alerts = " ".join(alert_exprs())
    for needed in ("reservoir_pool_utilization_ratio", "reservoir_wait_timeouts_total",
                   "reservoir_server_connect_failures_total", "reservoir_pool_long_transactions"):
        assert needed in alerts
