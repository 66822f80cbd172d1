"""The deterministic offline model: pattern-based intents, real tool calls, templated replies."""

from agent.models.offline.model import OfflineModel

__all__ = ["OfflineModel"]
