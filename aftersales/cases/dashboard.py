"""The operations dashboard's read queries: open cases by step, waiting gates by holder, SLA states, on-time rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from aftersales.config.policy import Policy, get_policy
from aftersales.config.staff import get_staff
from aftersales.errors import NotFound
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import calendar_for, due
from models import Case, Escalation, Gate, Notification

SlaState = Literal["late", "due_soon", "on_time"]
PAGE_SIZE = 100  # waiting gates listed per page: business time left is computed for the shown rows only


@dataclass(frozen=True)
class Filters:
    """What the operations view is narrowed to; the same names in the URL query and on the command line."""

    procedure: str = ""
    step: str = ""  # a gate kind, e.g. repair.triage
    role: str = ""
    person: str = ""  # waiting on this person: named on the gate, or holding the gate's role while nobody is named
    late: bool = False
    escalated: bool = False  # climbed at least one rung
    since: date | None = None  # cases opened on or after this company date
    until: date | None = None  # ... and on or before this one

    def query(self, **changes: Any) -> str:
        """The URL query string of these filters (only what is set), with `changes` applied."""
        values = {**{f.name: getattr(self, f.name) for f in fields(self)}, **changes}  # shallow: no asdict copies
        pairs = [(k, "1" if v is True else str(v)) for k, v in values.items() if v not in ("", None, False)]
        return urlencode(pairs)

    @property
    def narrows_gates(self) -> bool:
        """Whether a filter applies to the waiting step (then cases waiting on nothing drop out)."""
        return bool(self.step or self.role or self.person or self.late or self.escalated)

    def validate(self) -> Filters:
        """The same filters, or NotFound naming an unknown procedure, role or person."""
        from aftersales.procedures.registry import procedures

        staff = get_staff()
        if self.procedure and self.procedure not in {p.name for p in procedures()}:
            raise NotFound(f"no procedure {self.procedure!r}")
        if self.role and self.role not in staff.roles and self.role != "customer":
            raise NotFound(f"no role {self.role!r} in the staff directory")
        if self.person:
            staff.person(self.person)
        if self.since and self.until and self.since > self.until:
            raise NotFound(f"the date range ends ({self.until}) before it starts ({self.since})")
        return self


FILTER_NAMES = tuple(f.name for f in fields(Filters))


@dataclass(frozen=True)
class Clock:
    """The instants the SLA state of a deadline is measured against."""

    now: datetime
    soon: datetime  # deadlines before this are due soon (policy dashboard.due_soon_within from now)

    def state(self, deadline: datetime) -> SlaState:
        """late, due soon, or on time."""
        if deadline < self.now:
            return "late"
        return "due_soon" if deadline < self.soon else "on_time"


def sla_clock(now: datetime | None = None, policy: Policy | None = None) -> Clock:
    """Now and the due-soon bound on the business calendar."""
    policy = policy or get_policy()
    at = now or clock.now()
    return Clock(at, due(policy, at, policy.dashboard.due_soon_within))


def _day_start(day: date, policy: Policy) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(policy.calendar.timezone))


def _conditions(filters: Filters, at: Clock, policy: Policy, *, gates: bool) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the filters (case-level always; gate-level when gates are joined)."""
    where: list[ColumnElement[bool]] = [col(Case.closed_at).is_(None)]
    if filters.procedure:
        where.append(col(Case.procedure) == filters.procedure)
    if filters.since:
        where.append(col(Case.opened_at) >= _day_start(filters.since, policy))
    if filters.until:
        where.append(col(Case.opened_at) < _day_start(filters.until + timedelta(days=1), policy))
    if not gates:
        return where
    where.append(col(Gate.status) == "waiting")
    if filters.step:
        where.append(col(Gate.kind) == filters.step)
    if filters.role:
        where.append(col(Gate.assignee_role) == filters.role)
    if filters.person:
        roles = get_staff().person(filters.person).roles
        where.append(
            or_(
                col(Gate.assignee_person) == filters.person,
                and_(col(Gate.assignee_person).is_(None), col(Gate.assignee_role).in_(roles)),
            )
        )
    if filters.late:
        where.append(col(Gate.deadline_at) < at.now)
    if filters.escalated:
        where.append(col(Gate.rung) > 0)
    return where


