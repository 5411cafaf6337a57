"""Recurring waits: a gate that opens again every working day of a calendar until a report ends it.

One `GateSeries` row per wait, and one ordinary gate per working day (key '<series>@<date>'), so a day's report
has its own assignee, reminder, deadline and ladder like any gate, and is answered from a link without resuming
the run (no flow resume per day). The sweep opens each working day's gate when the day begins (`advance`),
in the series' time zone and on its country's working days (aftersales.sla.destination); a day on which no
report came is reminded at the end of that day and escalates, once per rung of its ladder, when the next
working day begins; it is never opened twice and does not repeat its escalation. The run suspends once, on the
series' pause key, and is resumed when a report says it is the last (`done_field` true): then the days still
open are ended and the flow reads every report (`reports`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from aftersales.cases.store import record_event
from aftersales.config.policy import get_policy
from aftersales.errors import IntegrationError, NotFound, RuleViolation
from aftersales.gates.resume import pause_key, resume_wait_once
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.calendar import BusinessCalendar
from aftersales.sla.deadlines import calendar_for, gate_due_at
from aftersales.sla.destination import destination_calendar
from models import Case, Gate, GateSeries
from models.inputs import GATE_INPUTS

log = logging.getLogger("aftersales.gates.series")
CATCH_UP_DAYS = 31  # days a sweep opens at most per series and pass (a sweep down for weeks catches up in turns)


def series_pause_key(key: str) -> str:
    """The prefix of the pause keys a run waiting on a series suspends on ('<prefix>-<n>')."""
    return pause_key(f"series:{key}")


def calendar_of(series: GateSeries) -> BusinessCalendar:
    """The working days and hours the series counts: its country and time zone, the company's working hours."""
    return destination_calendar(series.country, series.timezone, subdiv=series.subdiv,
                                company=calendar_for(get_policy()))


def day_times(calendar: BusinessCalendar, day: date) -> tuple[datetime, datetime, datetime]:
    """When a day's gate opens (work start), is reminded (work end) and is late (the next working day's start).

    [CHOICE] 002:460 asks for a report of each day's progress and names no hour: the day's report may come
    in the evening, and is late once the next working day begins.
    """
    opens = datetime.combine(day, calendar.work_start, tzinfo=calendar.tz)
    remind = datetime.combine(day, calendar.work_end, tzinfo=calendar.tz)
    late = datetime.combine(calendar.next_working_day(day), calendar.work_start, tzinfo=calendar.tz)
    return opens, remind, late


def open_series(*, case_id: int, key: str, kind: str, input_model: str, flow_run_id: str | None, country: str,
                timezone: str, first_day: date, subdiv: str | None = None, assignee_role: str | None = None,
                assignee_person: str | None = None, done_field: str = "done",
                summary: list[dict[str, str]] | None = None, now: datetime | None = None) -> int:
    """Create the recurring wait once (a replay returns the same one); bad input is refused, nothing stored."""
    if not key or len(key) > 60 or "@" in key:
        raise RuleViolation(f"series key {key!r} must be 1-60 characters without '@'")
    model = GATE_INPUTS.get(input_model)
    if model is None:
        raise NotFound(f"unknown gate input {input_model!r}")
    field = model.model_fields.get(done_field)
    if field is None or field.annotation is not bool:
        raise RuleViolation(f"{input_model} has no boolean field {done_field!r} to end the series with")
    get_policy().gate(kind)  # a clear error for a kind the policy lacks
    probe = GateSeries(case_id=case_id, key=key, kind=kind, input_model=input_model, country=country.upper(),
                       subdiv=subdiv, timezone=timezone, first_day=first_day.isoformat())
    calendar_of(probe)  # an unknown country, subdivision or time zone is refused here
    at = now or clock.now()
    with session_scope() as session:
        existing = session.exec(select(GateSeries).where(GateSeries.case_id == case_id,
                                                         GateSeries.key == key)).first()
        if existing is not None:
            assert existing.id is not None
            return existing.id
        if session.get(Case, case_id) is None:
            raise NotFound(f"no case with id {case_id}")
        series = GateSeries(case_id=case_id, key=key, kind=kind, input_model=input_model, flow_run_id=flow_run_id,
                            assignee_role=assignee_role, assignee_person=assignee_person,
                            country=country.upper(), subdiv=subdiv, timezone=timezone, done_field=done_field,
                            first_day=first_day.isoformat(), context={"summary": summary or []})
        session.add(series)
        session.flush()
        assert series.id is not None
        series_id = series.id
    record_event(case_id, f"series:{key}:opened", "series_opened",
                 f"{kind} every working day in {country.upper()} ({timezone}) from {first_day.isoformat()} "
                 f"until a report says {done_field}", data={"series_id": series_id}, at=at)
    return series_id


def advance(at: datetime) -> list[int]:
    """Open the gate of every working day that has begun in each active series (once); the new gates' ids."""
    with session_scope() as session:
        active = session.exec(select(GateSeries).where(GateSeries.status == "active")).all()
    opened: list[int] = []
    for series in active:
        opened += _advance_one(series, at)
    return opened


