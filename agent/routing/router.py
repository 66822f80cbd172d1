"""Which route a turn starts on, decided in the service before the first model call, without asking a model.

    simple    a read-only lookup (an order's status, the customer's profile, a product) or a question about the
              store's policies the help centre answers
    default   everything else: a change to an order or the account, several requests in one message, a
              conversation with a held call still open (a confirmation card, an approval), a run resumed after a
              decision, a person asked for, and anything the router cannot place

The router reads the words of the message, in one pass over its tokens (work linear in its length, and bounded:
a long message goes to `default` without being read further). It errs towards `default`: a wrong `default` costs
money, a wrong `simple` is caught later anyway, because the simple model's answer is only acted on when it reads
(`agent.routing.routes`). So `simple` needs a reason and `default` does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SIMPLE = "simple"
DEFAULT = "default"
MAX_ROUTED_CHARS = 400
"""A message longer than this is not a quick lookup: it goes to `default` unread."""


class Reason(StrEnum):
    """Why a turn went where it went: a short code, for the run, the span and the metric."""

    ROUTING_OFF = "routing_off"
    LOOKUP = "read_only_lookup"
    HELP_CENTRE = "help_centre_question"
    WRITE = "asks_for_a_change"
    SEVERAL = "several_requests"
    HELD_CALL = "open_held_call"
    RESUMED = "resumed_after_decision"
    STATE_UNKNOWN = "conversation_state_unknown"
    PERSON = "asks_for_a_person"
    LONG = "long_message"
    UNCLEAR = "unclear"


@dataclass(frozen=True, slots=True)
class RouteChoice:
    route: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What the service knows about a turn before any model call."""

    message: str
    open_held_call: bool | None
    """Whether a confirmation or an approval of the conversation is still waiting; None when not known."""
    resumed: bool = False
    """The run continues a paused one after a person decided: its message is the service's notice."""


_TOKEN = re.compile(r"[a-z0-9#]+")
"""Words, split at apostrophes too: "what's" reads as `what s`, "I'd" as `i d`."""
_SENTENCE = re.compile(r"([^?!.;\n]+)([?!.;\n]*)")
_JOINERS = re.compile(r" and also | also | and then | then | plus | as well as ")
_ORDER_ID = re.compile(r"#?w\d{7}")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


CHANGE = _words(
    "cancel cancelled canceled cancelling cancellation return returning returned refund refunded refunds exchange "
    "exchanging swap replace replacement change changing modify update switch edit remove add move redirect "
    "compensate compensation reimburse reimbursement charge charged credit waive discount instead mistake"
)
"""Words of a request to change something: the tools that write."""
LOOKUP = _words(
    "where status track tracking shipped shipping delivered arrive arrives arrived arriving arrival order orders "
    "details detail show list see check profile account address email payment methods balance product products "
    "item items price prices cost costs option options colour colours color colors size sizes available "
    "availability bought ordered purchase purchased placed eta stock variants types sell"
)
"""Words of a question the read tools answer."""
POLICY = _words(
    "policy policies warranty guarantee ship deliver delivery abroad international countries canada long days "
    "weeks take takes work works gift card cards paypal privacy data personal allowed possible rules fee fees "
    "free damaged broken missing wrong secure security password"
)
"""Words of a question about how the store works: the help centre's topics."""
PERSON = _words(
    "human person agent manager supervisor representative someone somebody complaint complain lawyer sue "
    "ridiculous unacceptable terrible worst useless angry furious scam fraud"
)
"""Asking for a person, or upset: a careful answer (and perhaps a hand-off) from the capable model."""
UNUSUAL = _words(
    "ignore instructions instruction prompt pretend system developer jailbreak override admin administrator verbatim"
)
"""Words of a message trying to steer the assistant rather than asking the store something."""
ASKING = CHANGE | LOOKUP | POLICY
QUESTION_OPENERS = _words("how what when why which where is are do does can could will would should")
IMPERATIVE_OPENERS = _words("please show tell give send find check track list look get") | CHANGE
ASKS_TO_ACT = ("can you", "could you", "would you", "will you", "please", "i want", "i d like", "i would like",
               "i need", "go ahead", "do it", "for me")  # fmt: skip
REFERS_BACK = ("what about", "same for", "the other", "that one", "this one", "those", "them", "it too")


def choose_route(facts: TurnFacts) -> RouteChoice:
    """The route a turn starts on, and why."""
    if facts.resumed:
        return RouteChoice(DEFAULT, Reason.RESUMED)
    if facts.open_held_call is None:
        return RouteChoice(DEFAULT, Reason.STATE_UNKNOWN)
    if facts.open_held_call:
        return RouteChoice(DEFAULT, Reason.HELD_CALL)
    if len(facts.message) > MAX_ROUTED_CHARS:
        return RouteChoice(DEFAULT, Reason.LONG)
    return _by_words(facts.message.lower())


def _by_words(text: str) -> RouteChoice:
    words = _TOKEN.findall(text)
    vocabulary = set(words)
    padded = f" {' '.join(words)} "
    if vocabulary & PERSON:
        return RouteChoice(DEFAULT, Reason.PERSON)
    if vocabulary & UNUSUAL or any(f" {phrase} " in padded for phrase in REFERS_BACK):
        return RouteChoice(DEFAULT, Reason.UNCLEAR)
    orders = {word.lstrip("#") for word in words if _ORDER_ID.fullmatch(word)}
    if len(orders) > 1 or _requests_in(text) > 1:
        return RouteChoice(DEFAULT, Reason.SEVERAL)
    asks_to_act = any(f" {phrase} " in padded for phrase in ASKS_TO_ACT)
    # A question about how the store works, not about one of the customer's orders nor asking to act on one.
    general_question = "?" in text and bool(words) and words[0] in QUESTION_OPENERS and not orders and not asks_to_act
    if vocabulary & CHANGE:
        # "How long does a refund take?" is a question about the store; "refund my order" is a request.
        return RouteChoice(SIMPLE, Reason.HELP_CENTRE) if general_question else RouteChoice(DEFAULT, Reason.WRITE)
    if vocabulary & POLICY and general_question:
        return RouteChoice(SIMPLE, Reason.HELP_CENTRE)
    if vocabulary & LOOKUP:
        return RouteChoice(SIMPLE, Reason.LOOKUP)
    # An order id in words the router does not know (another language, a bare reply): not clearly a lookup.
    return RouteChoice(DEFAULT, Reason.UNCLEAR)


def _requests_in(text: str) -> int:
    """How many requests the message makes: its questions and its imperatives that ask for something, and each
    part joined by "also", "then", "plus". A sentence of context ("It was meant to come on Monday.") is none."""
    parts = _JOINERS.split(text)
    if len(parts) > 1:
        asking = sum(bool(set(_TOKEN.findall(part)) & ASKING) for part in parts)
        if asking > 1:
            return asking
    requests = 0
    for sentence, end in _SENTENCE.findall(text):
        words = _TOKEN.findall(sentence)
        if not words or not set(words) & ASKING:
            continue
        if "?" in end or words[0] in IMPERATIVE_OPENERS or words[0] in ("can", "could", "would", "i"):
            requests += 1
    return requests