def _sla_sums(at: Clock) -> tuple[Any, Any]:
    late = func.sum(case((col(Gate.deadline_at) < at.now, 1), else_=0))
    soon = func.sum(case((and_(col(Gate.deadline_at) >= at.now, col(Gate.deadline_at) < at.soon), 1), else_=0))
    return late, soon


@dataclass
class Tally:
    """How many waiting steps of a group, by SLA state."""

    key: str
    label: str
    procedure: str = ""
    total: int = 0
    late: int = 0
    due_soon: int = 0
    oldest: datetime | None = None  # the longest-waiting step's opening
    next_deadline: datetime | None = None
    query: str = ""  # the dashboard filters that list this group's steps

    @property
    def on_time(self) -> int:
        return self.total - self.late - self.due_soon

    @property
    def state(self) -> SlaState:
        return "late" if self.late else "due_soon" if self.due_soon else "on_time"


@dataclass
class Overview:
    """The dashboard's counts: open cases by procedure and step, waiting steps by assignee and by role."""

    steps: list[Tally]
    people: list[Tally]
    roles: list[Tally]
    waiting: int
    late: int
    due_soon: int
    idle: int  # open cases waiting on no step (0 when a filter is on the step)


def overview(filters: Filters, at: Clock) -> Overview:
    """One grouped scan of the waiting steps (covering index ix_gates_waiting) and one count of idle cases."""

    policy = get_policy()
    staff = get_staff()
    late, soon = _sla_sums(at)
    with session_scope() as session:
        groups = session.execute(
            select(col(Case.procedure), col(Gate.kind), col(Gate.assignee_role), col(Gate.assignee_person),
                   func.count(), late, soon, func.min(col(Gate.opened_at)), func.min(col(Gate.deadline_at)))
            .join(Case, col(Case.id) == col(Gate.case_id))
            .where(*_conditions(filters, at, policy, gates=True))
            .group_by(col(Gate.kind), col(Gate.assignee_role), col(Gate.assignee_person), col(Case.procedure))
        ).all()
        idle_rows: list[Any] = []
        if not filters.narrows_gates:
            idle_rows = list(session.execute(
                select(col(Case.procedure), func.count())
                .where(*_conditions(filters, at, policy, gates=False), ~_waits())
                .group_by(col(Case.procedure))).all())
    steps: dict[Any, Tally] = {}
    people: dict[Any, Tally] = {}
    roles: dict[Any, Tally] = {}
    for procedure, kind, role, person, count, late_n, soon_n, oldest, first in groups:
        if person:
            try:
                name = f"{staff.person(person).name} ({person})"
            except NotFound:
                name = person
            holder: tuple[Any, str, Any] = (person, name, ("person", person))
        else:
            holder = (f"role:{role}", f"{staff.role_label(role)} · any holder", ("role", role))
        for bucket, key, text, narrow in (
            (steps, (procedure, kind), kind, ("step", (procedure, kind))),
            (people, *holder),
            (roles, role, role, ("role", role)),
        ):
            tally = bucket.get(key)
            if tally is None:  # labels and links once per group, not once per row of the scan
                tally = bucket[key] = _tally(bucket is steps, key, text, narrow, procedure, filters, staff)
            tally.total += count
            tally.late += late_n or 0
            tally.due_soon += soon_n or 0
            tally.oldest = min(filter(None, (tally.oldest, oldest)), default=None)
            tally.next_deadline = min(filter(None, (tally.next_deadline, first)), default=None)
    listed = list(steps.values()) + [Tally(key="", label="", procedure=procedure, total=count,
                                           query=filters.query(procedure=procedure)) for procedure, count in idle_rows]

    def order(t: Tally) -> tuple[int, int, int, str]:
        return -t.late, -t.due_soon, -t.total, t.label

    return Overview(
        steps=sorted(listed, key=lambda t: (t.procedure, t.key == "", -t.late, -t.total, t.key)),
        people=sorted(people.values(), key=order), roles=sorted(roles.values(), key=order),
        waiting=sum(t.total for t in roles.values()), late=sum(t.late for t in roles.values()),
        due_soon=sum(t.due_soon for t in roles.values()), idle=sum(count for _, count in idle_rows))


def _tally(step: bool, key: Any, text: str, narrow: tuple[str, Any], procedure: str, filters: Filters,
           staff: Any) -> Tally:
    from aftersales.messaging.labels import label

    name, value = narrow
    if step:
        return Tally(key=value[1], label=label("gates", value[1], "zh"), procedure=procedure,
                     query=filters.query(procedure=value[0], step=value[1]))
    if name == "role" and text == key:  # the role table
        return Tally(key=key, label=staff.role_label(key), query=filters.query(role=key))
    return Tally(key=str(key), label=text, query=filters.query(**{name: value}))


