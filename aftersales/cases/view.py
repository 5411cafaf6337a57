"""The read model of a case: state, waiting gates with deadlines, history, escalations and messages."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from aftersales.cases.store import get_case
from aftersales.runtime.db import session_scope
from aftersales.sla.clocks import case_clocks, clock_json
from models import CaseEvent, Escalation, Gate, Notification


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
    # The gate the flow waits on comes first; gates beside it (spare unit, low-score follow-up) after.
    waiting = sorted((g for g in gates if g.status == "waiting"), key=lambda g: g.flow_run_id is None)
    return {
        "number": case.number,
        "procedure": case.procedure,
        "status": case.status,
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "flow_run_id": case.flow_run_id,
        # Its flow run could not be recovered (aftersales.sla.recovery): operations retry it.
        "needs_attention": {"at": case.needs_attention_at.isoformat(), "error": case.attention_error}
        if case.needs_attention_at else None,
        "product_model": case.product_model,
        "serial_number": case.serial_number,
        "urgent": case.urgent,
        "parent_case_id": case.parent_case_id,
        "data": case.data,
        # Clocks across steps (the repair's resolution, a complaint's closing limit): paused while the case waits
        # on the customer, with the time left (aftersales.sla.clocks); only while the case is open.
        "clocks": [clock_json(name, state) for name, state in case_clocks(case).items()]
        if case.closed_at is None else [],
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
