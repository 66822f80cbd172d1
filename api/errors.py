"""HTTP errors, all in one JSON shape: `{"error": {"code": "...", "message": "..."}}`.

    ApiError                    status, code, message (+ headers such as Retry-After)
    └── raised by routers and dependencies; domain errors are mapped here, in `install_error_handlers`
    ConfigurationError          the settings are unfit to start with (e.g. a weak JWT secret in production);
                                raised before the service listens, reported as one line by the CLI

Domain errors of the other packages map as: `tools.errors.NotFound` -> 404, `agent.errors.ConversationBusy`
and `ApprovalNotPending` -> 409, `RateLimited` -> 429, `ApproverLimitExceeded` -> 403, `AmendmentRejected` -> 422
(with the wrong argument in `field`), `HandoffConflict` -> 409, `NotHandoffOwner` -> 403, `FeedbackConflict` -> 409.
Framework errors (bad JSON, a missing field) become 422, unknown routes 404; anything unexpected
is logged and answered 500 in the same shape, without internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent import (
    AmendmentRejected,
    ApprovalError,
    ApproverLimitExceeded,
    ConversationBusy,
    FeedbackConflict,
    HandoffError,
    NotHandoffOwner,
    RateLimited,
)
from api.schemas.errors import ErrorDetail, ErrorOut
from tools.errors import NotFound

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class ConfigurationError(RuntimeError):
    """The service refuses to start with these settings; the message says which and what to do."""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, *, field: str | None = None
) -> JSONResponse:
    """The one error body, `api.schemas.ErrorOut`, that every route declares in `/openapi.json`."""
    body = ErrorOut(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, error: NotFound) -> JSONResponse:
        return error_response(404, "not_found", error.message)

    @app.exception_handler(ConversationBusy)
    async def _busy(_: Request, error: ConversationBusy) -> JSONResponse:
        return error_response(409, "conversation_busy", f"{error}; send it again in a moment", {"Retry-After": "2"})

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, error: RateLimited) -> JSONResponse:
        return error_response(429, "rate_limited", str(error), {"Retry-After": str(error.retry_after_s)})

    @app.exception_handler(ApprovalError)
    async def _approval(_: Request, error: ApprovalError) -> JSONResponse:
        status = {ApproverLimitExceeded: 403, AmendmentRejected: 422}.get(type(error), 409)
        field = error.field if isinstance(error, AmendmentRejected) else None
        return error_response(status, error.code, str(error), field=field)

    @app.exception_handler(HandoffError)
    async def _handoff(_: Request, error: HandoffError) -> JSONResponse:
        return error_response(403 if isinstance(error, NotHandoffOwner) else 409, error.code, str(error))

    @app.exception_handler(FeedbackConflict)
    async def _feedback(_: Request, error: FeedbackConflict) -> JSONResponse:
        return error_response(409, error.code, str(error))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors()
        )
        return error_response(422, "invalid_request", problems or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(error.status_code, "error")
        return error_response(error.status_code, code, str(error.detail), dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "something went wrong on our side; nothing was lost")