def _waits() -> ColumnElement[bool]:
    """The case waits on some step (an index probe of ix_gates_case_status)."""
    return (select(col(Gate.id)).where(col(Gate.case_id) == col(Case.id), col(Gate.status) == "waiting")
            .exists())


def idle_cases(filters: Filters, at: Clock, *, limit: int = 50) -> list[tuple[str, str, str, datetime]]:
    """Open cases waiting on no step (number, procedure, status, opened), oldest first; none when a filter is on
    the step."""
    if filters.narrows_gates:
        return []
    policy = get_policy()
    with session_scope() as session:
        rows = session.execute(
            select(col(Case.number), col(Case.procedure), col(Case.status), col(Case.opened_at))
            .where(*_conditions(filters, at, policy, gates=False), ~_waits())
            .order_by(col(Case.opened_at)).limit(limit)).all()
    return [(n or "", p, s, o) for n, p, s, o in rows]

@dataclass
class WaitingStep:
    """One waiting gate as the dashboard lists it."""

    gate_id: int
    case_number: str
    procedure: str
    urgent: bool
    kind: str
    key: str
    assignee_role: str
    assignee_person: str | None
    rung: int
    opened_at: datetime
    deadline_at: datetime
    state: SlaState
    age: timedelta
    business_left: timedelta  # working time from now to the deadline (zero once late)
    late_by: timedelta  # natural time since the deadline passed (zero while not late)

    def as_json(self) -> dict[str, Any]:
        """For --json: times as ISO text, durations in minutes."""
        data = asdict(self)
        for name in ("opened_at", "deadline_at"):
            data[name] = data[name].isoformat()
        for name in ("age", "business_left", "late_by"):
            data[name + "_minutes"] = int(data.pop(name).total_seconds() // 60)
        return data


@dataclass
class Page:
    """One page of waiting steps and how many there are in all."""

    rows: list[WaitingStep] = field(default_factory=list)
    total: int = 0
    offset: int = 0
    limit: int = PAGE_SIZE


def waiting_steps(
    filters: Filters, at: Clock, *, limit: int = PAGE_SIZE, offset: int = 0, case_ids: list[int] | None = None,
    total: int | None = None,
) -> Page:
    """Waiting gates of open cases, the nearest deadline first, one page of them (of `case_ids` when given)."""
    policy = get_policy()
    calendar = calendar_for(policy)
    where = _conditions(filters, at, policy, gates=True)
    if case_ids is not None:
        where.append(col(Gate.case_id).in_(case_ids))
    with session_scope() as session:
        if total is None:  # the dashboard knows it from the overview already
            total = session.execute(
                select(func.count()).select_from(Gate).join(Case, col(Case.id) == col(Gate.case_id)).where(*where)
            ).scalar_one()
        rows = session.execute(
            select(
                col(Gate.id),
                col(Case.number),
                col(Case.procedure),
                col(Case.urgent),
                col(Gate.kind),
                col(Gate.key),
                col(Gate.assignee_role),
                col(Gate.assignee_person),
                col(Gate.rung),
                col(Gate.opened_at),
                col(Gate.deadline_at),
            )
            .join(Case, col(Case.id) == col(Gate.case_id))
            .where(*where)
            .order_by(col(Gate.deadline_at), col(Gate.id))
            .limit(limit)
            .offset(offset)
        ).all()
    steps = []
    for gate_id, number, procedure, urgent, kind, key, role, person, rung, opened, deadline in rows:
        state = at.state(deadline)
        steps.append(
            WaitingStep(
                gate_id=gate_id,
                case_number=number or "",
                procedure=procedure,
                urgent=urgent,
                kind=kind,
                key=key,
                assignee_role=role,
                assignee_person=person,
                rung=rung,
                opened_at=opened,
                deadline_at=deadline,
                state=state,
                age=at.now - opened,
                business_left=calendar.working_time_between(at.now, deadline) if state != "late" else timedelta(0),
                late_by=at.now - deadline if state == "late" else timedelta(0),
            )
        )
    return Page(rows=steps, total=total, offset=offset, limit=limit)


@dataclass
class OpenCase:
    """An open case with the step it waits on first (the nearest deadline), for `aftersales cases`."""

    number: str
    procedure: str
    status: str
    urgent: bool
    opened_at: datetime
    waiting: WaitingStep | None
    needs_attention: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "procedure": self.procedure,
            "status": self.status,
            "urgent": self.urgent,
            "opened_at": self.opened_at.isoformat(),
            "needs_attention": self.needs_attention,
            "waiting": self.waiting.as_json() if self.waiting else None,
        }


