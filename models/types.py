"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and returns them aware, also on SQLite (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


JSONType = JSON


# [CHOICE] the earliest date a purchase, delivery or shipment may carry: older dates are typing mistakes
# that would otherwise reach the warranty rules (no product of this catalogue is older).
EARLIEST_DATE = date(1980, 1, 1)
# A clock a few minutes ahead of ours is not "the future".
CLOCK_SKEW = timedelta(minutes=5)


def plausible_date(value: date | None, what: str) -> date | None:
    """A date not in the future and not before EARLIEST_DATE (ValueError naming `what` otherwise)."""
    if value is None:
        return None
    if value > date.today():
        raise ValueError(f"{what} lies in the future")
    if value < EARLIEST_DATE:
        raise ValueError(f"{what} lies before {EARLIEST_DATE.isoformat()}")
    return value


def aware_past_moment(value: datetime | None, what: str) -> datetime | None:
    """A moment with its time zone, not in the future (ValueError naming `what` otherwise)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} needs a time zone, e.g. 2026-11-30T09:30:00+08:00")
    if value > utcnow() + CLOCK_SKEW:
        raise ValueError(f"{what} lies in the future")
    plausible_date(value.date(), what)
    return value
