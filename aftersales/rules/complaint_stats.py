"""Monthly complaint statistics (004:475 「每月10日前汇总上月份结案的案件」), computed from plain facts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

UNDETERMINED = "undetermined"  # responsibility never decided (e.g. an unfounded complaint, 004:483)


@dataclass(frozen=True)
class ComplaintFact:
    """One closed complaint as the report needs it; times are aware datetimes."""

    number: str
    category: str
    responsibility: str | None
    overseas: bool
    closed_at: datetime
    close_by: datetime | None  # the closing deadline: 5 days at home, 7 overseas (004:485)
    status: str  # outcome: closed, unfounded, reopened
    escalations: int = 0
    immediate: bool = False  # escalated at once on registration for its category (F1:200-202, 004:407)

    @property
    def on_time(self) -> bool | None:
        """Closed by its deadline; None when it has no deadline, so it cannot be measured."""
        if self.close_by is None:
            return None
        return self.closed_at <= self.close_by


@dataclass(frozen=True)
class MonthlyStats:
    """The figures of one month's closed complaints."""

    month: str  # "YYYY-MM"
    total: int
    by_category: dict[str, int] = field(default_factory=dict)
    by_responsibility: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    on_time: int = 0
    measured: int = 0  # cases with a closing deadline: the base of the on-time rate
    late: tuple[str, ...] = ()  # case numbers closed after their deadline
    unmeasured: tuple[str, ...] = ()  # case numbers without a deadline, left out of the rate
    escalated_cases: int = 0
    escalations: int = 0
    immediate: int = 0
    overseas: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """on_time / measured, or None when no case could be measured."""
        return self.on_time / self.measured if self.measured else None

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-friendly figures (a flow's return value, an API answer)."""
        return {
            "month": self.month, "total": self.total, "by_category": dict(self.by_category),
            "by_responsibility": dict(self.by_responsibility), "by_status": dict(self.by_status),
            "on_time": self.on_time, "measured": self.measured, "on_time_rate": self.on_time_rate,
            "late": list(self.late), "unmeasured": list(self.unmeasured),
            "escalated_cases": self.escalated_cases, "escalations": self.escalations,
            "immediate": self.immediate, "overseas": self.overseas,
        }


def previous_month(today: date) -> tuple[date, date]:
    """The first and last day of the calendar month before `today`'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def month_label(first_day: date) -> str:
    """'YYYY-MM' of a month."""
    return f"{first_day.year:04d}-{first_day.month:02d}"


def _ranked(counter: Counter[str]) -> dict[str, int]:
    """Counts, largest first, ties by key, so the report reads the same every time."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def summarise(facts: Iterable[ComplaintFact], month: str) -> MonthlyStats:
    """The month's figures from its closed complaints (the caller picks the month's cases)."""
    cases = sorted(facts, key=lambda f: (f.closed_at, f.number))
    measured = [f for f in cases if f.on_time is not None]
    return MonthlyStats(
        month=month,
        total=len(cases),
        by_category=_ranked(Counter(f.category for f in cases)),
        by_responsibility=_ranked(Counter(f.responsibility or UNDETERMINED for f in cases)),
        by_status=_ranked(Counter(f.status for f in cases)),
        on_time=sum(1 for f in measured if f.on_time),
        measured=len(measured),
        late=tuple(f.number for f in measured if not f.on_time),
        unmeasured=tuple(f.number for f in cases if f.on_time is None),
        escalated_cases=sum(1 for f in cases if f.escalations > 0),
        escalations=sum(f.escalations for f in cases),
        immediate=sum(1 for f in cases if f.immediate),
        overseas=sum(1 for f in cases if f.overseas),
    )


def percent(rate: float | None) -> str:
    """A rate as '87.5%', or 'n/a' when there is nothing to measure."""
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def _count_table(heading: str, counts: Mapping[str, int], total: int, names: Mapping[str, str]) -> list[str]:
    lines = [f"| {heading} | 件数 / Cases | 占比 / Share |", "|---|---:|---:|"]
    for key, count in counts.items():
        name = names.get(key, key)
        shown = f"{name} (`{key}`)" if name != key else f"`{key}`"
        lines.append(f"| {shown} | {count} | {percent(count / total if total else None)} |")
    if not counts:
        lines.append("| — | 0 | n/a |")
    return lines


def render_markdown(stats: MonthlyStats, names: Mapping[str, str] | None = None) -> str:
    """The report as a Prefect markdown artifact; `names` gives display names for category/responsibility keys."""
    names = names or {}
    rate = percent(stats.on_time_rate)
    lines = [
        f"# 客户投诉月度统计 / Monthly complaint report {stats.month}",
        "",
        f"上月结案的投诉案件 (004:475) / Complaints closed in {stats.month}: **{stats.total}**",
        "",
        "| 指标 / Figure | 数值 / Value |",
        "|---|---:|",
        f"| 结案总数 / Closed in total | {stats.total} |",
        f"| 按期结案 / Closed on time | {stats.on_time} / {stats.measured} |",
        f"| 按期结案率 / On-time rate | {rate} |",
        f"| 逾期结案 / Closed late | {len(stats.late)} |",
        f"| 无结案期限(不计入比率) / No deadline (left out of the rate) | {len(stats.unmeasured)} |",
        f"| 曾升级的案件 / Escalated cases | {stats.escalated_cases} |",
        f"| 升级次数 / Escalations | {stats.escalations} |",
        f"| 立即上报 / Escalated at once | {stats.immediate} |",
        f"| 国外客户 / Overseas customers | {stats.overseas} |",
        "",
        "## 按投诉类别 / By category",
        "",
        *_count_table("类别 / Category", stats.by_category, stats.total, names),
        "",
        "## 按责任归属 / By responsibility",
        "",
        *_count_table("责任 / Responsibility", stats.by_responsibility, stats.total, names),
        "",
        "## 按结案结果 / By outcome",
        "",
        *_count_table("结果 / Outcome", stats.by_status, stats.total, names),
        "",
        "## 按期结案 / On time",
        "",
        "按期 = 结案时间不晚于结案期限(国内5天、国外7天, 004:485); 无期限的案件无法衡量, 不计入按期结案率。  ",
        "On time = closed no later than its closing deadline (5 days at home, 7 overseas, 004:485); "
        "a case without a deadline cannot be measured and is left out of the on-time rate.",
        "",
        f"- 逾期案件 / Closed late: {', '.join(stats.late) or '—'}",
        f"- 无期限案件 / Without a deadline: {', '.join(stats.unmeasured) or '—'}",
    ]
    return "\n".join(lines) + "\n"
