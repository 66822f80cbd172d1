"""Errors of the agent layer.

AgentError
├── ModelError                 a model call failed; the loop ends the run gracefully, never with a 500
│   ├── ModelUnavailable       the provider failed after its own retries (5xx, 429, 529, connection, cut stream)
│   │   └── ModelRetryTooLate  it asked to be retried later than the run can wait: the next model answers at once
│   ├── ModelTimeout           the call passed its hard timeout
│   └── ModelProtocolError     not the provider's fault: the request could not be sent as it was (it held what the
│       │                      SDK cannot encode), or the answer could not be read
│       └── ModelRejected      the provider refused the request (a 4xx other than 429): our defect, reported loudly
│           └── PromptTooLong  the prompt is over the model's context window (or the request over the size limit):
│                              the loop shortens the history and asks once more
├── ConversationBusy           another message of this conversation is being answered right now
├── RateLimited                the customer sent more messages this minute than the limit allows (HTTP 429)
├── ConversationOwned          a person of the support team owns the conversation: no model run starts
├── ApprovalError              a decision on a held action cannot be taken
│   ├── ApprovalNotPending     already decided, or expired (HTTP 409)
│   │   └── ConfirmationNotPending  the customer's confirmation was already answered, or expired (HTTP 409)
│   ├── ApproverLimitExceeded  the amount is above what the approver's role may approve (HTTP 403)
│   └── AmendmentRejected      amended arguments are invalid or refused by the policy (HTTP 422)
├── HandoffError               a step on a handed-off conversation cannot be taken
│   ├── HandoffConflict        already claimed by someone else, or closed (HTTP 409)
│   └── NotHandoffOwner        only the person who claimed it may reply or close (HTTP 403)
├── FeedbackConflict           the customer already gave their verdict on that answer, or it has no reply yet
│                              (HTTP 409)
└── ConfigurationError         a setting names an unknown model or is malformed
"""

from __future__ import annotations


class AgentError(Exception):
    pass


class ModelError(AgentError):
    retryable_elsewhere = True
    """Whether another provider in a fallback chain might do better."""
    provider_fault = True
    """Whether the failure says something about the provider's health. Only these count towards opening its
    circuit breaker: one customer's odd input, or one malformed answer, must not move every other customer to
    the fallback."""


class ModelUnavailable(ModelError):
    pass


class ModelTimeout(ModelError):
    pass


class ModelRetryTooLate(ModelUnavailable):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelProtocolError(ModelError):
    provider_fault = False


class ModelRejected(ModelProtocolError):
    """The provider refused a request we built. `reason` sorts it for the metric and the health status;
    `excerpt` is the part of the request the refusal names, for the ERROR log line."""

    def __init__(self, message: str, *, status: int, reason: str, excerpt: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.excerpt = excerpt

    @property
    def provider_fault(self) -> bool:  # type: ignore[override]
        # A bad key, a missing permission or a model that is gone fail every request alike: let the circuit open.
        return self.status in (401, 403, 404)


class PromptTooLong(ModelRejected):
    pass


class ConversationBusy(AgentError):
    pass


class RateLimited(AgentError):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ConversationOwned(AgentError):
    pass


class ApprovalError(AgentError):
    code = "approval_error"


class ApprovalNotPending(ApprovalError):
    code = "approval_not_pending"


class ConfirmationNotPending(ApprovalNotPending):
    code = "confirmation_not_pending"


class ApproverLimitExceeded(ApprovalError):
    code = "over_approver_limit"


class AmendmentRejected(ApprovalError):
    code = "amendment_rejected"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        """The argument that is wrong, when one is: the desk marks it, the API names it."""


class HandoffError(AgentError):
    code = "handoff_error"


class HandoffConflict(HandoffError):
    code = "handoff_conflict"


class NotHandoffOwner(HandoffError):
    code = "not_handoff_owner"


class FeedbackConflict(AgentError):
    """A verdict the answer cannot take: `feedback_exists` (one per answer) or `no_reply` (nothing to judge yet)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConfigurationError(AgentError):
    pass
