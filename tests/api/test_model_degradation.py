"""No silent degradation: a request the provider refuses is our defect, and says so in the ERROR log (with the
part of the request that was refused), in the `support.model.rejected` metric by reason, in `/healthz` and
`/readyz` (degraded, with the reason; readiness stays 200 since the fallback answers), and on the run
(`fallback_reason`)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agent.errors import ModelRejected
from agent.models.circuit import CircuitBreaker
from agent.models.fallback import LIMITED_MODE, FallbackChain
from agent.models.health import ModelHealth
from agent.models.offline import OfflineModel
from agent.models.scripted import ScriptedModel
from agent.telemetry.recorder import Telemetry
from testkit.fakes.anthropic_api import FakeMessagesAPI, call, http_error, say
from testkit.service import anthropic_settings, bearer, running_service

JAMES = "james_li_5688"
REFUSAL = (
    "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` "
    "is enabled, a final `assistant` message must start with a thinking block"
)


def rejected_counts(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    counts: dict[str, int] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "support.model.rejected":
                    for point in metric.data.data_points:
                        counts[str(point.attributes["reason"])] = int(point.value)  # type: ignore[index, attr-defined]
    return counts


async def test_a_refused_request_is_logged_counted_and_shown_as_degraded(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    with FakeMessagesAPI() as api:
        api.add(call("get_order_details", {"order_id": "#W2611340"}), say("It is processed."), http_error(400, REFUSAL))
        async with running_service(sqlite_url, telemetry=telemetry, **anthropic_settings(api.base_url)) as service:
            before = (await service.http.get("/healthz")).json()
            conversation = await service.new_conversation(JAMES)
            first = (await service.say(JAMES, conversation, "Where is my order #W2611340?")).json()["run"]
            with caplog.at_level(logging.ERROR, logger="agent.models.health"):
                second = (await service.say(JAMES, conversation, "thanks")).json()["run"]
            health = await service.http.get("/healthz")
            ready = await service.http.get("/readyz")
            read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        api.assert_done()
    assert before["status"] == "ok" and before["model_health"] == {"status": "ok", "problems": []}
    assert (first["model"]["provider"], first["fallback_reason"]) == ("anthropic", None)
    # The customer is answered by the fallback, and the run says why.
    assert second["model"]["provider"] == "offline" and second["reply"].startswith(LIMITED_MODE)
    reason = "anthropic:claude-sonnet-4-6 refused the request: thinking_blocks_missing (400)"
    assert second["fallback_reason"] == reason
    assert read.json()["runs"][-1]["fallback_reason"] == reason
    # ERROR, with the refused part of the request: the first answer's tool call, as it was sent.
    [logged] = [r for r in caplog.records if r.name == "agent.models.health" and r.levelno == logging.ERROR]
    assert "thinking_blocks_missing" in logged.getMessage()
    assert 'refused part: messages.1.content.0: {"type": "tool_use"' in logged.getMessage()
    assert rejected_counts(reader) == {"thinking_blocks_missing": 1}
    # Degraded, with the reasons; ready all the same.
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    problems = {p["reason"]: p for p in health.json()["model_health"]["problems"]}
    assert set(problems) == {"rejected:thinking_blocks_missing", "fallback"}
    assert problems["rejected:thinking_blocks_missing"]["model"] == "anthropic:claude-sonnet-4-6"
    assert problems["fallback"]["model"] == "offline:offline-intent-1"
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["model_health"]["status"] == "degraded"


def test_a_problem_clears_once_it_has_not_been_seen_for_the_window() -> None:
    now = [0.0]
    health = ModelHealth(window_s=600, clock=lambda: now[0])
    error = ModelRejected("refused", status=400, reason="empty_text", excerpt="messages.3.content.0: ...")
    health.rejected("anthropic", "claude-sonnet-4-6", error)
    now[0] = 300
    health.rejected("anthropic", "claude-sonnet-4-6", error)
    [problem] = health.problems()
    assert (problem.reason, problem.count, health.status) == ("rejected:empty_text", 2, "degraded")
    now[0] = 899
    assert health.status == "degraded"
    now[0] = 901
    assert (health.problems(), health.status) == ([], "ok")


def test_an_open_circuit_reads_degraded() -> None:
    broken = CircuitBreaker(failure_threshold=1)
    broken.record_failure()
    chain = FallbackChain([ScriptedModel(), OfflineModel()], breakers=[broken, CircuitBreaker()])
    [problem] = chain.health.problems()
    assert (problem.reason, problem.model) == ("circuit_open", "scripted:scripted-1")
