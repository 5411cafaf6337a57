"""Cases: opening, history lines, and the read model shown over HTTP and on the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from aftersales.config.policy import get_policy
from aftersales.errors import NotFound
from aftersales.rules.repair import case_number
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Case, CaseCreate, CaseEvent, Escalation, Gate, Notification
from models.case import CaseBase


def open_case(request: CaseCreate, *, now: datetime | None = None) -> Case:
    """Register a case and give it a unique number (spec §1.3, F2:216)."""
    opened = now or clock.now()
    fields = request.model_dump(exclude={"reported_at", "complaint", "goods"})
    data: dict[str, Any] = {"reported_at": (request.reported_at or opened).isoformat()}
    if request.complaint is not None:
        data["complaint"] = request.complaint.model_dump(mode="json")
    if request.goods is not None:
        data["goods"] = request.goods.model_dump(mode="json")
    return _insert_case(fields, data, opened)


def open_child_case(parent_number: str, procedure: str, origin: str, *, extra: dict[str, Any] | None = None,
                    complaint: dict[str, Any] | None = None) -> Case:
    """Open a case linked to another (a complaint's repair, a rejected complaint reopened, 004:473), once per origin."""
    with session_scope() as session:
        parent = get_case(session, parent_number)
        for child in session.exec(select(Case).where(Case.parent_case_id == parent.id)).all():
            if child.data.get("origin") == origin:
                return child  # a replayed step: the linked case exists already
    extra = {**(extra or {}), "origin": origin}
    fields = {k: getattr(parent, k) for k in CaseBase.model_fields}
    data: dict[str, Any] = {"reported_at": clock.now().isoformat(), "parent_number": parent_number, **(extra or {})}
    if complaint is not None:
        data["complaint"] = complaint
    return _insert_case({**fields, "procedure": procedure, "urgent": parent.urgent}, data, clock.now(),
                        parent_case_id=parent.id)


def _insert_case(fields: dict[str, Any], data: dict[str, Any], opened: datetime,
                 parent_case_id: int | None = None) -> Case:
    with session_scope() as session:
        case = Case(**fields, opened_at=opened, data=data, parent_case_id=parent_case_id)
        session.add(case)
        session.flush()
        assert case.id is not None
        # The date in the number is the company's date, not UTC's (03:00 in Shanghai is still 'yesterday' in UTC).
        local_day = opened.astimezone(ZoneInfo(get_policy().calendar.timezone)).strftime("%Y%m%d")
        case.number = case_number(case.procedure, local_day, case.id)
        session.add(
            CaseEvent(
                case_id=case.id, key="opened", kind="opened", actor=f"channel:{case.channel}",
                summary=f"case {case.number} registered ({case.procedure})", at=opened,
            )
        )
    return case


def get_case(session: Session, number: str) -> Case:
    """A case by number, or NotFound."""
    case = session.exec(select(Case).where(Case.number == number)).first()
    if case is None:
        raise NotFound(f"no case {number!r}")
    return case


def case_view_number(case_id: int) -> str:
    """The number of a case by id (NotFound when there is none)."""
    with session_scope() as session:
        case = session.get(Case, case_id)
    if case is None or case.number is None:
        raise NotFound(f"no case with id {case_id}")
    return case.number


def record_event(
    case_id: int, key: str, kind: str, summary: str, *, actor: str = "system", data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Add a history line once per key; a replayed step adds nothing (returns False)."""
    try:
        with session_scope() as session:
            if session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.key == key)).first():
                return False
            session.add(CaseEvent(case_id=case_id, key=key, kind=kind, summary=summary, actor=actor,
                                  data=data or {}, at=at or clock.now()))
        return True
    except IntegrityError:  # a concurrent replay won the race: the line exists once
        return False


def update_case(number: str, *, status: str | None = None, data: dict[str, Any] | None = None,
                flow_run_id: str | None = None, closed: bool = False) -> Case:
    """Change a case's status or merge keys into its data."""
    with session_scope() as session:
        case = get_case(session, number)
        if status:
            case.status = status
        if data:
            case.data = {**case.data, **data}
        if flow_run_id:
            case.flow_run_id = flow_run_id
        if closed and case.closed_at is None:
            case.closed_at = clock.now()
        session.add(case)
    return case


def case_view(number: str) -> dict[str, Any]:
    """Everything about a case: state, waiting gates with deadlines, history, escalations, messages."""
    with session_scope() as session:
        case = get_case(session, number)
        gates = session.exec(select(Gate).where(Gate.case_id == case.id).order_by(col(Gate.id))).all()
        events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.at),
                                                                                               col(CaseEvent.id))).all()
        escalations = session.exec(select(Escalation).where(Escalation.case_id == case.id)).all()
        notes = session.exec(select(Notification).where(Notification.case_id == case.id)
                             .order_by(col(Notification.id))).all()
    waiting = [g for g in gates if g.status == "waiting"]
    return {
        "number": case.number,
        "procedure": case.procedure,
        "status": case.status,
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "flow_run_id": case.flow_run_id,
        "product_model": case.product_model,
        "serial_number": case.serial_number,
        "urgent": case.urgent,
        "parent_case_id": case.parent_case_id,
        "data": case.data,
        "current_gate": _gate_json(waiting[0]) if waiting else None,
        "waiting_gates": [_gate_json(g) for g in waiting],
        "gates": [_gate_json(g) for g in gates],
        "history": [
            {"at": e.at.isoformat(), "key": e.key, "kind": e.kind, "actor": e.actor, "summary": e.summary,
             "data": e.data}
            for e in events
        ],
        "escalations": [
            {"at": x.at.isoformat(), "gate_id": x.gate_id, "rung": x.rung, "from_role": x.from_role,
             "to_role": x.to_role, "reason": x.reason, "told": x.told}
            for x in escalations
        ],
        "notifications": [
            {"template": n.template, "recipient": n.recipient, "channel": n.channel, "status": n.status,
             "attempts": n.attempts, "subject": n.subject}
            for n in notes
        ],
    }


def _gate_json(gate: Gate) -> dict[str, Any]:
    return {
        "id": gate.id, "key": gate.key, "kind": gate.kind, "status": gate.status,
        "assignee_role": gate.assignee_role, "assignee_person": gate.assignee_person, "rung": gate.rung,
        "opened_at": gate.opened_at.isoformat(), "deadline_at": gate.deadline_at.isoformat(),
        "answered_by": gate.answered_by, "answered_via": gate.answered_via,
        "answered_at": gate.answered_at.isoformat() if gate.answered_at else None, "answer": gate.answer,
    }
