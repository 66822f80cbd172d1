"""Grounded replies through the chat API: a policy question is answered from the help centre with a citation,
never by starting a flow, and the run records what the answer rests on (passages on the step and the span, the
knowledge-base version on the run)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func
from sqlmodel import col, select

from agent.conversations.tables import Run, Step
from agent.telemetry.recorder import Telemetry
from api.app import create_app
from testkit.service import ServiceClient, running_service, service_settings
from tools.knowledge.errors import EmbeddingsMisconfigured
from tools.knowledge.tables import KbState
from tools.store.tables import LedgerEntry

JAMES = "james_li_5688"
ARTICLES = "https://help.example-store.com/articles/"


async def ask(service: ServiceClient, question: str) -> tuple[dict[str, object], Run, list[Step]]:
    conversation = await service.new_conversation(JAMES)
    answer = await service.say(JAMES, conversation, question)
    assert answer.status_code == 200, answer.text
    run = answer.json()["run"]
    async with service.services.database.session(readonly=True) as session:
        stored = await session.get(Run, run["id"])
        steps = (await session.exec(select(Step).where(Step.run_id == run["id"]).order_by(col(Step.position)))).all()
    assert stored is not None
    return run, stored, list(steps)


async def test_a_policy_question_gets_a_cited_answer_and_no_return_flow(database_url: str) -> None:
    async with running_service(database_url) as service:
        run, stored, steps = await ask(service, "What's your return policy?")
        async with service.services.database.session(readonly=True) as session:
            state = await session.get(KbState, "help_centre")
            writes = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert run["status"] == "completed" and run["pending_action"] is None
    reply = str(run["reply"])
    assert reply.startswith("From our help centre: ")
    assert reply.endswith(f"Source: Our return policy ({ARTICLES}returns-policy)")
    assert "Please confirm" not in reply and "Which of them" not in reply
    assert [s.kind for s in steps] == ["model", "tool", "model"]
    search = steps[1]
    assert search.tool == "search_help_centre" and search.decision == "allow"
    assert writes == 0
    assert state is not None and stored.kb_version == state.version == search.result["kb_version"]
    assert run["kb_version"] == state.version  # the API shows which help centre the answer came from
    assert search.passages and search.passages[0]["article_id"] == "returns-policy"
    assert search.passages == [
        {"id": p["passage_id"], "article_id": p["article_id"], "score": p["score"]} for p in search.result["passages"]
    ]


@pytest.mark.parametrize(
    ("question", "article", "fact"),
    [
        ("How long does shipping take to Canada?", "shipping-regions", "Canada"),
        ("How long do refunds take to reach my card?", "refund-timing", "5 to 7 business days"),
        ("How do I cancel my order?", "cancel-order", "pending"),
        ("Can I exchange shoes for a bigger size?", "exchanges", "same product"),
        ("What payment methods do you accept?", "payment-methods", "PayPal"),
        ("Does my laptop have a warranty?", "warranty", "manufacturer"),
        ("¿Cuánto tarda el reembolso?", "refund-timing", "refund"),
    ],
)
async def test_common_questions_are_answered_from_their_article(
    sqlite_url: str, question: str, article: str, fact: str
) -> None:
    async with running_service(sqlite_url) as service:
        run, _, steps = await ask(service, question)
    reply = str(run["reply"])
    assert run["status"] == "completed"
    assert reply.endswith(f"({ARTICLES}{article})") and fact in reply
    assert [s.tool for s in steps if s.kind == "tool"] == ["search_help_centre"]


async def test_an_order_request_still_acts_and_records_no_help_centre_version(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        run, stored, steps = await ask(service, "Where is my order #W2611340?")
    assert "#W2611340" in str(run["reply"]) and "help centre" not in str(run["reply"])
    assert stored.kb_version is None and all(s.passages is None for s in steps)


async def test_the_search_span_carries_the_passages(sqlite_url: str) -> None:
    exported = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exported))
    telemetry = Telemetry(tracer_provider, MeterProvider(), capture_content=False)
    try:
        async with running_service(sqlite_url, telemetry=telemetry) as service:
            _, _, steps = await ask(service, "Do you ship to Mexico?")
    finally:
        tracer_provider.shutdown()
    [span] = [s for s in exported.get_finished_spans() if s.name == "execute_tool search_help_centre"]
    attributes = span.attributes or {}
    passages = steps[1].passages
    assert list(attributes["support.kb.passage_ids"]) == [p["id"] for p in passages]  # type: ignore[arg-type]
    assert list(attributes["support.kb.scores"]) == [p["score"] for p in passages]  # type: ignore[arg-type]


async def test_healthz_says_the_search_is_keyword_only_without_an_embedding_model(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        health = (await service.http.get("/healthz")).json()["help_centre"]
    assert health["search"] == "keyword" and health["embeddings"] is None
    assert health["articles"] >= 30 and health["passages"] > health["articles"] and len(health["version"]) == 16


async def test_a_malformed_embeddings_setting_stops_the_start_with_its_reason(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url, SUPPORT_EMBEDDINGS="text-embedding-3-small"))
    with pytest.raises(EmbeddingsMisconfigured, match="openai:<model>@<base url>"):
        async with app.router.lifespan_context(app):
            pass


@pytest.fixture(autouse=True)
def _keyword_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the keyword-only default, whatever the machine's environment says."""
    monkeypatch.delenv("SUPPORT_EMBEDDINGS", raising=False)
