"""The sweep: reminders before deadlines, escalation at them, the procedures' watchers, and retries of what
did not get through (messages, resumes, flows that never started)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from aftersales.cases import prefect_view
from aftersales.cases.launch import start_unstarted
from aftersales.cases.store import record_event
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.config.staff import get_staff
from aftersales.errors import AftersalesError
from aftersales.gates import groups, series
from aftersales.gates.lifecycle import notify_gate, open_scheduled
from aftersales.gates.resume import retry_resumes
from aftersales.messaging.delivery import recorded, retry_failed
from aftersales.messaging.recipients import role_recipients
from aftersales.procedures import registry
from aftersales.rules.escalation import GateClock, due_action, rung_deadline
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.clocks import case_clocks
from aftersales.sla.deadlines import calendar_for, gate_due_at, local_text, remind_time
from aftersales.sla.recovery import recover_runs
from models import Case, Escalation, Gate, Notification

log = logging.getLogger("aftersales.sla.sweep")

# How long a gate born already due (e.g. a regulator's report "at once") waits for its flow to send the request
# before the sweep acts on it anyway: far above the seconds between `open_gate` and `notify_gate`, well below any
# deadline, and bounded so a run that died in between still gets its gate escalated.
REQUEST_GRACE = timedelta(minutes=5)


@dataclass
class SweepReport:
    """What one sweep did."""

    reminded: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    resent: int = 0
    started: list[str] = field(default_factory=list)  # cases whose flow had not started at intake
    opened: list[int] = field(default_factory=list)  # scheduled gates whose time came (e.g. the follow-up visit)
    recovered: list[str] = field(default_factory=list)  # cases whose dead flow run was run again
    attention: list[str] = field(default_factory=list)  # cases handed to operations (could not be recovered)
    watched: dict[str, list[int]] = field(default_factory=dict)  # '<procedure>.<watcher>' -> cases acted on
    days_opened: list[int] = field(default_factory=list)  # gates of recurring waits whose working day began
    groups_resumed: list[int] = field(default_factory=list)  # waits in parallel joined, run resumed here
    series_resumed: list[int] = field(default_factory=list)  # recurring waits ended, run resumed here
    errors: list[str] = field(default_factory=list)
    late: list[int] = field(default_factory=list)  # gates seen past their deadline for the first time

    @property
    def spare_unit_gates(self) -> list[int]:
        """Repairs whose spare-unit question was opened in this sweep (004:355)."""
        return self.watched.get("repair.spare_unit_gates", [])


def sweep(now: datetime | None = None, *, resend: bool = True, resume: bool = True) -> SweepReport:
    """Act on every waiting gate whose reminder or deadline has come; safe to run concurrently and often."""
    at = now or clock.now()
    report = SweepReport()
    policy = get_policy()
    try:
        report.opened = open_scheduled(at)
    except AftersalesError as exc:
        log.error("scheduled gates: %s", exc)
        report.errors.append(f"scheduled gates: {exc}")
    try:
        report.days_opened = series.advance(at)
    except AftersalesError as exc:
        log.error("recurring waits: %s", exc)
        report.errors.append(f"recurring waits: {exc}")
    with session_scope() as session:  # only gates whose next action is due: the (status, due_at) index
        waiting = session.exec(select(Gate).where(Gate.status == "waiting", col(Gate.due_at) <= at)).all()
    for gate in waiting:
        assert gate.id is not None
        clock_state = GateClock(gate.opened_at, gate.deadline_at, gate.remind_at, gate.rung, gate.reminded_rung,
                                len(policy.ladder(gate.kind)) if gate.kind in policy.gates else 0)
        try:
            if held_by_case_clock(gate, at) or awaiting_its_request(gate, at):
                continue
            action = due_action(clock_state, at)
            if action == "escalate" and escalate(gate, at):
                report.escalated.append(gate.id)
            elif action == "remind" and remind(gate, at):
                report.reminded.append(gate.id)
            elif action is None:
                refresh_due(gate.id)  # e.g. the ladder of its kind changed in the policy
        except AftersalesError as exc:  # one bad gate must not stop the others
            log.error("gate %s: %s", gate.id, exc)
            report.errors.append(f"gate {gate.id}: {exc}")
    report.late = mark_late(at)
    for procedure in registry.procedures():
        for watcher in procedure.watchers:
            name = f"{procedure.name}.{watcher.__name__}"
            try:
                report.watched[name] = watcher(at)
            except AftersalesError as exc:  # one failing watcher must not stop the others
                log.error("%s: %s", name, exc)
                report.errors.append(f"{name}: {exc}")
    if resume:
        report.resumed = retry_resumes()
        report.groups_resumed = groups.retry_groups(at)
        report.series_resumed = series.retry_series()
        report.started = start_unstarted(at)
        try:  # on Prefect's (real) clock, not `at`
            recovery = recover_runs()
            report.recovered, report.attention = recovery.rescheduled, recovery.attention
            report.errors += recovery.errors
        except AftersalesError as exc:
            log.error("recovery: %s", exc)
            report.errors.append(f"recovery: {exc}")
    if resend:
        report.resent = retry_failed()
        report_failures()
    return report


def mark_late(at: datetime) -> list[int]:
    """Note on each waiting gate the first time its deadline is seen past, and show it on the case's Prefect run
    (`late`): also a gate at the top of its ladder, which no escalation moves any more."""
    with session_scope() as session:
        past = session.exec(select(Gate).where(Gate.status == "waiting", col(Gate.deadline_at) <= at)).all()
    marked: list[int] = []
    for gate in past:
        if gate.context.get("missed_deadline_at"):
            continue
        assert gate.id is not None
        with session_scope() as session:
            session.execute(update(Gate).where(col(Gate.id) == gate.id, col(Gate.status) == "waiting").values(
                context={**gate.context, "missed_deadline_at": gate.deadline_at.isoformat()}))
        prefect_view.refresh(case_id=gate.case_id, now=at)
        marked.append(gate.id)
    return marked


def report_failures() -> int:
    """Tell operations, once per message, about every message that keeps failing (never silently dropped)."""
    from aftersales.messaging.delivery import deliver, failed_notifications

    told = 0
    managers = role_recipients(["after_sales_supervisor", "after_sales_manager"])
    with session_scope() as session:  # reports already sent, in one query instead of one per row and minute
        reported = {k.split(":")[1] for k in session.exec(select(Notification.key).where(
            col(Notification.key) >= "failed:", col(Notification.key) < "failed;",
            Notification.status == "sent")).all()}
    for row in failed_notifications():
        if row.template == "notification_failed" or row.attempts < get_settings().notify_attempts:
            continue  # a report about a report would loop; rows still being retried are not final yet
        if str(row.id) in reported:
            continue
        with session_scope() as session:
            case = session.get(Case, row.case_id) if row.case_id else None
        for person in managers:
            deliver(key=f"failed:{row.id}:{person.person_id}", case_id=row.case_id, template="notification_failed",
                    recipient=person.person_id, language=person.language, urls=person.urls,
                    context={"case_number": case.number if case else "-", "template": row.template,
                             "recipient": row.recipient, "destination": row.destination,
                             "attempts": row.attempts, "error": row.last_error or ""})
            told += 1
    return told


def awaiting_its_request(gate: Gate, at: datetime) -> bool:
    """A gate just opened whose request has not gone out yet: the flow opens a gate, then tells its people in the
    next task, and a gate born due would otherwise be reminded or escalated in between, its own assignee never told
    (seen with the recall's report to the regulator). True for at most REQUEST_GRACE after the opening."""
    if gate.rung or at - gate.opened_at >= REQUEST_GRACE:
        return False
    return not recorded(f"gate:{gate.id}:request")  # any rung, any person, sent or not


def held_by_case_clock(gate: Gate, at: datetime) -> bool:
    """A gate whose deadline is a case clock (the repair's resolution) waits while that clock stands still (the
    case waits on the customer): no reminder, no escalation. Once the clock runs again, its deadline moves by the
    paused time. True when the sweep must leave the gate for now."""
    name = gate.context.get("clock")
    if not name or gate.rung:
        return False  # after an escalation the rung's own deadline counts
    with session_scope() as session:
        case = session.get(Case, gate.case_id)
    state = case_clocks(case, at).get(name) if case is not None else None
    if state is None:
        return False
    if state.is_paused:
        return True
    if state.deadline <= gate.deadline_at:
        return False
    policy = get_policy()
    assert case is not None and gate.id is not None
    with session_scope() as session:
        moved = session.execute(update(Gate).where(col(Gate.id) == gate.id, col(Gate.status) == "waiting",
                                                   col(Gate.rung) == 0, col(Gate.deadline_at) == gate.deadline_at)
                                .values(deadline_at=state.deadline,
                                        remind_at=remind_time(policy, gate.opened_at, state.deadline,
                                                              urgent=case.urgent)))
    if moved.rowcount == 1:  # type: ignore[attr-defined]
        refresh_due(gate.id)
        record_event(gate.case_id, f"gate:{gate.key}:clock:{state.deadline.isoformat()}", "clock",
                     f"{gate.kind}: deadline {local_text(gate.deadline_at, policy)} → "
                     f"{local_text(state.deadline, policy)}, the {name} clock stood still while the case waited "
                     "on the customer", at=at)
    return True


def remind(gate: Gate, at: datetime) -> bool:
    """Remind the current assignees once for this rung."""
    assert gate.id is not None
    with session_scope() as session:
        claimed = session.execute(update(Gate).where(col(Gate.id) == gate.id, col(Gate.reminded_rung) < gate.rung,
                                                     col(Gate.rung) == gate.rung, col(Gate.status) == "waiting")
                                  .values(reminded_rung=gate.rung))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False  # another sweep took it
    refresh_due(gate.id)
    hours = (gate.deadline_at - at).total_seconds() / 3600
    left = f"{hours:.1f} h"
    notify_gate(gate.id, "reminder", extra={"time_left": left, "overdue": hours <= 0}, now=at)
    record_event(gate.case_id, f"gate:{gate.key}:reminded:{gate.rung}", "reminder",
                 f"reminder sent to {gate.assignee_role} ({left} left)", at=at)
    prefect_view.announce(prefect_view.GATE_REMINDED, case_id=gate.case_id, gate_id=gate.id, now=at,
                          payload={"hours_left": round(hours, 1), "overdue": hours <= 0})
    return True


def escalate(gate: Gate, at: datetime, *, to_top: bool = False, reason: str | None = None) -> bool:
    """Move a gate up its ladder (one rung, or straight to the top), tell the new holder once, record why."""
    assert gate.id is not None
    policy = get_policy()
    ladder = policy.ladder(gate.kind)
    target = len(ladder) if to_top else gate.rung + 1
    if not ladder or target <= gate.rung:
        return False
    rung = ladder[target - 1]
    with session_scope() as session:
        case = session.get(Case, gate.case_id)
        assert case is not None
    deadline = rung_deadline(at, rung.within.amount, rung.within.unit, calendar_for(policy))
    missed = at >= gate.deadline_at  # climbing for a missed deadline: the step stays late (Prefect's `late` tag)
    context = {**gate.context, "missed_deadline_at": gate.context.get("missed_deadline_at")
               or gate.deadline_at.isoformat()} if missed else gate.context
    with session_scope() as session:
        claimed = session.execute(
            update(Gate).where(col(Gate.id) == gate.id, col(Gate.rung) == gate.rung, col(Gate.status) == "waiting")
            .values(rung=target, assignee_role=rung.role, assignee_person=None, deadline_at=deadline,
                    remind_at=remind_time(policy, at, deadline, urgent=case.urgent or to_top), context=context)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
    refresh_due(gate.id)
    staff = get_staff()
    previous = staff.role_label(gate.assignee_role)
    why = reason or f"not answered by the deadline {local_text(gate.deadline_at, policy)}"
    told = ", ".join(p.name for p in staff.holders(rung.role))
    with session_scope() as session:
        session.add(Escalation(gate_id=gate.id, case_id=gate.case_id, at=at, from_role=gate.assignee_role,
                               to_role=rung.role, rung=target, reason=why[:300], told=told))
    record_event(gate.case_id, f"gate:{gate.key}:escalated:{target}", "escalation",
                 f"{gate.kind} escalated to {staff.role_label(rung.role)} (rung {target}): {why}; told {told}",
                 at=at, data={"rung": target, "to_role": rung.role})
    prefect_view.announce(prefect_view.GATE_ESCALATED, case_id=gate.case_id, gate_id=gate.id, now=at,
                          payload={"rung": target, "from_role": gate.assignee_role, "to_role": rung.role,
                                   "missed_deadline": missed, "at_once": to_top})
    notify_gate(gate.id, "escalated", now=at, extra={
        "rung": target, "previous_assignee": previous, "reason": why,
        "changes": [f"{previous} → {staff.role_label(rung.role)}",
                    f"deadline {local_text(gate.deadline_at, policy)} → {local_text(deadline, policy)}"],
    })
    return True


def escalate_to_top(gate_id: int, reason: str, at: datetime | None = None) -> bool:
    """Send a gate straight to the top of its ladder (categories the seeds escalate at once, F1:200-202)."""
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
    if gate is None or gate.status != "waiting":
        return False
    return escalate(gate, at or clock.now(), to_top=True, reason=reason)


def refresh_due(gate_id: int) -> None:
    """Store when the sweep must next act on a gate, after a reminder or an escalation changed its clock."""
    policy = get_policy()
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        if gate is not None and gate.status == "waiting":
            gate.due_at = gate_due_at(policy, gate)
            session.add(gate)
