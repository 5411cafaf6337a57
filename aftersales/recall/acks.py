"""Acknowledgements of recall notices from the customers' signed links: one row update each, no flow run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update

from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.errors import NotFound
from aftersales.gates.tokens import AckClaims, verify_recall_ack
from aftersales.recall.outbox import NOTICES
from aftersales.runtime import clock
from aftersales.runtime.db import get_engine


@dataclass(frozen=True)
class Acknowledged:
    """The outcome of following a link: which notice, when it was acknowledged, and whether this was the first."""

    recall: str
    notice_id: int
    at: datetime
    first: bool


def read_link(token: str) -> AckClaims:
    """The claims of a link (LinkRefused: forged or expired), valid for recall.fanout.ack_link_days."""
    days = get_policy().recall.fanout.ack_link_days
    return verify_recall_ack(get_settings().signing_key(), token, days * 24 * 3600)


def acknowledge(token: str, *, now: datetime | None = None) -> Acknowledged:
    """Record that the customer acknowledged (once: a second click keeps the first time).

    An acknowledgement proves the notice arrived: a notice held as `uncertain` after a crash is `sent`.
    The recall flow reads the share acknowledged as an aggregate (the sweep checks it); nothing is resumed.
    """
    claims = read_link(token)
    at = now or clock.now()
    where = (NOTICES.c.id == claims.notice_id) & (NOTICES.c.recall == claims.recall)
    with get_engine().begin() as conn:
        if conn.dialect.name == "sqlite":
            # No fsync per click (WAL, synchronous=NORMAL): a crash keeps the row, a power cut may lose the last
            # second of acknowledgements; those customers count as not acknowledged and are asked again
            # (the effectiveness check re-contacts), which is cheaper than an fsync per click under a recall's load.
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        changed = conn.execute(update(NOTICES).where(where, NOTICES.c.acknowledged_at.is_(None)).values(
            acknowledged_at=at,
            status=case((NOTICES.c.status.in_(("uncertain", "sending")), "sent"), else_=NOTICES.c.status),
            sent_at=func.coalesce(NOTICES.c.sent_at, at))).rowcount
        if changed:
            return Acknowledged(claims.recall, claims.notice_id, at, first=True)
        first_at = conn.execute(select(NOTICES.c.acknowledged_at).where(where)).scalar_one_or_none()
    if first_at is None:
        raise NotFound("This notice no longer exists.")
    return Acknowledged(claims.recall, claims.notice_id, first_at, first=False)


def acknowledged_share(recall: str) -> tuple[int, int]:
    """(acknowledged, notices with an address): what the flow's aggregate wait compares with its threshold."""
    with get_engine().connect() as conn:
        row = conn.execute(select(func.count(NOTICES.c.acknowledged_at), func.count())
                           .where(NOTICES.c.recall == recall, NOTICES.c.status != "no_address")).one()
    return int(row[0]), int(row[1])
