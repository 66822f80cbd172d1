"""Bearer-token authentication as FastAPI dependencies (all `async`: a plain `def` dependency costs a worker-thread
hop per request): the token becomes a `Principal` (see `api.identity` for
which tokens are accepted), and the role dependencies say who may call a route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.identity import TokenVerifier, mint_token, unauthorized
from tools.context import Principal

__all__ = ["AnyPrincipal", "CustomerPrincipal", "StaffPrincipal", "current_principal", "mint_token"]


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing_token", "send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.services.verifier
    return await verifier.principal(token.strip())


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
