"""The sample Grafana dashboard and the alert rules in etc/ ask only for metrics /metrics has."""
from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from hcserver.spool import Spool
from hcserver.web.metrics import Metrics
from tests.support.queue import make_queue

ETC = Path(__file__).resolve().parent.parent / "etc"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed(tmp_path) -> set[str]:
    metrics = Metrics(make_queue(f"sqlite:///{tmp_path / 'q.db'}"), Spool(tmp_path / "spool"), lambda: {"p"})
    try:
        families = text_string_to_metric_families(metrics.exposition().decode())
        return {f.name + suffix for f in families for suffix in SUFFIXES.get(f.type, ("",))}
    finally:
        metrics.stop()


def test_the_dashboard_and_the_alerts_use_only_exposed_metrics(tmp_path):
    names = exposed(tmp_path)
    assert {"hcserver_jobs", "hcserver_films_printed_total", "hcserver_jobs_finished_total",
            "hcserver_dimse_responses_total", "hcserver_printer_up", "hcserver_printer_stopped",
            "hcserver_printer_accepting", "hcserver_association_failures_total", "hcserver_job_retries_total",
            "hcserver_queue_wait_seconds_bucket", "hcserver_film_print_seconds_bucket",
            "hcserver_spool_bytes"} <= names
    dashboard = json.loads((ETC / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    alerts = (ETC / "prometheus-alerts.yml").read_text()
    used = set(re.findall(r"hcserver_[a-z_]+", " ".join(exprs) + alerts))
    assert used and used <= names, used - names
    assert "alert: HcserverPrinterStopped" in alerts and "for: 10m" in alerts
    assert "histogram_quantile(0.95" in alerts and "alert: HcserverQueueWaitHigh" in alerts
