"""deploy/grafana/support.json: a dashboard Grafana imports (its datasource asked for at import), laid out on the
24-column grid, whose every query reads metrics the service really exports, and which shows each series an alert
rule watches, so the person paged finds it on the dashboard."""

from __future__ import annotations

import json
from typing import Any

import yaml

from testkit.server import ROOT
from tests.ops.exported import metrics_in, series_names

DASHBOARD = ROOT / "deploy" / "grafana" / "support.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def graphs() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_the_dashboard_is_one_grafana_imports() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    for panel in graphs():
        assert panel["title"] and panel["description"], panel
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(t["expr"].strip() and t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]


def test_every_query_reads_what_the_service_exports(exposition: str) -> None:
    exported = series_names(exposition)
    for panel in graphs():
        for target in panel["targets"]:
            read = metrics_in(target["expr"])
            assert read, f"{panel['title']}: {target['expr']} reads no metric of the service"
            unknown = read - exported
            assert not unknown, f"{panel['title']} reads {unknown}, which the service does not export"


def test_what_each_alert_watches_is_on_the_dashboard() -> None:
    shown = {name for panel in graphs() for target in panel["targets"] for name in metrics_in(target["expr"])}
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        assert metrics_in(rule["expr"]) <= shown, f"{rule['alert']}: {metrics_in(rule['expr']) - shown} not shown"
