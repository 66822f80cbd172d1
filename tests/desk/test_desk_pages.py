"""The run review page: each run's model calls and tool calls with the policy's outcome, rule and reason, and
the link to the trace in Jaeger when `JAEGER_UI_URL` is set."""

from __future__ import annotations

import re

from opentelemetry.sdk.trace import TracerProvider

from agent.telemetry.recorder import Telemetry
from testkit.confirm import answer
from testkit.desk import sign_in
from testkit.service import running_service

JAMES = "james_li_5688"


async def test_the_review_page_shows_each_step_and_links_the_trace(sqlite_url: str) -> None:
    telemetry = Telemetry(TracerProvider(), capture_content=False)
    async with running_service(sqlite_url, telemetry=telemetry, JAEGER_UI_URL="http://jaeger.test:16686") as service:
        conversation = await service.new_conversation(JAMES)
        asked = await service.say(JAMES, conversation, "Order #W2611340 arrived damaged, please refund $150")
        await answer(service, JAMES, conversation, asked.json()["run"])
        alice = await sign_in(service.http, "agent_alice", "agent")

        page = await service.http.get(f"/desk/conversations/{conversation}", headers=alice.headers)
        assert page.status_code == 200, page.text
        html = page.text
        assert html.count('class="run"') == 2
        assert "offline" in html and "model call" in html
        assert "issue_refund" in html and "needs_approval" in html
        assert "money.issue_refund.agent_tier" in html and "is above the automatic limit of $25.00" in html
        links = re.findall(r'href="(http://jaeger\.test:16686/trace/[0-9a-f]{32})"', html)
        assert len(links) == 2

        missing = await service.http.get("/desk/conversations/conv_nope", headers=alice.headers)
        assert missing.status_code == 404
