"""The conversation's history is served from the prompt cache: each call reuses the previous call's prefix.

Through the chat API, with Claude reached through the official SDK at the fake Messages API, whose cache
accounting follows the breakpoints each request carries (`testkit.fakes.prompt_cache`). The runs record the cache
read and write tokens the API reported.
"""

from __future__ import annotations

import itertools

from testkit.fakes.anthropic_api import FakeMessagesAPI, call, say
from testkit.fakes.claude_models import MODELS
from testkit.fakes.prompt_cache import MAX_BREAKPOINTS, PromptCache
from testkit.service import anthropic_settings, running_service

JAMES = "james_li_5688"
ORDERS = ("#W2611340", "#W3632959", "#W4435622")
EPHEMERAL = {"type": "ephemeral"}


def marks(body: dict[str, object]) -> int:
    return str(body).count("'cache_control'")


async def test_each_call_reads_the_previous_calls_prompt_from_cache(sqlite_url: str) -> None:
    with FakeMessagesAPI(prompt_cache=True) as api:
        for order in ORDERS:
            api.add(call("get_order_details", {"order_id": order}), say(f"Order {order} is on its way."))
        settings = anthropic_settings(api.base_url)
        async with running_service(sqlite_url, **settings) as service:
            conversation = await service.new_conversation(JAMES)
            runs = []
            for order in ORDERS:
                answer = await service.say(JAMES, conversation, f"What is the status of order {order}?")
                assert answer.status_code == 200, answer.text
                runs.append(answer.json()["run"])
        api.assert_done()
        usages = api.usages
        requests = api.requests
    assert len(usages) == 6
    assert all(marks(request.body) <= MAX_BREAKPOINTS for request in requests)
    for before, after in itertools.pairwise(usages):
        # Everything the previous call sent (read or written) is read back; only the new messages are written.
        assert after.cache_read_input_tokens == before.cache_read_input_tokens + before.cache_creation_input_tokens
        shown = after.input_tokens + after.cache_read_input_tokens + after.cache_creation_input_tokens
        assert after.cache_read_input_tokens / shown >= 0.8
    # Each run records what its two calls read from and wrote to the cache.
    for run, (first, second) in zip(runs, zip(usages[::2], usages[1::2], strict=True), strict=True):
        assert run["usage"]["cache_read_tokens"] == first.cache_read_input_tokens + second.cache_read_input_tokens
        written = first.cache_creation_input_tokens + second.cache_creation_input_tokens
        assert run["usage"]["cache_write_tokens"] == written


def test_without_history_breakpoints_only_the_marked_prefix_is_read() -> None:
    cache = PromptCache()
    system = [{"type": "text", "text": "rules " * 1000, "cache_control": EPHEMERAL}]
    first = {"model": "claude-sonnet-4-6", "system": system, "messages": [{"role": "user", "content": "hello"}]}
    second = {**first, "messages": [*first["messages"], {"role": "assistant", "content": "hi"}]}
    cache.usage(first)
    usage = cache.usage(second)
    assert usage.cache_read_input_tokens > 0
    assert usage.cache_creation_input_tokens == 0
    assert usage.input_tokens > 0  # the unmarked history is plain input every time


def test_a_prefix_under_the_models_minimum_is_not_cached() -> None:
    """prompt-caching: "shorter prompts cannot be cached, even if marked with cache_control"."""
    cache = PromptCache({"claude-haiku-4-5": 4096})
    body = {
        "model": "claude-haiku-4-5",
        "system": [{"type": "text", "text": "rules " * 1000, "cache_control": EPHEMERAL}],
        "messages": [{"role": "user", "content": "hello"}],
    }
    assert cache.usage(body).cache_creation_input_tokens == 0
    assert cache.usage(body).cache_read_input_tokens == 0


def test_the_fakes_cache_is_per_model_with_each_models_own_minimum() -> None:
    """A conversation moving between models (a route's) does not read the other model's cache, and the fake API
    applies each model's own minimum (`testkit.fakes.claude_models`): the same ~1500-token prefix is cached on
    Claude Sonnet 4.6 (1024) and on neither Claude Haiku 4.5 nor Opus 4.6 (4096)."""
    cache = PromptCache({model.id: model.min_cacheable_tokens for model in MODELS.values()})
    system = [{"type": "text", "text": "rules " * 1000, "cache_control": EPHEMERAL}]  # about 1500 tokens
    body = {"system": system, "messages": [{"role": "user", "content": "hello"}]}
    assert cache.usage({**body, "model": "claude-sonnet-4-6"}).cache_creation_input_tokens > 0
    assert cache.usage({**body, "model": "claude-sonnet-4-6"}).cache_read_input_tokens > 0
    other = cache.usage({**body, "model": "claude-opus-4-8"})
    assert other.cache_read_input_tokens == 0 and other.cache_creation_input_tokens > 0
    for small_cache in ("claude-haiku-4-5", "claude-opus-4-6"):
        for _ in range(2):
            small = cache.usage({**body, "model": small_cache})
            assert (small.cache_read_input_tokens, small.cache_creation_input_tokens) == (0, 0)
