"""A model plays the customer of a tau2 task, so a live evaluation needs no person at the keyboard.

As in tau2-bench, the simulated customer is told its scenario (why it writes, what it knows and does not know,
how it behaves), speaks one message at a time, and ends the conversation by writing `###STOP###` once its
request is settled (or `###TRANSFER###` when it has been handed to a person). It runs through the same
`AnthropicModel` adapter as the agent, so it honours the same base URL (a fake Messages API in tests) and
retries; its usage is priced with the service's price table and counted against the evaluation's cost cap.

In the API's terms the customer is the *assistant* and the support agent is the *user*. The opening line of
`SYSTEM_PROMPT` is fixed: a test's fake Messages API tells the customer's requests from the agent's by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent import Message, Model, ModelRequest, TextBlock, Usage

STOP = "###STOP###"
TRANSFER = "###TRANSFER###"
ENDINGS = (STOP, TRANSFER)
OPENING = "Hi! How can I help you today?"
"""What the widget shows before the customer writes; the simulated customer answers it first."""

SYSTEM_PROMPT = """You are playing a customer of an online store who is chatting with its support agent.
Stay in character; you are the customer, never the agent.

Rules:
- Write one short message at a time, as a real customer would; do not reveal everything at once.
- Only use the information given below. If asked for something you do not know, say you do not know it.
- Never invent order ids, item ids, emails or addresses.
- When the agent asks you to confirm an action, decide from your instructions whether you want it.
- When your request is fully handled (or cannot be), write only: ###STOP###
- If you are told you are being transferred to a human agent, write only: ###TRANSFER###

Your scenario:
{scenario}"""

CONFIRM_QUESTION = """Before I do this, please confirm: {summary}
Reply with exactly one word: CONFIRM if you want this done exactly as described, or DECLINE if not."""


def scenario_text(instructions: dict[str, Any]) -> str:
    parts = {
        "Why you are writing": instructions.get("reason_for_call"),
        "What you know": instructions.get("known_info"),
        "What you do not know": instructions.get("unknown_info"),
        "How you behave": instructions.get("task_instructions"),
    }
    return "\n".join(f"{label}: {text}" for label, text in parts.items() if text)


@dataclass(slots=True)
class CustomerLine:
    text: str
    usage: Usage
    model: str

    @property
    def ended(self) -> bool:
        return any(ending in self.text for ending in ENDINGS)

    @property
    def spoken(self) -> str:
        """The message without an ending token."""
        text = self.text
        for ending in ENDINGS:
            text = text.replace(ending, "")
        return text.strip()


@dataclass(slots=True)
class SimulatedCustomer:
    model: Model
    instructions: dict[str, Any]
    max_tokens: int = 512
    history: list[Message] = field(default_factory=list)

    @property
    def system(self) -> str:
        return SYSTEM_PROMPT.format(scenario=scenario_text(self.instructions))

    async def reply_to(self, agent_said: str) -> CustomerLine:
        """The customer's next message after the agent said `agent_said` (the opening line, the first time)."""
        return await self._speak(agent_said or "(the agent did not answer)")

    async def decide(self, summary: str) -> tuple[bool, CustomerLine]:
        """Whether the customer confirms the action the service summarised; anything but a clear CONFIRM is a
        decline, so an unsure customer never has a write done on its behalf."""
        line = await self._speak(CONFIRM_QUESTION.format(summary=summary))
        words = line.text.upper()
        return "CONFIRM" in words and "DECLINE" not in words, line

    async def _speak(self, heard: str) -> CustomerLine:
        self.history.append(Message(role="user", content=(TextBlock(heard),)))
        request = ModelRequest(system=self.system, tools=[], messages=list(self.history), max_tokens=self.max_tokens)
        response = await self.model.complete(request)
        text = response.text.strip() or STOP  # a customer with nothing to say has finished
        self.history.append(Message(role="assistant", content=(TextBlock(text),)))
        return CustomerLine(text=text, usage=response.usage, model=response.model or self.model.name)
