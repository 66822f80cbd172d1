"""Every text a customer can read, over the whole seed store: no internal id in any of it, and the right facts.

The walk plans every write tool on every order (and every customer's account) with each of the customer's
payment methods, through the policy engine as the service does: the confirmation card's summary (also the
approval's description), the policy's message to the customer, the service's own words around them, and each
refusal. Each plan that would run is then applied inside a transaction that is rolled back, so the offline
model's report of the result ("Done: ...") and of a team member's decision on it are read too. Then the offline
model's descriptions of every order and account, the feed's tool labels and the service's fixed replies.

An internal id is any payment-method id (`credit_card_9513926`), the digits of one (`9513926`, which read like a
card number that is not the customer's), any item or product id, or any user id: none means anything to a
customer. The facts checked are the ones a customer acts on: the payment method named is the one the money
moves to or from, named the way the customer knows it, with the amount that moves.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from agent.conversations.feed import tool_label
from agent.models.offline import outcomes, wording
from agent.models.offline.conversation import ToolOutcome
from agent.turn import replies
from agent.turn.tool_gate import denial_result
from basics.database import Database
from basics.principal import Principal
from policies.config import PolicyConfig, load_policy
from policies.decision import Decision
from policies.engine import PolicyEngine
from testkit import fixture_data as data
from tools import registry
from tools.call import ToolCall
from tools.context import ToolContext

TOKEN = re.compile(r"[A-Za-z0-9_]+")
YES_NO = ("yes", "no", "none")
REASON = "no longer needed"


def forbidden_tokens() -> set[str]:
    store = data.store()
    tokens: set[str] = set(store["users"])
    for user in store["users"].values():
        for method_id in user["payment_methods"]:
            tokens |= {method_id, method_id.rpartition("_")[2]}
    for product_id, product in store["products"].items():
        tokens |= {product_id, *product["variants"]}
    return tokens


FORBIDDEN = forbidden_tokens()


def known_as(method: dict[str, Any]) -> str:
    """How a customer knows a payment method, written out here rather than asked of the code under test."""
    if method["source"] == "credit_card":
        return f"{method['brand'].capitalize()} ending {method['last_four']}"
    if method["source"] == "paypal":
        return "PayPal"
    return f"gift card (balance ${method['balance']:,.2f})"


def usd(dollars: float) -> str:
    return f"${dollars:,.2f}"


class Walk:
    """The texts read, and what was wrong with them."""

    def __init__(self) -> None:
        self.count = 0
        self.rules: set[str] = set()
        self.leaks: list[str] = []
        self.wrong: list[str] = []

    def read(self, where: str, text: str | None) -> None:
        if not text:
            return
        self.count += 1
        found = set(TOKEN.findall(text)) & FORBIDDEN
        if found:
            self.leaks.append(f"{where}: {sorted(found)} in {text!r}")

    def expect(self, where: str, text: str, *parts: str) -> None:
        missing = [p for p in parts if p not in text]
        if missing:
            self.wrong.append(f"{where}: {missing} not in {text!r}")


def calls_for(order: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every write a customer could ask for on this order: with each of their payment methods, and the item
    choices that work and the ones the store refuses."""
    user = data.user(order["user_id"])
    order_id = order["order_id"]
    methods = list(user["payment_methods"])
    items = order["items"]
    first = items[0]
    variants = data.store()["products"][first["product_id"]]["variants"].values()
    others = [v["item_id"] for v in variants if v["item_id"] != first["item_id"]]
    available = [i for i in others if data.store()["products"][first["product_id"]]["variants"][i]["available"]]
    unavailable = [i for i in others if i not in available]
    held = {i["item_id"] for i in items}
    foreign_item = next(
        v
        for p, product in data.store()["products"].items()
        if p != first["product_id"]
        for v in product["variants"]
        if v not in held
    )
    yield "cancel_pending_order", {"order_id": order_id, "reason": REASON}
    yield "modify_pending_order_address", {"order_id": order_id, **user["address"]}
    yield "issue_refund", {"order_id": order_id, "amount": 10, "reason": "arrived late"}
    yield "issue_refund", {"order_id": order_id, "amount": 100_000, "reason": "arrived late"}
    for method in methods:
        yield "modify_pending_order_payment", {"order_id": order_id, "payment_method_id": method}
        yield (
            "return_delivered_order_items",
            {
                "order_id": order_id,
                "item_ids": [i["item_id"] for i in items],
                "payment_method_id": method,
            },
        )
        for tool in ("modify_pending_order_items", "exchange_delivered_order_items"):
            for new in [*available[:1], *unavailable[:1], first["item_id"], foreign_item]:
                yield (
                    tool,
                    {
                        "order_id": order_id,
                        "item_ids": [first["item_id"]],
                        "new_item_ids": [new],
                        "payment_method_id": method,
                    },
                )
    yield (
        "return_delivered_order_items",
        {
            "order_id": order_id,
            "item_ids": [foreign_item],
            "payment_method_id": methods[0],
        },
    )


