"""The recall ledger: units by state and by batch, completion, the outbox's trouble, and its CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from aftersales.recall.fanout import outbox_counts
from aftersales.recall.outbox import NOTICES, RECALL_UNITS
from aftersales.rules.recall import STATES, Tally, tally
from aftersales.runtime.db import get_engine


@dataclass(frozen=True)
class Ledger:
    """A recall's ledger at one moment."""

    recall: str
    whole: Tally
    by_batch: dict[str, Tally]
    outbox: dict[str, int]  # notices per outbox state (pending, sent, failed, uncertain, no_address, ...)


def ledger(recall: str) -> Ledger:
    """Read the ledger with one grouped query over the recall's units joined to their customers' notices."""
    query = (select(RECALL_UNITS.c.batch, NOTICES.c.status, NOTICES.c.acknowledged_at.is_not(None),
                    RECALL_UNITS.c.remedy_state, func.count())
             .select_from(RECALL_UNITS.outerjoin(NOTICES, and_(NOTICES.c.recall == RECALL_UNITS.c.recall,
                                                               NOTICES.c.customer_ref == RECALL_UNITS.c.customer_ref)))
             .where(RECALL_UNITS.c.recall == recall)
             .group_by(RECALL_UNITS.c.batch, NOTICES.c.status, NOTICES.c.acknowledged_at.is_not(None),
                       RECALL_UNITS.c.remedy_state))
    with get_engine().connect() as conn:
        rows = [(b, s, bool(a), r, int(n)) for b, s, a, r, n in conn.execute(query)]
        outbox = outbox_counts(recall, conn)
    whole, by_batch = tally(rows)
    return Ledger(recall=recall, whole=whole, by_batch=by_batch, outbox=outbox)


def ledger_csv(book: Ledger) -> str:
    """One line per batch and one for the whole recall: units per state, total, completion %."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["recall", "batch", *STATES, "total", "completion_percent"])
    for batch, part in [*book.by_batch.items(), ("ALL", book.whole)]:
        writer.writerow([book.recall, batch, *(part.counts[s] for s in STATES), part.total, f"{part.completion:.1f}"])
    return out.getvalue()
