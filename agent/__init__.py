"""The agent: what `api`, `evals` and `cli` may use of it, and nothing else.

The rooms, one concept each (see each subpackage's docstring):

    turn/           one turn: the loop, its plan, the model's answers, tool calls and the tool gate (no SQL)
    held/           held calls (confirmation | approval) with their status enums and transitions, decisions on
                    them, and hand-offs to the support team
    conversations/  storage: conversations, runs, steps and messages, the feed, admission and claims; the
                    PostgreSQL one-statement paths in a dialect class of their own
    limits/         run budgets, daily spend, pacing and model prices
    processes/      which service processes are alive (leases) and finishing the runs of dead ones (recovery)
    telemetry/      spans and metrics of runs, and the masking of personal data on them
    routing/        which model and prompt version a turn runs on
    models/         the model adapters (Anthropic, OpenAI-compatible, offline, scripted) and their fallbacks

Code outside the agent imports from this module only (`from agent import RunStore`), never from a room: a test
pins `__all__` to exactly the names those packages use, so a room can be rearranged without touching them.
`AnthropicModel` is loaded on first use: the SDK takes about as long to import as the whole service, and a
service on another model never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.conversations.admission import Admission
from agent.conversations.feed import events_after, feed_decision
from agent.conversations.records import (
    HeldRun,
    MessageOut,
    ModelOut,
    PendingActionOut,
    PendingConfirmationOut,
    RunFlagOut,
    RunOut,
    Shape,
    UsageOut,
    held_runs,
    message_view,
    run_view,
)
from agent.conversations.store import INTERRUPTED, ConversationRef, RunStore
from agent.conversations.tables import (
    Approval,
    ChatAllowance,
    ChatMessage,
    Conversation,
    ConversationEvent,
    DeskLinkUse,
    DeskSessionRecord,
    Feedback,
    Handoff,
    IdempotentRequest,
    Run,
    RunFlag,
    SpendDay,
    Step,
    Worker,
)
from agent.errors import (
    AmendmentRejected,
    ApprovalError,
    ApprovalNotPending,
    ApproverLimitExceeded,
    ConfigurationError,
    ConversationBusy,
    ConversationOwned,
    FeedbackConflict,
    HandoffError,
    NotHandoffOwner,
    RateLimited,
)
from agent.held.approval_facts import ApprovalContext, approval_context, decidable_by
from agent.held.approvals import ApprovalFilter, ApprovalStore, held_call_of, human_decision
from agent.held.confirmations import ConfirmationAnswers
from agent.held.decisions import ApprovalDecisions, Settled
from agent.held.handoff_closing import HandoffClosing
from agent.held.handoffs import HandoffFilter, HandoffStore
from agent.held.status import (
    ANY_OPEN,
    DECLINED,
    OPEN_HANDOFF,
    Answer,
    ApprovalFilterName,
    ApprovalStatus,
    HandoffFilterName,
    HandoffStatus,
    HeldKind,
    HeldKindName,
    RunStatus,
)
from agent.limits.budget import RunLimits
from agent.limits.pacing import TurnPacer
from agent.limits.pricing import PRICE_FILE, PriceTable, micro_to_usd
from agent.limits.spend import DailySpend, store_stripes
from agent.models.base import Message, Model, ModelRequest, TextBlock, Usage
from agent.models.health import ModelHealth
from agent.models.selection import ClaudeOptions, Credentials, build_chain, build_model, check_models
from agent.processes.leases import WorkerLease
from agent.processes.recovery import RunRecovery
from agent.quality import insights
from agent.quality.feedback import FeedbackStore, Verdict
from agent.quality.flags import FlagKind, FlagMode
from agent.quality.reply_check import ReplyCheck
from agent.quality.review_queue import ReviewFilter, flags_of, review_queue
from agent.quality.run_flags import Flag
from agent.routing.prompt_versions import PromptVersions, released_ids
from agent.routing.routes import ModelRoutes, RouteSpecs, build_simple_route, parse_routes
from agent.telemetry.masking import customer_terms
from agent.telemetry.recorder import Telemetry
from agent.turn.loop import AgentLoop, EventSink
from agent.turn.tool_calls import CallBounds
from agent.turn.tool_gate import ToolGate

if TYPE_CHECKING:
    from agent.models.claude.adapter import AnthropicModel

__all__ = [
    "ANY_OPEN",
    "DECLINED",
    "INTERRUPTED",
    "OPEN_HANDOFF",
    "PRICE_FILE",
    "Admission",
    "AgentLoop",
    "AmendmentRejected",
    "Answer",
    "AnthropicModel",
    "Approval",
    "ApprovalContext",
    "ApprovalDecisions",
    "ApprovalError",
    "ApprovalFilter",
    "ApprovalFilterName",
    "ApprovalNotPending",
    "ApprovalStatus",
    "ApprovalStore",
    "ApproverLimitExceeded",
    "CallBounds",
    "ChatAllowance",
    "ChatMessage",
    "ClaudeOptions",
    "ConfigurationError",
    "ConfirmationAnswers",
    "Conversation",
    "ConversationBusy",
    "ConversationEvent",
    "ConversationOwned",
    "ConversationRef",
    "Credentials",
    "DailySpend",
    "DeskLinkUse",
    "DeskSessionRecord",
    "EventSink",
    "Feedback",
    "FeedbackConflict",
    "FeedbackStore",
    "Flag",
    "FlagKind",
    "FlagMode",
    "Handoff",
    "HandoffClosing",
    "HandoffError",
    "HandoffFilter",
    "HandoffFilterName",
    "HandoffStatus",
    "HandoffStore",
    "HeldKind",
    "HeldKindName",
    "HeldRun",
    "IdempotentRequest",
    "Message",
    "MessageOut",
    "Model",
    "ModelHealth",
    "ModelOut",
    "ModelRequest",
    "ModelRoutes",
    "NotHandoffOwner",
    "PendingActionOut",
    "PendingConfirmationOut",
    "PriceTable",
    "PromptVersions",
    "RateLimited",
    "ReplyCheck",
    "ReviewFilter",
    "RouteSpecs",
    "Run",
    "RunFlag",
    "RunFlagOut",
    "RunLimits",
    "RunOut",
    "RunRecovery",
    "RunStatus",
    "RunStore",
    "Settled",
    "Shape",
    "SpendDay",
    "Step",
    "Telemetry",
    "TextBlock",
    "ToolGate",
    "TurnPacer",
    "Usage",
    "UsageOut",
    "Verdict",
    "Worker",
    "WorkerLease",
    "approval_context",
    "build_chain",
    "build_model",
    "build_simple_route",
    "check_models",
    "customer_terms",
    "decidable_by",
    "events_after",
    "feed_decision",
    "flags_of",
    "held_call_of",
    "held_runs",
    "human_decision",
    "insights",
    "message_view",
    "micro_to_usd",
    "parse_routes",
    "released_ids",
    "review_queue",
    "run_view",
    "store_stripes",
]


def __getattr__(name: str) -> Any:
    if name == "AnthropicModel":
        from agent.models.claude.adapter import AnthropicModel

        return AnthropicModel
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
