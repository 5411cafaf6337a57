"""Periodic reports read from the database: the monthly complaint statistics (004:475) and their delivery."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from aftersales.config.policy import get_policy
from aftersales.messaging.delivery import deliver
from aftersales.messaging.labels import label
from aftersales.messaging.recipients import role_recipients
from aftersales.procedures import registry
from aftersales.rules.complaint_stats import (
    ComplaintFact,
    MonthlyStats,
    month_label,
    percent,
    previous_month,
    render_markdown,
    summarise,
)
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.clocks import case_clocks
from models import Case, CaseEvent, Escalation

TEMPLATE = "complaint_report"


def company_today() -> date:
    """Today's date in the company's time zone (09:00 on the 9th in Shanghai is still the 9th)."""
    return clock.now().astimezone(ZoneInfo(get_policy().calendar.timezone)).date()


def complaint_facts(month_start: date, month_end: date) -> list[ComplaintFact]:
    """The complaints closed from `month_start` to `month_end` (inclusive days, company time zone)."""
    zone = ZoneInfo(get_policy().calendar.timezone)
    start = datetime.combine(month_start, time.min, zone)
    end = datetime.combine(month_end + timedelta(days=1), time.min, zone)
    with session_scope() as session:
        cases = session.exec(
            select(Case).where(Case.procedure == "complaint", col(Case.closed_at).is_not(None),
                               col(Case.closed_at) >= start, col(Case.closed_at) < end)
            .order_by(col(Case.closed_at), col(Case.id))
        ).all()
        ids = [c.id for c in cases]
        climbed: Counter[int] = Counter(dict(session.exec(
            select(Escalation.case_id, func.count()).where(col(Escalation.case_id).in_(ids))
            .group_by(col(Escalation.case_id))
        ).all()))
        # The complaint flow records key "immediate" when the category goes straight to the top (F1:200-202).
        immediate = set(session.exec(
            select(CaseEvent.case_id).where(col(CaseEvent.case_id).in_(ids), CaseEvent.key == "immediate")
        ).all())
    return [_fact(c, climbed[c.id or 0], c.id in immediate, zone) for c in cases]


def _fact(case: Case, escalations: int, immediate: bool, zone: ZoneInfo) -> ComplaintFact:
    details = case.data.get("complaint") or {}
    assert case.closed_at is not None
    return ComplaintFact(
        number=case.number or f"#{case.id}",
        category=str(details.get("category") or "other"),
        responsibility=case.data.get("responsibility") or None,
        overseas=bool(details.get("overseas")),
        closed_at=case.closed_at,
        close_by=_closing_deadline(case, zone),
        status=case.status,
        escalations=escalations,
        immediate=immediate,
    )


def _closing_deadline(case: Case, zone: ZoneInfo) -> datetime | None:
    """The closing limit as it stood at the closing: moved by the customer's waits (aftersales.sla.clocks)."""
    stored = _deadline(case.data.get("close_by"), zone)
    try:
        closing = case_clocks(case, case.closed_at).get("closing")
    except (ValueError, TypeError):  # a stored moment without its time zone: the deadline as read above
        return stored
    return closing.deadline if closing is not None else stored


def _deadline(raw: Any, zone: ZoneInfo) -> datetime | None:
    """The stored ISO closing deadline; a naive one is read as company time, an unreadable one as none."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def display_names(stats: MonthlyStats, language: str) -> dict[str, str]:
    """Localised names of the report's keys: categories and responsibilities from 'values', outcomes from 'statuses'."""
    names = {key: label("values", key, language) for key in [*stats.by_category, *stats.by_responsibility]}
    names.update({key: label("statuses", key, language) for key in stats.by_status})
    return names


def report_markdown(stats: MonthlyStats) -> str:
    """The report as markdown for the Prefect artifact, with Chinese names for the keys."""
    return render_markdown(stats, display_names(stats, "zh"))


def _rows(counts: dict[str, int], names: dict[str, str]) -> list[dict[str, str]]:
    return [{"label": names.get(key, key), "value": str(count)} for key, count in counts.items()]


def report_context(stats: MonthlyStats, name: str, language: str) -> dict[str, Any]:
    """What the complaint_report templates are given: the figures, with labels in the reader's language."""
    names = display_names(stats, language)
    return {
        "name": name, "month": stats.month, "total": stats.total,
        "on_time": stats.on_time, "measured": stats.measured, "on_time_rate": percent(stats.on_time_rate),
        "late": list(stats.late), "unmeasured": list(stats.unmeasured),
        "escalated_cases": stats.escalated_cases, "escalations": stats.escalations,
        "immediate": stats.immediate, "overseas": stats.overseas,
        "categories": _rows(stats.by_category, names), "responsibilities": _rows(stats.by_responsibility, names),
        "outcomes": _rows(stats.by_status, names),
    }


def monthly_complaint_report(today: date | None = None, *, send: bool = True) -> MonthlyStats:
    """The previous month's closed complaints, summarised and (once per month and person) sent to the managers."""
    first, last = previous_month(today or company_today())
    stats = summarise(complaint_facts(first, last), month_label(first))
    if send:
        for person in role_recipients(list(registry.get("complaint").report_roles)):
            # One key per month and person: a re-run (retry, manual run) sends nothing twice.
            deliver(key=f"complaint-report:{stats.month}:{person.person_id}", case_id=None, template=TEMPLATE,
                    recipient=person.person_id, language=person.language,
                    context=report_context(stats, person.name, person.language), urls=person.urls)
    return stats
