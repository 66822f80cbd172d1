"""`search_help_centre` through the gate (schema, policy, execution): keyword search on both backends, its
recall on the labelled questions, each passage's relevance, hostile queries, and hybrid search fused by
reciprocal rank fusion against a fake embeddings server."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from agent.conversations.tables import Step
from agent.models.scripted import ScriptedModel, call, say
from agent.turn.tool_gate import ToolGate
from basics.database import Database
from policies.engine import PolicyEngine
from testkit.calls import submit
from testkit.fakes.embeddings_api import FakeEmbeddings
from testkit.http_server import served
from testkit.service import ServiceClient, running_service
from tools import registry
from tools.knowledge.embeddings import BATCH, QUERY_ATTEMPTS
from tools.knowledge.evaluation import evaluate, load_questions
from tools.knowledge.importer import DEFAULT_DIRECTORY
from tools.knowledge.search import RELEVANT_ENOUGH, RRF_K, HelpCentre

JAMES = "james_li_5688"


async def search(db: Database, engine: PolicyEngine, query: Any) -> Any:
    return await submit(ToolGate(db, engine, registry), JAMES, "search_help_centre", query=query)


async def test_a_question_finds_its_article_through_the_policy_engine(db: Database, engine: PolicyEngine) -> None:
    outcome = await search(db, engine, "How long does shipping take to Canada?")
    assert outcome.decision is not None and outcome.decision.allowed and outcome.decision.rule == "read.allowed"
    assert outcome.result is not None and outcome.result.ok
    content = outcome.result.content
    assert content["search"] == "keyword" and len(content["kb_version"]) == 16
    top = content["passages"][0]
    assert top["article_id"] == "shipping-regions"
    assert top["title"] == "Where we ship" and top["url"].endswith("/articles/shipping-regions")
    assert top["section"] and "Canada" in top["text"] and top["keyword_rank"] == 1 and top["vector_rank"] is None
    assert [p["score"] for p in content["passages"]] == sorted((p["score"] for p in content["passages"]), reverse=True)


@pytest.mark.parametrize(
    ("query", "article"),
    [
        ("What's your return policy?", "returns-policy"),
        ("¿Cómo puedo cancelar mi pedido?", "cancel-order"),
        ("Wie lange dauert die Rückerstattung?", "refund-timing"),
    ],
)
async def test_questions_in_other_words_and_languages(
    db: Database, engine: PolicyEngine, query: str, article: str
) -> None:
    outcome = await search(db, engine, query)
    assert outcome.result is not None
    assert article in [p["article_id"] for p in outcome.result.content["passages"][:3]]


@pytest.mark.parametrize(
    "query",
    ["NEAR(return refund, 2)", '"unbalanced quote', "title:cancel OR *", "'; DROP TABLE kb_passages; --", "!!! ???"],
)
async def test_what_customers_type_is_never_read_as_search_syntax(
    db: Database, engine: PolicyEngine, query: str
) -> None:
    outcome = await search(db, engine, query)
    assert outcome.result is not None and outcome.result.ok, outcome.result
    again = await search(db, engine, "return policy")  # the tables are still there
    assert again.result is not None and again.result.content["passages"]


@pytest.mark.parametrize("query", ["", "   ", "x" * 2001, 42, None])
async def test_an_invalid_query_is_refused_before_anything_runs(
    db: Database, engine: PolicyEngine, query: object
) -> None:
    outcome = await search(db, engine, query)
    assert outcome.decision is None
    assert outcome.result is not None and outcome.result.error_code == "invalid_arguments"


async def search_step(service: ServiceClient, query: str) -> tuple[dict[str, Any], Step]:
    """Ask a scripted model to search, through the chat API; return the run and its search step."""
    assert isinstance(service.services.model, ScriptedModel)
    service.services.model.add(call("search_help_centre", {"query": query}), say("Here is what I found."))
    conversation = await service.new_conversation(JAMES)
    answer = await service.say(JAMES, conversation, query)
    assert answer.status_code == 200, answer.text
    run = answer.json()["run"]
    async with service.services.database.session(readonly=True) as session:
        step = (
            await session.exec(select(Step).where(Step.run_id == run["id"], col(Step.tool) == "search_help_centre"))
        ).one()
    return run, step


async def test_hybrid_search_fuses_keyword_and_vector_ranks(database_url: str) -> None:
    fake = FakeEmbeddings()
    async with served(fake.app()) as url:
        spec = f"openai:fake-embed@{url}/v1"
        async with running_service(database_url, ScriptedModel(), SUPPORT_EMBEDDINGS=spec) as service:
            health = (await service.http.get("/healthz")).json()["help_centre"]
            assert health["search"] == "hybrid" and health["embeddings"] == spec
            # Every passage was embedded at start-up, in batches.
            assert sum(len(r["input"]) for r in fake.requests) == health["passages"] > BATCH
            assert len(fake.requests) == 2

            # No article says "mandar de vuelta": only the vectors know it means returning something.
            run, vector_only = await search_step(service, "¿Puedo mandar de vuelta algo?")
            _, both = await search_step(service, "What's your return policy?")
    assert run["status"] == "completed"
    top = vector_only.result["passages"][0]
    assert top["keyword_rank"] is None and top["vector_rank"] == 1 and "return" in top["text"].lower()
    top = both.result["passages"][0]
    assert top["article_id"] == "returns-policy" and top["keyword_rank"] and top["vector_rank"]
    for step in (vector_only, both):
        assert step.result["search"] == "hybrid"
        passages = step.result["passages"]
        for passage in passages:
            ranks = (passage["keyword_rank"], passage["vector_rank"])
            assert passage["score"] == pytest.approx(sum(1 / (RRF_K + r) for r in ranks if r is not None), abs=1e-6)
        assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
        assert step.passages == [
            {"id": p["passage_id"], "article_id": p["article_id"], "score": p["score"]} for p in passages
        ]


async def test_a_failing_embeddings_endpoint_leaves_keyword_search(database_url: str) -> None:
    fake = FakeEmbeddings()
    async with served(fake.app()) as url:
        spec = f"openai:fake-embed@{url}/v1"
        async with running_service(database_url, ScriptedModel(), SUPPORT_EMBEDDINGS=spec) as service:
            fake.fail_next = 100
            before = len(fake.requests)
            run, step = await search_step(service, "What's your return policy?")
    assert len(fake.requests) - before == QUERY_ATTEMPTS  # retried once, then given up
    assert run["status"] == "completed"
    assert step.result["search"] == "keyword (embeddings unavailable)"
    assert step.result["passages"][0]["article_id"] == "returns-policy"


async def test_labelled_questions_find_their_article_on_both_databases(db: Database) -> None:
    """Issue 24's bar, on every backend alike (the ranking is in process): the labelled article first for four
    questions in five, and in the top five for nineteen in twenty."""
    questions = load_questions(DEFAULT_DIRECTORY / "questions.yaml")
    assert len(questions) >= 131  # the 91 of before, and 40 more written as customers write
    scores = await evaluate(db, HelpCentre(), questions, "keyword")
    assert scores.recall_at_1 >= 0.8, scores
    assert scores.recall_at_5 >= 0.95, scores


@pytest.mark.parametrize(
    ("query", "article"),
    [
        ("how long does shipping usually take?", "shipping-times"),
        ("can I return something I bought 2 months ago?", "returns-policy"),
        ("how many days do I have to send something back", "returns-policy"),
        ("what do you do with my personal data", "privacy"),
        ("is there a phone number", "contact-a-person"),
        ("how do I retrun something", "returns-policy"),  # a misspelt word is read as the one it misspells
    ],
)
async def test_the_everyday_questions_of_the_issue_get_the_article_that_answers_them(
    db: Database, engine: PolicyEngine, query: str, article: str
) -> None:
    outcome = await search(db, engine, query)
    assert outcome.result is not None
    top = outcome.result.content["passages"][0]
    assert top["article_id"] == article
    assert top["relevance"] >= RELEVANT_ENOUGH


@pytest.mark.parametrize(
    "query", ["do you sell bicycles", "who won the game last night", "can you recommend a good laptop"]
)
async def test_a_question_the_help_centre_does_not_answer_is_not_relevant_enough(
    db: Database, engine: PolicyEngine, query: str
) -> None:
    outcome = await search(db, engine, query)
    assert outcome.result is not None
    passages = outcome.result.content["passages"]
    assert all(p["relevance"] < RELEVANT_ENOUGH for p in passages)
