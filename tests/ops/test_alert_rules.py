"""deploy/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`), each alert shown to fire and to stay
quiet on synthetic series (`promtool test rules tests/ops/alerts_test.yml`), written for a person on call, and
reading only metrics the service really exports (a renamed metric fails here, not silently in production).

promtool comes with Debian's `prometheus` package; `.ci/run` installs it where it is missing. Without it these
tests skip, except in CI (`CI=true`), where a missing promtool is a failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.server import ROOT
from tests.ops.exported import metrics_in, series_names

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "tests" / "ops" / "alerts_test.yml"
SEVERITIES = {"critical", "warning"}
WANTED = {
    "SupportFallbackModelAnswering": "support_runs_fallback_total",
    "SupportModelRequestsRejected": "support_model_rejected_total",
    "SupportModelRefusedToAnswer": "support_run_flags_total",
    "SupportSlowAnswers": "support_turn_duration_seconds_bucket",
    "SupportServerErrors": "http_server_duration_milliseconds_count",
    "SupportCostAboveLastWeek": "support_run_cost_USD_total",
    "SupportApprovalWaiting": "support_approvals_oldest_age_seconds",
    "SupportUngroundedReplies": "support_run_flags_total",
    "SupportHelpfulRateFalling": "support_feedback_total",
}
"""What the issue asks to be warned about, by alert, with the series each must read."""


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").is_file() else None)
    if found:
        return found
    message = "no promtool found (install Debian's `prometheus` package)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: CI must check the alert rules")
    pytest.skip(f"alert rule checks skipped: {message}")


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules(promtool: str) -> None:
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_stays_quiet_when_it_should_not(promtool: str) -> None:
    tested = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names == set(WANTED)
    assert fired == names, f"never shown to fire: {names - fired}"
    assert quiet == names, f"never shown to stay quiet: {names - quiet}"


def duration_s(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", text))


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_each_alert_is_written_for_the_person_on_call(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    assert duration_s(rule["for"]) >= 60, "a `for:` of a minute at least, so one bad scrape does not page"
    summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
    assert 10 <= len(summary) <= 80 and "{{" not in summary
    assert len(description.split()) >= 25, "say what it means and what to look at"
    assert WANTED[rule["alert"]] in metrics_in(rule["expr"])


def test_the_rules_read_only_what_the_service_exports(exposition: str) -> None:
    exported = series_names(exposition)
    for rule in alerts():
        unknown = metrics_in(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} reads {unknown}, which the service does not export"


def test_a_renamed_metric_is_caught(exposition: str) -> None:
    exported = series_names(exposition)
    renamed = RULES.read_text().replace("support_runs_total", "support_run_total")
    rules = [r for g in yaml.safe_load(renamed)["groups"] for r in g["rules"]]
    caught = {r["alert"] for r in rules if metrics_in(r["expr"]) - exported}
    assert caught == {"SupportFallbackModelAnswering", "SupportUngroundedReplies"}
    assert metrics_in('sum by (support_route) (rate(support_runs_total{support_run_status="failed"}[5m]))') == {
        "support_runs_total"
    }
