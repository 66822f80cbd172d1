"""Rendering the desk's pages: one Jinja2 environment, with the few formatting helpers the templates share.

Every value a template prints goes through `visible` first (the environment's `finalize`): whoever wrote it, a
bidi override or an invisible character never reaches a team member's screen. Autoescaping does the HTML."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from api.desk.wording import flag_words, handoff_reason
from basics.clock import utcnow
from tools.store.sanitize import visible

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def usd(amount: float | int | None) -> str:
    return "" if amount is None else f"${amount:,.2f}"


def duration(seconds: float) -> str:
    """A short human duration: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def age(moment: datetime) -> str:
    return duration((utcnow() - moment).total_seconds())


def left(moment: datetime) -> str:
    remaining = (moment - utcnow()).total_seconds()
    return "expired" if remaining <= 0 else duration(remaining)


def shown(value: Any) -> Any:
    """What a template prints: text made `visible`; a record or list printed whole (a step's arguments) as its
    text, made visible too; anything else (numbers, dates, None, and markup the templates built) as it is."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict | list | tuple):
        return visible(str(value))
    return value


templates.env.filters.update(
    usd=usd, age=age, left=left, duration=duration, handoff_reason=handoff_reason, flag_words=flag_words
)
templates.env.finalize = shown


def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(request, name, context, status_code=status_code)
    return response
