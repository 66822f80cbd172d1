"""Bearer-token authentication as FastAPI dependencies (all `async`: a plain `def` dependency costs a worker-thread
hop per request): the token becomes a `Principal` (see `api.identity` for
which tokens are accepted), and the role dependencies say who may call a route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import AppServices
from api.errors import ApiError
from api.identity import mint_token, unauthorized
from basics.principal import Principal

__all__ = ["AnyPrincipal", "CustomerPrincipal", "StaffPrincipal", "current_principal", "mint_token"]


bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    auto_error=False,  # a missing token is answered by `current_principal`, in the service's own error body
    bearerFormat="JWT",
    description="A JWT naming a customer (`role: customer`, `sub`: the store's user_id) or a member of the "
    "support staff (`role: agent | supervisor`). `support token SUBJECT` mints one in development.",
)


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)], services: AppServices
) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        raise unauthorized("missing_token", "send 'Authorization: Bearer <token>'")
    return await services.verifier.principal(credentials.credentials.strip())


# `async`: a plain `def` dependency would run in a worker thread, a hop per request for a check this small.
async def customer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_customer:
        raise ApiError(403, "forbidden", "only customers can do this")
    return principal


async def staff(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_staff:
        raise ApiError(403, "forbidden", "only support staff can do this")
    return principal


AnyPrincipal = Annotated[Principal, Depends(current_principal)]
CustomerPrincipal = Annotated[Principal, Depends(customer)]
StaffPrincipal = Annotated[Principal, Depends(staff)]