def check_facts(walk: Walk, tool: str, arguments: dict[str, Any], order: dict[str, Any], summary: str) -> None:
    """The method a planned write names is the one the money moves to or from, with the amount."""
    methods = data.user(order["user_id"])["payment_methods"]
    where = f"{tool} {order['order_id']}"
    history = order["payment_history"]
    match tool:
        case "cancel_pending_order":
            net: dict[str, float] = defaultdict(float)
            for t in history:
                net[t["payment_method_id"]] += t["amount"] if t["transaction_type"] == "payment" else -t["amount"]
            for method_id, amount in net.items():
                if round(amount, 2) > 0:
                    walk.expect(where, summary, f"{usd(amount)} back to {known_as(methods[method_id])}")
        case "modify_pending_order_payment":
            new, old = methods[arguments["payment_method_id"]], methods[history[0]["payment_method_id"]]
            walk.expect(where, summary, f"with {known_as(new)} instead", f"refunded to {known_as(old)}")
            walk.expect(where, summary, f"{usd(history[0]['amount'])} is charged to it")
        case "return_delivered_order_items":
            prices = {i["item_id"]: i["price"] for i in order["items"]}
            refund = sum(prices[i] for i in arguments["item_ids"])
            walk.expect(where, summary, f"{usd(refund)} back to {known_as(methods[arguments['payment_method_id']])}")
        case "modify_pending_order_items" | "exchange_delivered_order_items":
            item = order["items"][0]
            new = data.store()["products"][item["product_id"]]["variants"][arguments["new_item_ids"][0]]
            difference = round(new["price"] - item["price"], 2)
            method = known_as(methods[arguments["payment_method_id"]])
            if difference > 0:
                walk.expect(where, summary, f"you pay {usd(difference)} more, charged to {method}")
            elif difference < 0:
                walk.expect(where, summary, f"{usd(-difference)} back to {method}")
            changed = {k: v for k, v in new["options"].items() if item["options"].get(k) != v}
            said = [v if not v.isdigit() else f"{k} {v}" for k, v in changed.items() if v not in YES_NO]
            walk.expect(where, summary, item["name"], *said)
        case "issue_refund":
            original = methods[history[0]["payment_method_id"]]
            walk.expect(where, summary, f"refund {usd(arguments['amount'])} on order", f"to {known_as(original)}")


def read_decision(walk: Walk, where: str, tool: str, decision: Decision) -> None:
    walk.rules.add(decision.rule)
    walk.read(f"{where} summary", decision.summary)
    walk.read(f"{where} policy message", decision.customer_message)
    if decision.denied:
        refusal = denial_result(decision).content
        walk.read(f"{where} refusal", refusal["error"]["message"])
        walk.read(f"{where} offline refusal", wording.failure(outcomes.DOING.get(tool, "do that"), refusal))
        return
    walk.read(f"{where} card", replies.confirm_please(decision.summary))
    if decision.needs_approval:
        walk.read(f"{where} awaiting approval", replies.awaiting_approval(decision))


def read_outcomes(walk: Walk, where: str, tool: str, arguments: dict[str, Any], result: dict[str, Any]) -> None:
    """What the offline model says once the write ran: after the customer's confirm, and after each of a team
    member's decisions (an amendment of the amount or the payment method included)."""
    walk.read(f"{where} done", outcomes.report(ToolOutcome(tool, arguments, ok=True, content=result)))
    amended = {**arguments}
    if "amount" in amended:
        amended["amount"] = 5
    if "payment_method_id" in amended:
        amended["payment_method_id"] = "credit_card_0000000"
    for decision in ("approved", "rejected", "expired"):
        notice = {"kind": "approval", "tool": tool, "decision": decision, "arguments": amended, "ok": True}
        walk.read(f"{where} {decision}", outcomes.decided({**notice, "result": result, "note": ""}, arguments))


