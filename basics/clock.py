"""The service's clock: aware UTC datetimes everywhere, so stored times compare without a time zone guess."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
