"""`/demo`: a stand-in store page for trying the widget as one of the seed store's customers.

It does what a real store's page and back end would: the back end (here `/demo/token`) mints a short-lived token
for the signed-in customer, and the page embeds `/widget.js` with a `getToken` that asks for one. It is on only
with the development secret or `SUPPORT_DEMO=1`, because it hands anyone a token for any customer; otherwise
every `/demo` path is a 404, as if it did not exist. Even when on, `/demo/token` answers only the demo's own
pages: a request whose `Origin` (or, without one, `Referer`) is not this service's origin is refused, so another
site open in the same browser cannot mint a token through it (cross-site request forgery).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select
from starlette.datastructures import URL

from api.deps import AppServices
from api.errors import ApiError
from api.identity import mint_token
from api.inputs import valid_subject
from api.page_security import page_nonce, page_policy
from api.services import Services
from api.widget.assets import version
from tools.store.tables import Customer, Order

TOKEN_TTL = timedelta(minutes=15)
"""Short, as a store would mint them: the widget asks `getToken` again when one runs out."""
MAX_CUSTOMERS_LISTED = 500

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


async def demo_services(services: AppServices) -> Services:
    if not services.settings.demo_open:
        raise ApiError(404, "not_found", "not found")
    return services


def origin_of(url: str) -> str | None:
    parsed = URL(url)
    return f"{parsed.scheme}://{parsed.netloc}".lower() if parsed.scheme and parsed.netloc else None


async def from_own_page(request: Request) -> None:
    """Refuse a request that no page of this service sent. Browsers set `Origin` on every POST and a page
    cannot forge it; a few privacy settings drop it but keep `Referer`, so that is the fallback. A request with
    neither is refused too: the demo's own page always sends one."""
    own = origin_of(str(request.base_url))
    sent = request.headers.get("origin")
    if sent is None and (referer := request.headers.get("referer")) is not None:
        sent = origin_of(referer)
    if sent is None or sent.lower() != own:
        raise ApiError(403, "cross_origin", "demo tokens are only handed to this service's own demo page")


DemoServices = Annotated[Services, Depends(demo_services)]
router = APIRouter(prefix="/demo", include_in_schema=False)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str


class DemoToken(BaseModel):
    token: str
    expires_at: datetime


def suggested_request(orders: Sequence[Order]) -> str:
    """Something to type in the chat that works for this customer, as the assistant knows them: cancel an order
    that can still be cancelled, else return an item of a delivered one, else ask where an order is."""
    pending = next((order for order in orders if order.status == "pending"), None)
    if pending is not None:
        return f"Please cancel order {pending.order_id}, I no longer need it"
    for order in orders:
        names = [item["name"] for item in order.items]
        unique = next((name for name in names if names.count(name) == 1), None)
        if order.status == "delivered" and unique is not None:
            return f"I want to return the {unique} from order {order.order_id}"
    if orders:
        return f"Where is my order {orders[0].order_id}?"
    return "What is your return policy?"


@router.get("", response_class=HTMLResponse)
async def demo_page(
    request: Request, services: DemoServices, customer: Annotated[str | None, Query(max_length=80)] = None
) -> HTMLResponse:
    """The customer picker; with `?customer=`, that customer's store page with the widget on it."""
    async with services.database.session(readonly=True) as session:
        customers = (
            await session.exec(select(Customer).order_by(col(Customer.user_id)).limit(MAX_CUSTOMERS_LISTED))
        ).all()
        chosen = await session.get(Customer, customer) if customer else None
        orders = (
            (
                await session.exec(
                    select(Order).where(col(Order.customer_id) == chosen.user_id).order_by(col(Order.position))
                )
            ).all()
            if chosen
            else []
        )
    nonce = page_nonce()
    context: dict[str, Any] = {
        "csp_nonce": nonce,
        "customers": customers,
        "chosen": chosen,
        "unknown": customer if customer and chosen is None else None,
        "orders": orders,
        "suggestion": suggested_request(orders),
        "version": version(),
    }
    page = templates.TemplateResponse(request, "demo.html", context, status_code=404 if context["unknown"] else 200)
    page.headers["Content-Security-Policy"] = page_policy(nonce)
    return page


@router.post("/token", dependencies=[Depends(from_own_page)])
async def demo_token(body: TokenRequest, services: DemoServices) -> DemoToken:
    """What a store's back end does for its signed-in customer: a customer token, minted server-side."""
    if not valid_subject(body.customer):
        raise ApiError(422, "invalid_customer", "that is not a customer id")
    async with services.database.session(readonly=True) as session:
        if await session.get(Customer, body.customer) is None:
            raise ApiError(404, "customer_not_found", "the store has no such customer")
    settings = services.settings
    token = mint_token(
        settings.jwt_secret.get_secret_value(),
        body.customer,
        "customer",
        TOKEN_TTL,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return DemoToken(token=token, expires_at=datetime.now(UTC) + TOKEN_TTL)
