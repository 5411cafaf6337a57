"""A gate's life in the database: opened once with its deadline, told to its assignees, answered once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from aftersales.cases import prefect_view
from aftersales.cases.store import record_event
from aftersales.config.policy import get_policy
from aftersales.config.staff import CUSTOMER, get_staff
from aftersales.errors import NotFound
from aftersales.gates.links import issue_link
from aftersales.messaging.delivery import already_sent, deliver
from aftersales.messaging.labels import label
from aftersales.messaging.recipients import Recipient, customer_recipients, role_recipients
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import due, gate_due_at, local_text, remind_time
from models import Case, Gate
from models.inputs import GATE_INPUTS

PREFECT_UI_ACTOR = "Prefect UI (the open-source server records no identity)"
TEMPLATES = {"request": "gate_request", "reminder": "gate_reminder", "escalated": "gate_escalated"}


def open_gate(
    *, case_id: int, key: str, kind: str, input_model: str, flow_run_id: str | None,
    summary: list[dict[str, str]], assignee_person: str | None = None, assignee_role: str | None = None,
    now: datetime | None = None, opens_at: datetime | None = None, deadline_at: datetime | None = None,
    clock_name: str | None = None,
) -> int:
    """Create the gate once (a replay returns the same one) with its policy deadline and reminder time.

    `assignee_role` replaces the policy's role for this gate (e.g. the department that relates to a complaint).
    `deadline_at` replaces the policy deadline when the sources count it from another moment than the
    opening (the spare unit: from the report, 004:355). `opens_at` in the future makes a *scheduled* gate:
    no request goes out and it cannot be answered from a link until the sweep opens it at that time
    (`open_scheduled`); a flow may already wait on it, holding no process (a suspended run).
    `clock_name` names the case clock `deadline_at` comes from (aftersales.sla.clocks): the sweep neither reminds nor
    escalates the gate while that clock stands still, and moves its deadline when the clock resumes.
    """
    if input_model not in GATE_INPUTS:
        raise NotFound(f"unknown gate input {input_model!r}")
    policy = get_policy()
    gate_policy = policy.gate(kind)
    created = now or clock.now()
    opened = max(opens_at, created) if opens_at is not None else created
    scheduled = opened > created
    with session_scope() as session:
        existing = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()
        if existing is not None:
            assert existing.id is not None
            return existing.id
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case with id {case_id}")
        deadline = deadline_at or due(policy, opened, policy.gate_deadline(kind, urgent=case.urgent))
        gate = Gate(
            case_id=case_id, key=key, kind=kind, input_model=input_model, flow_run_id=flow_run_id,
            assignee_role=assignee_role or gate_policy.role, assignee_person=assignee_person,
            customer_gate=(assignee_role or gate_policy.role) == CUSTOMER, opened_at=opened, deadline_at=deadline,
            remind_at=remind_time(policy, opened, deadline, urgent=case.urgent),
            context={"summary": summary, **({"clock": clock_name} if clock_name else {})},
            status="scheduled" if scheduled else "waiting",
        )
        gate.due_at = opened if scheduled else gate_due_at(policy, gate)
        session.add(gate)
        session.flush()
        assert gate.id is not None
        gate_id = gate.id
    if scheduled:
        record_event(case_id, f"gate:{key}:scheduled", "gate_scheduled",
                     f"{kind} for {gate_policy.role} opens {local_text(opened, policy)}, "
                     f"due {local_text(deadline, policy)}",
                     data={"gate_id": gate_id, "opens_at": opened.isoformat(), "deadline_at": deadline.isoformat()},
                     at=created)
        prefect_view.refresh(case_id=case_id, now=created)
        return gate_id
    record_event(case_id, f"gate:{key}:opened", "gate_opened",
                 f"waiting on {assignee_role or gate_policy.role} for {kind} until {local_text(deadline, policy)}",
                 data={"gate_id": gate_id, "deadline_at": deadline.isoformat()}, at=opened)
    prefect_view.announce(prefect_view.GATE_OPENED, case_id=case_id, gate_id=gate_id,
                          payload={"deadline_at": deadline.isoformat()}, now=opened)
    return gate_id


def open_scheduled(at: datetime) -> list[int]:
    """Open the scheduled gates whose time has come and send their requests (once; safe to run concurrently)."""
    policy = get_policy()
    with session_scope() as session:
        ready = session.exec(select(Gate).where(Gate.status == "scheduled", col(Gate.due_at) <= at)).all()
    opened: list[int] = []
    for gate in ready:
        assert gate.id is not None
        with session_scope() as session:
            claimed = session.execute(update(Gate).where(col(Gate.id) == gate.id, col(Gate.status) == "scheduled")
                                      .values(status="waiting", due_at=gate_due_at(policy, gate)))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another sweep opened it
        record_event(gate.case_id, f"gate:{gate.key}:opened", "gate_opened",
                     f"waiting on {gate.assignee_role} for {gate.kind} until {local_text(gate.deadline_at, policy)}",
                     data={"gate_id": gate.id, "deadline_at": gate.deadline_at.isoformat()}, at=at)
        prefect_view.announce(prefect_view.GATE_OPENED, case_id=gate.case_id, gate_id=gate.id,
                              payload={"deadline_at": gate.deadline_at.isoformat()}, now=at)
        notify_gate(gate.id, "request", now=at)
        opened.append(gate.id)
    return opened


def recipients(gate: Gate, case: Case) -> list[Recipient]:
    """Who answers the gate now: the customer, the named assignee, or everyone holding the role."""
    if gate.assignee_role == CUSTOMER:
        return customer_recipients(case)
    if gate.assignee_person:
        return role_recipients([gate.assignee_person], by_person=True)
    return role_recipients([gate.assignee_role])


def notify_gate(gate_id: int, purpose: str = "request", *, extra: dict[str, Any] | None = None,
                now: datetime | None = None, round_key: str = "") -> int:
    """Send each assignee their link; keyed by gate, purpose and rung so a replay sends nothing twice.

    `round_key` makes a new round of the same purpose (a hand-over by operations sends a fresh link even to
    someone who held the step before)."""
    policy = get_policy()
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        if gate is None:
            raise NotFound(f"no gate {gate_id}")
        case = session.get(Case, gate.case_id)
        assert case is not None
    if gate.status == "scheduled":
        return 0  # not due yet: the sweep sends the request when it opens the gate
    sent = 0
    people = recipients(gate, case)
    if not people:
        record_event(case.id or 0, f"gate:{gate.key}:{purpose}:{gate.rung}:nobody", "notice",
                     f"nobody to tell for {gate.kind}: the customer has no e-mail; customer service must call")
    for person in people:
        key = f"gate:{gate_id}:{purpose}:{gate.rung}:{person.person_id}{round_key}"
        if already_sent(key):
            continue
        context = {
            "case_number": case.number, "procedure_label": label("procedures", case.procedure, person.language),
            "gate_title": label("gates", gate.kind, person.language), "summary": gate.context.get("summary", []),
            "link": issue_link(gate_id, person.person_id, now=now), "deadline": local_text(gate.deadline_at, policy),
            "assignee_name": person.name, "customer_name": case.customer_name, **(extra or {}),
        }
        template = "customer_action" if gate.customer_gate and person.person_id == CUSTOMER else TEMPLATES[purpose]
        rows = deliver(key=key, case_id=case.id, template=template, recipient=person.person_id,
                       language=person.language, context=context, urls=person.urls)
        sent += sum(1 for r in rows if r.status == "sent")
    return sent


def mark_answered(gate_id: int, answer: dict[str, Any], *, by: str, person: str | None, via: str, at: datetime,
                  summary: str, resumed: bool = False) -> bool:
    """Record the one answer of a waiting gate and its history line; False when it was answered already."""
    values: dict[str, Any] = {"status": "answered", "answer": answer, "answered_by": by, "answered_person": person,
                              "answered_at": at, "answered_via": via, "due_at": None}
    if resumed:
        values["resumed_at"] = at
    with session_scope() as session:
        # A scheduled gate is answerable only from the Prefect UI (no link exists yet): staff may record early.
        taken = session.execute(update(Gate).where(col(Gate.id) == gate_id,
                                                   col(Gate.status).in_(("waiting", "scheduled")))
                                .values(**values))
        gate = session.get(Gate, gate_id)
        assert gate is not None
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record_event(gate.case_id, f"gate:{gate.key}:answered", "gate_answered", summary, actor=by,
                 data={"answer": answer}, at=at)
    # Prefect hears who answered as a staff id or "customer" (never a name) and through which channel.
    prefect_view.announce(prefect_view.GATE_ANSWERED, case_id=gate.case_id, gate_id=gate_id, now=at,
                          payload={"by": prefect_view.answered_by(person, via, by), "channel": via,
                                   "decision": prefect_view.decisions(gate.input_model, answer)})
    return True


def record_flow_answer(gate_id: int, answer: dict[str, Any]) -> None:
    """Record an answer that reached the flow without a link (the Prefect UI's resume form)."""
    from aftersales.gates.resume import mark_resumed

    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        kind = gate.kind if gate else "gate"
    mark_answered(gate_id, answer, by=PREFECT_UI_ACTOR, person=None, via="prefect-ui", at=clock.now(),
                  summary=f"{kind} answered in the Prefect UI", resumed=True)
    mark_resumed(gate_id)


def gate_key(gate_id: int) -> str | None:
    """A gate's key (e.g. 'triage'), None when there is no such gate."""
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        return gate.key if gate is not None else None


def recorded_answer(gate_id: int) -> dict[str, Any] | None:
    """The answer already recorded for a gate (from a link), if any."""
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        return dict(gate.answer) if gate is not None and gate.status == "answered" and gate.answer else None


def answer_of(case_id: int, key: str) -> dict[str, Any] | None:
    """The answer recorded for a case's gate by its key, if any (None while it waits or before it exists)."""
    with session_scope() as session:
        gate = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()
        return dict(gate.answer) if gate is not None and gate.status == "answered" and gate.answer else None


def answered_at(case_id: int, key: str) -> datetime | None:
    """When a case's gate was answered (None while it waits)."""
    with session_scope() as session:
        gate = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()
        return gate.answered_at if gate is not None else None


def answered_person(case_id: int, key: str) -> str | None:
    """Who answered a case's gate from their link (None for the Prefect UI, or while it waits)."""
    with session_scope() as session:
        gate = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()
        return gate.answered_person if gate is not None else None


def person_name(person_id: str, case: Case) -> str:
    """How an answerer is named in the history: the customer, or a staff member with their id."""
    if person_id == CUSTOMER:
        return f"customer {case.customer_name}"
    try:
        person = get_staff().person(person_id)
        return f"{person.name} ({person.id})"
    except NotFound:
        return person_id
