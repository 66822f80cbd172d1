"""What the offline model understands in a customer's words: an intent and the slots it needs.

Plain patterns, no learning: order ids (`#W1234567`, `W1234567`), 10-digit item ids, dollar amounts, payment
method ids or their kind ("gift card", "paypal"), cancellation reasons, a comma-separated address, and yes/no.
Anything it does not recognise leaves the slot empty, and the planner asks for it.

A message may hold several requests ("cancel #W1 and return the shoes from #W2"): it is cut into `Request`s,
each with only its own order and words, so one request's intent is never applied to another's order. Words
that point back ("it", "that one", "the second one") are kept as slots, resolved by `conversation.py` against
what the assistant showed last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise

from agent.models.offline.reading.addresses import read_address
from agent.models.offline.reading.intents import INTENT_PATTERNS, Intent
from agent.models.offline.reading.patterns import pattern
from agent.models.offline.reading.social import Social, is_angry, read_social
from agent.models.offline.reading.typos import corrected

# "the one that was delivered", "the shipped one": which order, not a question about its status.
_DESCRIBES_ORDER = pattern(
    r"\bthe (one|order) (that|which) (was|is|has been|got) (delivered|shipped|processed|pending)\b"
    r"|\bthe (delivered|shipped|processed|pending) (one|order)\b"
)
_NOT_A_PERSON = pattern(
    r"\b(don'?t|do not|no need to|not|never) (want|need|have) to (speak|talk|chat)\b|\bnot (a|another) person\b"
)

# A question: asked as one (or naming a policy). A policy question is also about a policy topic, about no
# particular order, and not a request ("can you cancel..."): "What's your return policy?" must not start a return.
_ASKS = pattern(
    r"^\s*+(what|what's|whats|how|when|do you|does|is there|are there|is it|can i|could i|may i|am i|why|which|"
    r"if i|who|where can|where do|will i|will you|should i|do i|did you|are you|have you)\b"
    r"|\?\s*+$|^\s*+¿|\b(policy|policies)\b"
    r"|^\s*+(wie|was|kann ich|gibt es|liefert|cuánto|cuanto|cómo|como|puedo|hacen)\b"
)
_REQUESTS = pattern(r"^\s*+(can|could|would|will) you\b|\b(i want|i'd like|i would like|i need|please)\b")
_POLICY_TOPIC = pattern(
    r"\b(return|refund|money back|ship|shipping|deliver|delivery|international|countr\w*|canada|mexico|abroad|"
    r"cancel\w*|exchange|swap|pay|payment|paypal|gift ?cards?|warrant\w*|guarantee|damaged|broken|defective|missing|"
    r"stolen|lost|privacy|personal data|data|password|account|policy|policies|reembolso|devoluci\w+|env[ií]o\w*|"
    r"garant\w+|r[üu]ckgabe|umtausch\w*|erstattung|r[üu]ckerstattung|versand|zahlung\w*|storn\w+|phone|email)"
)
_ORDER_ID = pattern(r"#?\s?\b[Ww](\d{7})\b")
_ITEM_ID = pattern(r"\b(\d{10})\b")
_AMOUNT = pattern(r"\$\s?(\d{1,7}(?:\.\d{1,2})?)\b|\b(\d{1,7}(?:\.\d{1,2})?)\s?(?:dollars|usd)\b")
_METHOD_ID = pattern(r"\b((?:gift_card|credit_card|paypal)_\d{1,12})\b")
_METHOD_KINDS = (
    ("gift_card", pattern(r"\bgift ?card\b")),
    ("paypal", pattern(r"\bpay ?pal\b")),
    ("credit_card", pattern(r"\b(credit card|visa|mastercard|amex|card)\b")),
)
_ORIGINAL_METHOD = pattern(r"\b(original|same) (payment|method|card)\b")
_YES = pattern(r"^\s*+(yes|yeah|yep|yup|sure|ok|okay|confirm(ed)?|go ahead|please do|do it|correct)\b")
# "no", or "actually never mind" / "forget it" anywhere: the customer drops what was open.
_NO = pattern(
    r"^\W*+(?:(?:actually|oh|ok|okay|wait|hmm+|um+|sorry|well)\W++){0,3}"
    r"(no|nope|don'?t|do not|stop|never ?mind|cancel that|scratch that|forget (it|that|about it))\b"
    r"|\b(never ?mind|forget (about )?(it|that|this)|scratch that)\b"
)
_DEFAULT_ADDRESS = pattern(r"\b(default|profile|account|my address|home address)\b")
_EVERYTHING = pattern(r"\b(all|everything|every item|whole order|entire order)\b")
_REFERS_BACK = pattern(r"\b(it|that|this|them|those|these|that one|this one|the (same )?order|same one)\b")
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
    "latest": -1,
    "most recent": -1,
}
_ORDINAL = pattern(r"\bthe (first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|latest|most recent)\b")
# Where one request may end and the next begin. The joining word's leading whitespace can only start a match
# where its run starts (the lookbehind), so a long run of spaces is scanned once, not once per position.
_BOUNDARY = pattern(
    r"[.?!;\n]++\s*+|(?<![\s,]),?+\s++(?:and also|and then|also|then|plus|and|but)\s++|,\s++", re.IGNORECASE
)
MAX_PIECES = 40
"""Pieces of one message read as possible separate requests; the rest belongs to the last one. A message of
hundreds of sentences is not hundreds of requests, and reading each on its own would cost hundreds of readings."""
_READ_ONLY = frozenset({"status", "account", "question", "options", "catalogue", "problem"})
_NOT_THE_METHOD = pattern(
    r"\b(instead of|rather than|from|not)\s++(my |the |a |your )?(gift ?card|pay ?pal|credit card|card)\b"
)
_MISTAKE = pattern(r"\bmistake|\baccident|\bwrong order\b")
_NOT_NEEDED = pattern(
    r"no longer need|don'?t need|do not need|not needed|changed my mind|don'?t want|nicht mehr|"
    r"brauche (sie|es|ihn) nicht|ya no|no (lo|la) necesito|plus besoin"
)


@dataclass(frozen=True, slots=True)
class Slots:
    """Everything a message says that a tool call could use. Empty means the message did not say it."""

    order_ids: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()
    amount: Decimal | None = None
    method_ids: tuple[str, ...] = ()
    method_kind: str | None = None
    original_method: bool = False
    cancel_reason: str | None = None
    address: dict[str, str] | None = None
    default_address: bool = False
    everything: bool = False
    refers_back: bool = False
    """The customer points at something already mentioned: "cancel it", "that one"."""
    ordinal: int | None = None
    """ "The second one" is 2, "the last one" -1: a position in the list the assistant showed last."""
    words: str = ""
    """The message, lowercased, for matching item names later."""

    def merged_with(self, newer: Slots) -> Slots:
        """Slots of a conversation thread: what the newer message says replaces what an older one said, except
        item ids, which add up ("item 1 for the blue one" then "1234567890 please" names both sides)."""
        return Slots(
            order_ids=newer.order_ids or self.order_ids,
            item_ids=tuple(dict.fromkeys((*self.item_ids, *newer.item_ids))),
            amount=newer.amount if newer.amount is not None else self.amount,
            method_ids=newer.method_ids or self.method_ids,
            method_kind=newer.method_kind or self.method_kind,
            original_method=newer.original_method or self.original_method,
            cancel_reason=newer.cancel_reason or self.cancel_reason,
            address=newer.address or self.address,
            default_address=newer.default_address or self.default_address,
            everything=newer.everything or self.everything,
            refers_back=newer.refers_back or self.refers_back,
            ordinal=newer.ordinal if newer.ordinal is not None else self.ordinal,
            words=f"{self.words}\n{newer.words}".strip(),
        )


@dataclass(frozen=True, slots=True)
class Request:
    """One thing the customer asked for, with only the words (and so the order ids) that belong to it."""

    intent: Intent | None
    slots: Slots
    text: str

    @property
    def read_only(self) -> bool:
        return self.intent is None or self.intent.value in _READ_ONLY


@dataclass(frozen=True, slots=True)
class Reading:
    intent: Intent | None
    slots: Slots = field(default_factory=Slots)
    yes: bool = False
    no: bool = False
    requests: tuple[Request, ...] = ()
    """The message cut into requests; more than one only when it asks for things on different orders."""
    social: Social | None = None
    angry: bool = False


def read(text: str) -> Reading:
    lowered = text.lower()
    requests = read_requests(text)
    first = requests[0] if requests else read_request(text)
    social = read_social(lowered) if not first.slots.order_ids else None
    if social is Social.WHO_ARE_YOU:
        requests = ()  # "are you a real person?" asks about the assistant; it is not a request for one
    elif first.intent is not None:
        social = None
    person = next((r for r in requests if r.intent is Intent.HUMAN), None)
    if person is not None and first.intent is not Intent.HUMAN:
        # A request for a person anywhere in the message is the one acted on: the person reads the rest.
        requests = (replace(person, slots=first.slots if len(requests) > 1 else read_slots(text)),)
        first = requests[0]
    whole = first if len(requests) == 1 and first.text == text.strip() else None
    return Reading(
        intent=first.intent if requests else None,
        slots=first.slots if len(requests) > 1 or whole else read_slots(text),
        yes=bool(_YES.search(lowered)),
        no=bool(_NO.search(lowered)),
        requests=requests,
        social=social,
        angry=is_angry(text),
    )


def read_request(text: str) -> Request:
    lowered = corrected(text.lower())
    slots = read_slots(text)
    intent = read_intent(lowered)
    if intent is Intent.STATUS and _DESCRIBES_ORDER.search(lowered):
        intent = None
    if intent in (Intent.ACCOUNT, Intent.HUMAN):
        pass  # "my orders", "my balance" are about the account, and "can I talk to a person?" wants one
    elif asks_about_policy(lowered, slots) or (
        intent is None and is_general_question(lowered, slots) and read_social(lowered) is None
    ):
        intent = Intent.QUESTION
    return Request(intent, slots, text.strip())


def read_requests(text: str) -> tuple[Request, ...]:
    """The message's requests. A piece starts a new request when it is a policy question, or has an intent and
    names an order the request so far does not, and that request is not an action still looking for its order
    ("I want to cancel, it's #W1" is one request). A request naming several orders becomes one per order."""
    cuts = [m.end() for m in _BOUNDARY.finditer(text) if 0 < m.end() < len(text)]
    bounds = [0, *cuts[: MAX_PIECES - 1], len(text)]
    read_pieces: dict[tuple[int, int], Request] = {}

    def read_part(begin: int, end: int) -> Request:
        if (begin, end) not in read_pieces:  # a request of one piece is not read twice
            read_pieces[begin, end] = read_request(text[begin:end])
        return read_pieces[begin, end]

    starts = [0]
    first = read_part(0, bounds[1])
    orders, awaits_order = set(first.slots.order_ids), _awaits_order(first)
    said_something = first.intent is not None  # "ok. now cancel #W1" is one request, not "ok" and a cancel
    for begin, end in pairwise(bounds[1:]):  # each piece is read once: a long message stays cheap
        piece = read_part(begin, end)
        new_orders = set(piece.slots.order_ids) - orders
        own_request = (piece.intent is not None and new_orders and not awaits_order) or piece.intent in (
            Intent.QUESTION,
            Intent.HUMAN,
        )
        if own_request and (orders or said_something):
            starts.append(begin)
            orders, awaits_order = set(), False
        said_something = said_something or piece.intent is not None
        orders |= set(piece.slots.order_ids)
        awaits_order = (awaits_order or _awaits_order(piece)) and not orders
    requests: list[Request] = []
    for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
        request = read_part(begin, end)
        if len(request.slots.order_ids) < 2:
            requests.append(request)
            continue
        for order_id in request.slots.order_ids:
            own = replace(request.slots, order_ids=(order_id,))
            requests.append(Request(request.intent or Intent.STATUS, own, _only_order(request.text, order_id)))
    return tuple(r for r in requests if r.text)


def _only_order(text: str, order_id: str) -> str:
    """The request's words about one of its orders: "cancel #W1 and #W2, not needed" -> "cancel #W2, not
    needed", so a request quoted back for later names only the order still to do. The other orders' ids go,
    and so does the comma or "and" before each id."""
    parts: list[str] = []
    done = 0
    for found in _ORDER_ID.finditer(text):
        parts.append(_without_joiner(text[done : found.start()]))
        if f"#W{found.group(1)}" == order_id:
            parts.append(found.group().strip())
        done = found.end()
    parts.append(text[done:])
    return " ".join(" ".join(parts).split()).replace(" ,", ",")


def _without_joiner(words: str) -> str:
    trimmed = words.rstrip()
    if trimmed.endswith(","):
        return trimmed[:-1]
    if trimmed.lower().endswith(" and") or trimmed.lower() == "and":
        return trimmed[:-3]
    return trimmed


def _awaits_order(request: Request) -> bool:
    return not request.read_only and not request.slots.order_ids


def is_general_question(lowered: str, slots: Slots) -> bool:
    """A question about no order, item or amount: "and the last one?" points at an order the assistant showed,
    and "is #W1234567 here yet?" is about that order."""
    if slots.order_ids or slots.item_ids or slots.amount is not None or slots.ordinal is not None:
        return False
    return bool(_ASKS.search(lowered))


def asks_about_policy(lowered: str, slots: Slots) -> bool:
    if slots.order_ids or slots.item_ids or slots.amount is not None or _REQUESTS.search(lowered):
        return False
    return bool(_ASKS.search(lowered) and _POLICY_TOPIC.search(lowered))


def read_intent(lowered: str) -> Intent | None:
    for intent, matchers in INTENT_PATTERNS:
        if any(m.search(lowered) for m in matchers):
            if intent is Intent.HUMAN and _NOT_A_PERSON.search(lowered):
                continue
            return intent
    return None


def read_slots(text: str) -> Slots:
    lowered = text.lower()
    order_ids = tuple(dict.fromkeys(f"#W{digits}" for digits in _ORDER_ID.findall(text)))
    return Slots(
        order_ids=order_ids,
        item_ids=tuple(dict.fromkeys(_ITEM_ID.findall(text))),
        amount=_read_amount(lowered),
        method_ids=tuple(dict.fromkeys(_METHOD_ID.findall(lowered))),
        method_kind=_read_method_kind(lowered),
        original_method=bool(_ORIGINAL_METHOD.search(lowered)),
        cancel_reason=_read_cancel_reason(lowered),
        address=read_address(text),
        default_address=bool(_DEFAULT_ADDRESS.search(lowered)),
        everything=bool(_EVERYTHING.search(lowered)),
        refers_back=bool(_REFERS_BACK.search(lowered)),
        ordinal=_ORDINALS[ordinal.group(1)] if (ordinal := _ORDINAL.search(lowered)) else None,
        words=lowered,
    )


def _read_method_kind(lowered: str) -> str | None:
    """The kind of method wanted: in "my credit card instead of the gift card", the credit card."""
    wanted = _NOT_THE_METHOD.sub(" ", lowered)
    return next((kind for kind, matcher in _METHOD_KINDS if matcher.search(wanted)), None)


def _read_amount(lowered: str) -> Decimal | None:
    match = _AMOUNT.search(lowered)
    if match is None:
        return None
    return Decimal(match.group(1) or match.group(2))


def _read_cancel_reason(lowered: str) -> str | None:
    if _MISTAKE.search(lowered):
        return "ordered by mistake"
    if _NOT_NEEDED.search(lowered):
        return "no longer needed"
    return None


_SPANISH = pattern(
    r"¿|¡|\b(cuánto|cuanto|cómo|como|puedo|hacen|qué|que|política|devoluci\w+|reembolso|env[ií]o\w*|pedido|"
    r"garant[ií]a|tiempo|tienen|mi|por favor)\b"
)
_GERMAN = pattern(
    r"\b(wie|was|kann|ich|gibt|es|liefert|ihr|rückgabe|rueckgabe|umtausch\w*|erstattung|versand|zahlung\w*|"
    r"bestellung|lange|dauert|bitte|und|nicht)\b"
)


def language_of(lowered: str) -> str:
    """ "es", "de" or "en": enough to frame an answer in the customer's language, by common words alone."""
    spanish, german = len(_SPANISH.findall(lowered)), len(_GERMAN.findall(lowered))
    if max(spanish, german) < 2:
        return "en"
    return "es" if spanish >= german else "de"
