"""Errors a tool raises. Each becomes an error result the model can read; none leaves a partial write behind.

ToolError                      code, message (safe to show the model and the customer)
├── InvalidArguments           the arguments do not match the tool's schema
├── NotFound                   no such record for this customer (another customer's record looks the same)
├── PreconditionFailed         the store's rules forbid the action in the record's current state
│   └── InsufficientBalance    a gift card cannot cover the amount
├── ConcurrentUpdate           the record changed while the action was being prepared; nothing was written
└── UnknownTool                the model asked for a tool that is not in the registry
"""

from __future__ import annotations

from typing import Any


class ToolError(Exception):
    code: str = "tool_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def as_result(self) -> dict[str, Any]:
        """The error as the model sees it in a tool result."""
        body: dict[str, Any] = {"error": {"code": self.code, "message": self.message}}
        if self.details:
            body["error"]["details"] = self.details
        return body


class InvalidArguments(ToolError):
    code = "invalid_arguments"


class NotFound(ToolError):
    code = "not_found"


class PreconditionFailed(ToolError):
    code = "precondition_failed"


class InsufficientBalance(PreconditionFailed):
    code = "insufficient_balance"


class ConcurrentUpdate(ToolError):
    code = "concurrent_update"


class StoreUnavailable(ToolError):
    code = "store_unavailable"


class UnknownTool(ToolError):
    code = "unknown_tool"
