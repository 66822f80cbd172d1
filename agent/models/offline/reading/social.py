"""What a customer says that is not a request about an order: greetings, thanks, goodbyes, questions about the
assistant itself, and anger.

Each kind gets its own short reply (`wording.SOCIAL_REPLIES`), so "how are you" is not answered with the
list of everything the assistant can do. Anger is read before any request: an upset customer is handed to a
person, whatever else the message asks, because a rule-based assistant is the wrong one to calm them.
"""

from __future__ import annotations

import re
from enum import StrEnum

from agent.models.offline.reading.patterns import pattern


class Social(StrEnum):
    GREETING = "greeting"
    HOW_ARE_YOU = "how_are_you"
    WHO_ARE_YOU = "who_are_you"
    """"Are you a bot?", "am I talking to a person?": always answered plainly, never claiming to be a person."""
    THANKS = "thanks"
    GOODBYE = "goodbye"


_PROFANITY = pattern(
    r"\b(fuck\w*|f\*+k\w*|shit\w*|bullshit|crap|damn\w*|wtf|piss\w*|bloody hell|screw (you|this)|idiot\w*|"
    r"scam\w*|bastard\w*|arse|asshole\w*|sucks)\b"
)
_COMPLAINT = pattern(
    r"\b(ridiculous|unacceptable|outrageous|furious|angry|fed up|sick of|tired of|worst|useless|pathetic|"
    r"disgusting|terrible service|awful|(a|a bad|a sick) joke|incompetent|lawyer|sue you|never (again|buying))\b"
)
_WORD = pattern(r"[A-Za-z]{2,}")

# Checked in this order; each must be most of the message, so "hi, where is #W1234567?" is a request.
_SOCIAL_PATTERNS: tuple[tuple[Social, re.Pattern[str]], ...] = (
    (
        Social.WHO_ARE_YOU,
        pattern(
            r"\b(are|r) (you|u) (a |an |the )?(real |actual )?(bot|robot|human|person|machine|ai|computer|"
            r"program|chatbot|real|people)\b|\b(am i|are we) (talking|speaking|chatting) (to|with) (a |an )?"
            r"(bot|robot|human|person|machine|ai|computer|real)\b|\bwho (are|r) (you|u)\b|\bwhat are you\b"
        ),
    ),
    (
        Social.HOW_ARE_YOU,
        pattern(
            r"\bhow (are|r) (you|u)\b|\bhow('s| is) it going\b|\bhow do you do\b|\bcomment (ça|ca) va\b|"
            r"\b(ça|ca) va\b|\bwie geht'?s\b|\bwie geht es (dir|ihnen)\b|\bqu[ée] tal\b|\bc[óo]mo est[áa]s?\b"
        ),
    ),
    (Social.GOODBYE, pattern(r"\b(bye|goodbye|good bye|see you|see ya|that'?s all|that is all|have a nice)\b")),
    (
        Social.THANKS,
        pattern(r"\b(thanks|thank you|thank u|thx|ty|cheers|much appreciated|merci|gracias|danke)\b"),
    ),
    (
        Social.GREETING,
        pattern(
            r"^\s*(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings|hola|hallo|bonjour|salut|"
            r"buenos d[íi]as|buenas|guten (tag|morgen|abend)|servus)\b"
        ),
    ),
)


def is_angry(text: str) -> bool:
    """Swearing, an outright complaint, or a message shouted in capitals (three or more words)."""
    lowered = text.lower()
    if _PROFANITY.search(lowered) or _COMPLAINT.search(lowered):
        return True
    words = _WORD.findall(text)
    shouted = [w for w in words if w.isupper()]
    return len(words) >= 3 and len(shouted) >= 3 and len(shouted) * 4 >= len(words) * 3


def read_social(lowered: str) -> Social | None:
    for kind, matcher in _SOCIAL_PATTERNS:
        if matcher.search(lowered):
            return kind
    return None
