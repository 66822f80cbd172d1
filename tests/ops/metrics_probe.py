"""The service's `/metrics` as Prometheus scrapes it, from a process of its own (the metrics set-up is once per
process): `python -m tests.ops.metrics_probe DATABASE_URL` prints the exposition text.

The service answers a customer's turn, takes the customer's thumbs-down on it, and answers a request for a
conversation that does not exist, so the chat, tool, feedback, flag, HTTP and approval series are there from real
requests. A counter appears only once something was counted, and the offline model never costs money, falls back or
is refused; those three are recorded through the service's own `Telemetry` (as a run answered by a priced fallback
model and a refused request would be), so their names are the exporter's, not ours."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from opentelemetry.trace import INVALID_SPAN

from agent.conversations.tables import Run
from basics.clock import utcnow
from testkit.service import bearer, running_service


async def scrape(database_url: str) -> str:
    async with running_service(database_url, SUPPORT_METRICS="true") as service:
        conversation = await service.new_conversation("james_li_5688")
        answered = await service.say("james_li_5688", conversation, "Where is my order #W2611340?")
        assert answered.status_code == 200, answered.text
        verdict = await service.http.post(
            f"/v1/conversations/{conversation}/feedback",
            json={"run_id": answered.json()["run"]["id"], "helpful": False},
            headers=bearer("james_li_5688"),
        )
        assert verdict.status_code == 201, verdict.text  # counts support.feedback and a thumbs_down flag
        missing = await service.http.get("/v1/conversations/conv_missing", headers=bearer("james_li_5688"))
        assert missing.status_code == 404, missing.text
        telemetry = service.services.loop.telemetry
        started = utcnow()
        telemetry.finish_run(
            INVALID_SPAN,
            Run(
                id="run_probe",
                conversation_id=conversation,
                customer_id="james_li_5688",
                status="completed",
                model_provider="anthropic",
                model_name="claude-haiku-4-5",
                started_at=started,
                finished_at=started + timedelta(seconds=2),
                cost_micro_usd=12_000,
                fallback_reason="model_overloaded: the first model was overloaded",
                route="default",
                prompt_version="v1",
            ),
        )
        telemetry.rejected.add(1, {"reason": "invalid_request"})
        answer = await service.http.get("/metrics")
        assert answer.status_code == 200, answer.text
        return answer.text


if __name__ == "__main__":
    sys.stdout.write(asyncio.run(scrape(sys.argv[1])))
