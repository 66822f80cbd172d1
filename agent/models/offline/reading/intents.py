"""The offline model's intents, and the words that name each: the first request's intent decides what it does."""

from __future__ import annotations

from enum import StrEnum

from agent.models.offline.reading.patterns import Matcher, in_order, pattern


class Intent(StrEnum):
    HUMAN = "human"
    CANCEL = "cancel"
    RETURN = "return"
    SWAP = "swap"
    """Exchange items of a delivered order, or change the items of a pending one: the order's status decides."""
    ADDRESS = "address"
    PAYMENT = "payment"
    REFUND = "refund"
    ACCOUNT = "account"
    STATUS = "status"
    QUESTION = "question"
    """A general question about the store's policies, answered from the help centre rather than by acting."""
    OPTIONS = "options"
    """Which other options (colours, sizes) an item of an order comes in."""
    CATALOGUE = "catalogue"
    """What the store sells."""
    PROBLEM = "problem"
    """A delivered order reported missing, damaged or wrong: the help centre's article, and a person offered."""


# Checked in this order: the first match wins, so "cancel and refund" is a cancellation, and "return for a
# refund" a return. A request for a person comes first: "thanks. can I speak to a person about a delivery?" is
# not a question about deliveries.
INTENT_PATTERNS: tuple[tuple[Intent, tuple[Matcher, ...]], ...] = (
    (
        Intent.HUMAN,
        (
            pattern(
                r"\b(human|real person|(a|another) person|representative|someone real|supervisor|manager|"
                r"live (agent|person|chat)|customer (service|support|care)|operator|"
                r"(an|real|support|human|service) agent|somebody real)\b"
            ),
            pattern(r"\b(speak|talk|chat|get through) (to|with) (someone|somebody|anyone|a team member|your team)\b"),
        ),
    ),
    (Intent.CANCEL, (pattern(r"\bcancel|\bstorn|\bannul"),)),
    (Intent.RETURN, (pattern(r"\b(return|send (it|them|this|these) back)\b"),)),
    (
        Intent.SWAP,
        (
            pattern(r"\b(exchange|swap)\b"),
            in_order(r"\b(change|switch|modify)\b", r"\b(item|size|colou?r|option)s?\b"),
        ),
    ),
    (Intent.ADDRESS, (pattern(r"\baddress\b"), in_order(r"\bship\b", r"\bto\b"))),
    (
        Intent.PAYMENT,
        (
            pattern(r"\bpayment\b"),
            in_order(r"\bpay\b", r"\b(with|by|using|instead)\b"),
            in_order(r"\bhow\b", r"\bpaid\b"),
        ),
    ),
    # "change the thermostat to the black one": an item change named by what it becomes.
    (Intent.SWAP, (in_order(r"\b(change|switch|swap)\b", r"\b(to|for|into) (a|an|the)\b"),)),
    (
        Intent.OPTIONS,
        (pattern(r"\b(what|which) (other )?(colou?rs?|sizes?|options|versions|variants)\b|\bcome in\b"),),
    ),
    (
        Intent.CATALOGUE,
        (
            pattern(
                r"\bwhat (kinds? of |sorts? of |types? of )?(products|things|items)?\s*+(do you|you) sell\b"
                r"|\bwhat products\b"
            ),
        ),
    ),
    (Intent.REFUND, (pattern(r"\b(refund|compensat\w*|money back|goodwill)\b"),)),
    # Something went wrong with a delivered (or shipped) order: the help centre's article and a person. After
    # a refund: "arrived damaged, please refund $20" asks for one.
    (
        Intent.PROBLEM,
        (
            pattern(
                r"\b(never|didn'?t|did not|haven'?t|have not|hasn'?t|has not|not yet|still not|still haven'?t) "
                r"(got|get|gotten|received?|arrived?|came|come|shown up|showed up)\b"
                r"|\b(not|never) (arrived|received|delivered)\b|\b(missing|stolen|lost|damaged|broken|cracked|"
                r"smashed|dented|defective|shattered|torn|leaking|wrong item|wrong size|wrong colou?r)\b"
                r"|\bnot what i ordered\b|\bisn'?t in the (box|package|parcel)\b"
            ),
        ),
    ),
    (Intent.ACCOUNT, (pattern(r"\b(my orders|which orders|what orders|my account|my profile|balance)\b"),)),
    (
        Intent.STATUS,
        (pattern(r"\b(where|status|track\w*|shipped|arriv\w*|deliver\w*|what did i order|what('s| is| was) in)\b"),),
    ),
)
