"""The typed shapes of every JSON body the API answers with: the one definition each route declares in
`/openapi.json`, each built from the stored records by its own `from_record` (or, from several, `from_records`)
classmethod. Split by area:

    base           the common base (attribute docstrings become field descriptions in the spec)
    errors         the error body and each route's declared error statuses
    conversations  conversations, messages, runs, confirmations: the customer's side
    staff          approvals and hand-offs: the support team's side
    health         probes
    streams        how a route declares a Server-Sent-Events answer
"""

from api.schemas.conversations import (
    ConfirmationAnswerOut,
    ConfirmationOut,
    ConversationDetailOut,
    ConversationOut,
    FeedbackOut,
    HandoffRefOut,
    HeldCallOut,
    MessageOut,
    ModelOut,
    PendingActionOut,
    PendingConfirmationOut,
    RunOut,
    SendMessageOut,
    UsageOut,
)
from api.schemas.errors import ErrorDetail, ErrorOut, error_responses
from api.schemas.health import HealthOut, HelpCentreOut, LiveOut, ModelHealthOut, ModelProblemOut, ReadyOut
from api.schemas.staff import (
    ApprovalDecisionOut,
    ApprovalDetailOut,
    ApprovalOut,
    HandoffDetailOut,
    HandoffOut,
    PolicyOut,
    SettledApprovalOut,
    StaffReplyOut,
)

__all__ = [
    "ApprovalDecisionOut",
    "ApprovalDetailOut",
    "ApprovalOut",
    "ConfirmationAnswerOut",
    "ConfirmationOut",
    "ConversationDetailOut",
    "ConversationOut",
    "ErrorDetail",
    "ErrorOut",
    "FeedbackOut",
    "HandoffDetailOut",
    "HandoffOut",
    "HandoffRefOut",
    "HealthOut",
    "HeldCallOut",
    "HelpCentreOut",
    "LiveOut",
    "MessageOut",
    "ModelHealthOut",
    "ModelOut",
    "ModelProblemOut",
    "PendingActionOut",
    "PendingConfirmationOut",
    "PolicyOut",
    "ReadyOut",
    "RunOut",
    "SendMessageOut",
    "SettledApprovalOut",
    "StaffReplyOut",
    "UsageOut",
    "error_responses",
]