def open_cases(filters: Filters, at: Clock, *, limit: int = 200) -> list[OpenCase]:
    """Open cases (oldest first) with their most urgent waiting step; gate filters keep cases waiting on a match."""
    policy = get_policy()
    query = select(
        col(Case.id),
        col(Case.number),
        col(Case.procedure),
        col(Case.status),
        col(Case.urgent),
        col(Case.opened_at),
        col(Case.needs_attention_at),
    )
    if filters.narrows_gates:
        matching = (
            select(col(Gate.case_id))
            .join(Case, col(Case.id) == col(Gate.case_id))
            .where(*_conditions(filters, at, policy, gates=True))
        )
        query = query.where(col(Case.id).in_(matching))
    with session_scope() as session:
        cases = session.execute(
            query.where(*_conditions(filters, at, policy, gates=False))
            .order_by(col(Case.opened_at), col(Case.id))
            .limit(limit)
        ).all()
    first: dict[str, WaitingStep] = {}
    if cases:
        steps = waiting_steps(filters, at, limit=100 * len(cases), case_ids=[row[0] for row in cases])
        for step in steps.rows:
            first.setdefault(step.case_number, step)  # nearest deadline first
    return [
        OpenCase(
            number=number or "",
            procedure=procedure,
            status=status,
            urgent=urgent,
            opened_at=opened,
            waiting=first.get(number or ""),
            needs_attention=attention is not None,
        )
        for _, number, procedure, status, urgent, opened, attention in cases
    ]


@dataclass
class EscalationLine:
    """A rung climbed, with its case."""

    at: datetime
    case_number: str
    kind: str
    rung: int
    from_role: str
    to_role: str
    reason: str
    told: str


def recent_escalations(
    days: int, at: Clock, filters: Filters | None = None, *, limit: int = 200
) -> list[EscalationLine]:
    """Escalations of the last `days` days, newest first (narrowed by the case-level filters)."""
    policy = get_policy()
    where = _conditions(filters or Filters(), at, policy, gates=False)[1:]  # closed cases' escalations count too
    with session_scope() as session:
        rows = session.execute(
            select(
                col(Escalation.at),
                col(Case.number),
                col(Gate.kind),
                col(Escalation.rung),
                col(Escalation.from_role),
                col(Escalation.to_role),
                col(Escalation.reason),
                col(Escalation.told),
            )
            .join(Case, col(Case.id) == col(Escalation.case_id))
            .join(Gate, col(Gate.id) == col(Escalation.gate_id))
            .where(col(Escalation.at) >= at.now - timedelta(days=days), *where)
            .order_by(col(Escalation.at).desc())
            .limit(limit)
        ).all()
    return [
        EscalationLine(at=a, case_number=n or "", kind=k, rung=r, from_role=f, to_role=t, reason=why, told=told)
        for a, n, k, r, f, t, why, told in rows
    ]


@dataclass
class FailedMessage:
    """A message that was not delivered after its tries."""

    created_at: datetime
    case_number: str | None
    template: str
    recipient: str
    channel: str
    destination: str
    attempts: int
    last_error: str | None


def failed_messages(*, limit: int = 100) -> tuple[list[FailedMessage], int]:
    """The newest failed messages (without their bodies) and how many there are."""
    with session_scope() as session:
        total = session.execute(
            select(func.count()).select_from(Notification).where(col(Notification.status) == "failed")
        ).scalar_one()
        rows = session.execute(
            select(
                col(Notification.created_at),
                col(Case.number),
                col(Notification.template),
                col(Notification.recipient),
                col(Notification.channel),
                col(Notification.destination),
                col(Notification.attempts),
                col(Notification.last_error),
            )
            .outerjoin(Case, col(Case.id) == col(Notification.case_id))
            .where(col(Notification.status) == "failed")
            .order_by(col(Notification.id).desc())
            .limit(limit)
        ).all()
    return [FailedMessage(*row) for row in rows], total