def limits_reached() -> list[PolicyConfig]:
    """The policy with each cumulative refund limit at zero, so its own message to the customer is read too."""
    policy = load_policy()
    return [
        policy.model_copy(update={"cumulative": policy.cumulative.model_copy(update={limit: 0})})
        for limit in ("customer_refund_limit", "store_daily_refund_budget")
    ]


async def walk_the_store(database: Database, walk: Walk) -> None:
    await walk_orders(database, walk, PolicyEngine(load_policy(), registry), data.store()["orders"].values())
    some = list(data.store()["orders"].values())[:40]
    for policy in limits_reached():
        await walk_orders(database, walk, PolicyEngine(policy, registry), some)


async def walk_orders(database: Database, walk: Walk, engine: PolicyEngine, orders: Iterable[dict[str, Any]]) -> None:
    for order in orders:
        principal = Principal.customer(order["user_id"])
        for tool, arguments in calls_for(order):
            where = f"{tool} {order['order_id']} {arguments.get('payment_method_id', '')}"
            spec = registry.get(tool)
            async with database.session() as session:
                call_args = spec.parse(arguments)
                decision = await engine.evaluate(ToolCall(tool, arguments, "walk"), principal, session, record=False)
                read_decision(walk, where, tool, decision)
                if decision.denied:
                    await session.rollback()
                    continue
                check_facts(walk, tool, arguments, order, decision.summary)
                change = await spec.func(ToolContext(principal=principal, session=session), call_args)
                result = await change.apply()
                await session.rollback()
            read_outcomes(walk, where, tool, arguments, result)


async def read(ctx: ToolContext, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    spec = registry.get(tool)
    result: dict[str, Any] = await spec.func(ctx, spec.parse(arguments))
    return result


async def walk_the_reads(database: Database, walk: Walk) -> None:
    """The offline model's descriptions of every order (with and without the profile at hand) and account."""
    for user_id, user in data.store()["users"].items():
        principal = Principal.customer(user_id)
        async with database.session(readonly=True) as session:
            ctx = ToolContext(principal=principal, session=session)
            profile = await registry.get("get_customer_profile").func(
                ctx, registry.get("get_customer_profile").parse({})
            )
            orders = [
                await registry.get("get_order_details").func(
                    ctx, registry.get("get_order_details").parse({"order_id": o})
                )
                for o in user["orders"]
            ]
        walk.read(f"account {user_id}", wording.describe_account(profile))
        walk.read(f"which order {user_id}", wording.ask_which_order(orders, "cancel"))
        for method in profile["payment_methods"].values():
            walk.read(f"method {user_id}", wording.describe_method(method))
            walk.expect(f"method {user_id}", wording.describe_method(method), known_as(method))
        for order in orders:
            walk.read(f"order {order['order_id']}", wording.describe_order(order, profile))
            walk.read(f"order {order['order_id']} alone", wording.describe_order(order))


def walk_the_fixed_words(walk: Walk) -> None:
    for spec in registry:
        walk.read(f"label {spec.name}", tool_label(spec.name))
    walk.read("label unknown", tool_label("drop_tables"))
    for name in dir(replies):
        value = getattr(replies, name)
        if name.isupper() and isinstance(value, str):
            walk.read(f"replies.{name}", value)
    walk.read("interrupted", replies.interrupted([spec.name for spec in registry]))
    for name in ("GREETING", "NOT_UNDERSTOOD", "LEFT_ALONE", "NOTHING_IN_HELP_CENTRE"):
        walk.read(f"offline {name}", getattr(wording, name))
    for text in wording.SOCIAL_REPLIES.values():
        walk.read("offline social", text)


@pytest.mark.slow
async def test_no_customer_facing_text_names_an_internal_id_and_money_goes_where_it_says(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    walk = Walk()
    started = time.perf_counter()
    try:
        await walk_the_store(database, walk)
        await walk_the_reads(database, walk)
    finally:
        await database.dispose()
    walk_the_fixed_words(walk)
    assert {"cumulative.customer_refunds", "cumulative.store_daily_refunds"} <= walk.rules
    print(f"read {walk.count} customer-facing texts in {time.perf_counter() - started:.1f} s")
    assert walk.count > 20_000
    assert not walk.leaks, "\n".join(walk.leaks[:20]) + f"\n... {len(walk.leaks)} in all"
    assert not walk.wrong, "\n".join(walk.wrong[:20]) + f"\n... {len(walk.wrong)} in all"
