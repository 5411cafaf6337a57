"""A recall's regulatory clocks for its market and class (policy recall.markets), decided when it is classified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from aftersales.config.policy import Duration, Policy
from aftersales.sla.deadlines import calendar_for, due


@dataclass(frozen=True)
class RecallClocks:
    """When customers must be notified, when the regulator's report is due (None: at once), and how often
    status reports follow (None: not required)."""

    market: str
    regulator: str
    recall_class: str
    aware_at: datetime
    notify_by: datetime
    report_by: datetime
    status_report_every: Duration | None


def _by(policy: Policy, aware_at: datetime, duration: Duration) -> datetime:
    """Natural days count the day of awareness as day 0 and end at midnight after day N (EU MDR Art. 87 says so;
    [CHOICE] the same reading for the Chinese 1/3/7 days); other units run on the business calendar."""
    if duration.unit != "natural_days":
        return due(policy, aware_at, duration)
    calendar = calendar_for(policy)
    local_day = aware_at.astimezone(calendar.tz).date() + timedelta(days=int(duration.amount) + 1)
    return datetime.combine(local_day, time(0, 0), tzinfo=calendar.tz)


def recall_clocks(policy: Policy, market: str, recall_class: str, aware_at: datetime) -> RecallClocks:
    """The clocks of a recall; ConfigurationError for a market the policy does not know, ValueError for a class
    other than I, II, III."""
    clocks = policy.recall.market(market)
    if recall_class not in clocks.notify:
        raise ValueError(f"recall class must be I, II or III, got {recall_class!r}")
    report_by = aware_at if clocks.report_within is None else _by(policy, aware_at, clocks.report_within)
    return RecallClocks(market=market, regulator=clocks.regulator, recall_class=recall_class, aware_at=aware_at,
                        notify_by=_by(policy, aware_at, clocks.notify[recall_class]),  # type: ignore[index]
                        report_by=report_by, status_report_every=clocks.status_report_every)