def waiting_deadline_years(policy: Policy) -> dict[int, int]:
    """How many waiting deadlines fall in each year (company time), counted in the database."""
    tz = ZoneInfo(policy.calendar.timezone)
    with session_scope() as session:
        first, last = session.execute(
            select(func.min(col(Gate.deadline_at)), func.max(col(Gate.deadline_at))).where(
                col(Gate.status) == "waiting"
            )
        ).one()
        if first is None:
            return {}
        counts = {}
        for year in range(first.astimezone(tz).year, last.astimezone(tz).year + 1):
            start, end = datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
            counts[year] = session.execute(
                select(func.count())
                .select_from(Gate)
                .where(col(Gate.status) == "waiting", col(Gate.deadline_at) >= start, col(Gate.deadline_at) < end)
            ).scalar_one()
    return {year: n for year, n in counts.items() if n}


# --- on-time rate ------------------------------------------------------------------------------------------------

ON_TIME_DEFINITION = (
    "A step is on time when it was answered before its deadline (answered_at ≤ due time). "
    "It counts in the period when it was answered in it, or when its deadline passed in it "
    "without an answer (then it is late). Steps still waiting before their deadline do not count."
)


@dataclass
class Rate:
    """On-time figures of one procedure or one step over a period."""

    procedure: str
    step: str  # "" for the whole procedure
    counted: int
    on_time: int

    @property
    def late(self) -> int:
        return self.counted - self.on_time

    @property
    def rate(self) -> float:
        return self.on_time / self.counted if self.counted else 0.0


def period_bounds(start: date, end: date, policy: Policy) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in company time."""
    return _day_start(start, policy), _day_start(end + timedelta(days=1), policy)


def on_time_rates(
    start: date, end: date, *, now: datetime | None = None, procedure: str = ""
) -> tuple[list[Rate], list[Rate]]:
    """On-time rates per procedure and per step over the company dates [start, end] (see ON_TIME_DEFINITION)."""
    if end < start:
        raise NotFound(f"the period ends ({end}) before it starts ({start})")
    policy = get_policy()
    lo, hi = period_bounds(start, end, policy)
    at = now or clock.now()
    # Two range scans, each on its own covering index (an OR of both would read every gate).
    answered_in = [col(Gate.answered_at) >= lo, col(Gate.answered_at) < hi]
    missed_in = [col(Gate.status) == "waiting", col(Gate.deadline_at) >= lo, col(Gate.deadline_at) < min(hi, at)]
    on_time = func.sum(case((col(Gate.answered_at) <= col(Gate.deadline_at), 1), else_=0))
    counted: dict[tuple[str, str], list[int]] = {}
    with session_scope() as session:
        for where, timely in ((answered_in, on_time), (missed_in, func.sum(0))):
            if procedure:
                where = [*where, col(Case.procedure) == procedure]
            for proc, kind, n, good in session.execute(
                select(col(Case.procedure), col(Gate.kind), func.count(), timely)
                .join(Case, col(Case.id) == col(Gate.case_id))
                .where(*where)
                .group_by(col(Gate.kind), col(Case.procedure))
            ).all():
                figures = counted.setdefault((proc, kind), [0, 0])
                figures[0] += n
                figures[1] += good or 0
    rows = [(p, k, n, t) for (p, k), (n, t) in counted.items()]
    steps = sorted((Rate(p, k, n, t or 0) for p, k, n, t in rows), key=lambda r: (r.procedure, r.step))
    per_procedure: dict[str, Rate] = {}
    for rate in steps:
        total = per_procedure.setdefault(rate.procedure, Rate(rate.procedure, "", 0, 0))
        total.counted += rate.counted
        total.on_time += rate.on_time
    return sorted(per_procedure.values(), key=lambda r: r.procedure), steps


def rates_csv(per_procedure: list[Rate], per_step: list[Rate], start: date, end: date) -> str:
    """The same figures as CSV: one line per procedure, then one per step."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["period_start", "period_end", "scope", "procedure", "step", "counted", "on_time", "late", "on_time_rate"]
    )
    for scope, rates in (("procedure", per_procedure), ("step", per_step)):
        for r in rates:
            writer.writerow(
                [
                    start.isoformat(),
                    end.isoformat(),
                    scope,
                    r.procedure,
                    r.step,
                    r.counted,
                    r.on_time,
                    r.late,
                    f"{r.rate:.4f}",
                ]
            )
    return out.getvalue()