def _advance_one(series: GateSeries, at: datetime) -> list[int]:
    from aftersales.gates.lifecycle import notify_gate, open_gate

    assert series.id is not None
    calendar = calendar_of(series)
    policy = get_policy()
    last = series.last_day
    day = date.fromisoformat(last) + timedelta(days=1) if last else date.fromisoformat(series.first_day)
    opened: list[int] = []
    for _ in range(CATCH_UP_DAYS):
        if not calendar.is_working_day(day):
            day += timedelta(days=1)
            continue
        opens, remind, late = day_times(calendar, day)
        if opens > at:
            break
        with session_scope() as session:  # claim the day: two sweeps never open it twice
            claimed = session.execute(update(GateSeries).where(
                col(GateSeries.id) == series.id, col(GateSeries.status) == "active",
                col(GateSeries.last_day).is_(None) if last is None else col(GateSeries.last_day) == last,
            ).values(last_day=day.isoformat()))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            break  # another sweep advanced it, or it ended
        last = day.isoformat()
        summary = [*series.context.get("summary", []), {"label": "day", "value": day.isoformat()}]
        gate_id = open_gate(case_id=series.case_id, key=f"{series.key}@{day.isoformat()}", kind=series.kind,
                            input_model=series.input_model, flow_run_id=None, summary=summary,
                            assignee_person=series.assignee_person, assignee_role=series.assignee_role,
                            now=opens, deadline_at=late)
        with session_scope() as session:
            gate = session.get(Gate, gate_id)
            assert gate is not None
            gate.series_id, gate.remind_at = series.id, remind
            gate.due_at = gate_due_at(policy, gate)
            session.add(gate)
        notify_gate(gate_id, "request", now=at)
        opened.append(gate_id)
        day += timedelta(days=1)
    return opened


def occurrence_answered(gate: Gate, *, wait_seconds: float = 0.0) -> bool:
    """After a day's report: kept on its gate; a report that says done ends the series and resumes the run."""
    from aftersales.gates.resume import mark_resumed

    assert gate.id is not None and gate.series_id is not None
    mark_resumed(gate.id)
    with session_scope() as session:
        series = session.get(GateSeries, gate.series_id)
        assert series is not None
    if not (gate.answer or {}).get(series.done_field):
        return False
    end_series(gate.series_id, at=gate.answered_at or clock.now(), by=gate.key)
    return resume_series(gate.series_id, wait_seconds=wait_seconds)


def end_series(series_id: int, *, at: datetime, by: str) -> bool:
    """End the series once: no more days open, days still waiting are ended (they will not escalate)."""
    with session_scope() as session:
        ended = session.execute(update(GateSeries).where(col(GateSeries.id) == series_id,
                                                         col(GateSeries.status) == "active")
                                .values(status="ended", ended_at=at))
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            return False
        session.execute(update(Gate).where(col(Gate.series_id) == series_id, col(Gate.status) == "waiting")
                        .values(status="ended", due_at=None))
        series = session.get(GateSeries, series_id)
        assert series is not None
    record_event(series.case_id, f"series:{series.key}:ended", "series_ended",
                 f"{series.kind} ended by the report of {by}", data={"series_id": series_id}, at=at)
    return True


def reports(series_id: int) -> list[dict[str, Any]]:
    """Every day of the series in order: its date, status, answer (None while missing) and escalation rung."""
    with session_scope() as session:
        gates = session.exec(select(Gate).where(Gate.series_id == series_id).order_by(col(Gate.key))).all()
        return [{"day": g.key.rsplit("@", 1)[1], "status": g.status, "rung": g.rung,
                 "answer": dict(g.answer) if g.status == "answered" and g.answer is not None else None}
                for g in gates]


def is_ended(series_id: int) -> bool:
    """True once a report ended the series."""
    with session_scope() as session:
        series = session.get(GateSeries, series_id)
        return series is not None and series.status == "ended"


def resume_series(series_id: int, *, wait_seconds: float = 0.0) -> bool:
    """Resume the run waiting on an ended series, once; True when this call resumed it."""
    with session_scope() as session:
        row = session.get(GateSeries, series_id)
        key = row.key if row is not None else ""
    return resume_wait_once(GateSeries, series_id, "ended", series_pause_key(key), {"series": key},
                            wait_seconds=wait_seconds)


def retry_series() -> list[int]:
    """The sweep's safety net: resume runs of ended series whose resume did not get through."""
    with session_scope() as session:
        pending = session.exec(select(GateSeries).where(GateSeries.status == "ended",
                                                        col(GateSeries.resumed_at).is_(None))).all()
    resumed = []
    for series in pending:
        assert series.id is not None
        try:
            if resume_series(series.id):
                resumed.append(series.id)
        except IntegrationError as exc:
            log.warning("resume of series %s still failing: %s", series.key, exc)
    return resumed
