"""Operations act on a waiting step: hand it to another person, or answer it on someone's behalf, with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from aftersales.cases.store import get_case, record_event
from aftersales.config.policy import get_policy
from aftersales.config.staff import CUSTOMER, get_staff
from aftersales.errors import NotFound, RuleViolation
from aftersales.gates.lifecycle import mark_answered, notify_gate, person_name
from aftersales.gates.links import current, parse_answer
from aftersales.gates.resume import resume_soon
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Case, Gate, GateToken

REASON_MAX = 500


@dataclass(frozen=True)
class Handover:
    """What a hand-over did: the gate as it is now and how many messages went to its new holder."""

    gate: Gate
    sent: int


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise RuleViolation("a reason is required: say why the step changes hands")
    if len(text) > REASON_MAX:
        raise RuleViolation(f"the reason is too long ({len(text)} characters, at most {REASON_MAX})")
    return text


def actor_name(person_id: str) -> str:
    """How the acting operations person is named in the history: 'name (id)'; NotFound for an unknown id."""
    person = get_staff().person(person_id)
    return f"{person.name} ({person.id})"


def waiting_gate(number: str, gate_id: int) -> tuple[Gate, Case]:
    """The case's gate, if it still waits; NotFound or RuleViolation saying why not."""
    with session_scope() as session:
        case = get_case(session, number)
        gate = session.get(Gate, gate_id)
        if gate is None or gate.case_id != case.id:
            raise NotFound(f"case {number} has no step {gate_id}")
    if gate.status != "waiting":
        raise RuleViolation(f"step {gate.kind} of {number} is {gate.status}, not waiting: nothing to change")
    return gate, case


def reassign(number: str, gate_id: int, person_id: str, reason: str, *, actor: str,
             now: datetime | None = None) -> Handover:
    """Hand a waiting step to another staff member: record who, why and by whom, then send them a fresh link.

    The links sent before stop working (a step has one holder); nothing changes when any check fails.
    """
    why = _reason(reason)
    acting = actor_name(actor)
    new_holder = get_staff().person(person_id)  # NotFound names the unknown person
    gate, case = waiting_gate(number, gate_id)
    if gate.customer_gate:
        raise RuleViolation("a step the customer answers cannot be handed to staff; answer it on their behalf")
    if gate.assignee_person == new_holder.id:
        raise RuleViolation(f"{new_holder.name} ({new_holder.id}) already holds this step")
    at = now or clock.now()
    before = person_name(gate.assignee_person, case) if gate.assignee_person else \
        f"role {get_staff().role_label(gate.assignee_role)}"
    with session_scope() as session:
        taken = session.execute(update(Gate).where(col(Gate.id) == gate_id, col(Gate.status) == "waiting")
                                .values(assignee_person=new_holder.id))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise RuleViolation(f"step {gate.kind} of {number} was answered meanwhile: nothing changed")
        # Earlier links of this step expire now: the new holder's link is the one that answers it.
        session.execute(update(GateToken).where(col(GateToken.gate_id) == gate_id, col(GateToken.used_at).is_(None),
                                                col(GateToken.expires_at) > at).values(expires_at=at))
    assert case.id is not None
    record_event(case.id, f"gate:{gate.key}:reassigned:{at.isoformat()}", "reassigned",
                 f"{gate.kind} handed from {before} to {new_holder.name} ({new_holder.id}) by {acting}: {why}",
                 actor=acting, at=at,
                 data={"gate_id": gate_id, "from_person": gate.assignee_person, "from_role": gate.assignee_role,
                       "to_person": new_holder.id, "reason": why})
    sent = notify_gate(gate_id, "request", now=at, round_key=f":handover:{at.isoformat()}")
    return Handover(current(gate_id), sent)


def answer_on_behalf(number: str, gate_id: int, for_person: str, reason: str, raw: dict[str, Any], *, actor: str,
                     now: datetime | None = None) -> Gate:
    """Answer a waiting step for its holder (e.g. given by phone): the same record and resume as a link answer,
    naming who acted for whom and why. Invalid answers raise pydantic's ValidationError; nothing changes."""
    why = _reason(reason)
    acting = actor_name(actor)
    gate, case = waiting_gate(number, gate_id)
    if get_policy().gate(gate.kind).quorum:
        raise RuleViolation(f"{gate.kind} is decided by the votes of its members: each votes from their own link")
    if gate.customer_gate:
        if for_person != CUSTOMER:
            raise RuleViolation("this step is the customer's: answer it on behalf of the customer")
    else:
        holder = get_staff().person(for_person)  # NotFound names the unknown person
        holds = gate.assignee_person == holder.id if gate.assignee_person else gate.assignee_role in holder.roles
        if not holds:
            raise RuleViolation(f"{holder.name} ({holder.id}) does not hold this step "
                                f"(it waits on {gate.assignee_person or gate.assignee_role})")
    answer = parse_answer(gate, raw).model_dump(mode="json")
    at = now or clock.now()
    behalf = person_name(for_person, case)
    by = f"{acting} on behalf of {behalf}"
    if not mark_answered(gate_id, answer, by=by[:120], person=for_person, via="on_behalf", at=at,
                         summary=f"{gate.kind} answered by {acting} on behalf of {behalf}: {why}"[:1000]):
        raise RuleViolation(f"step {gate.kind} of {number} was answered meanwhile: nothing changed")
    assert case.id is not None
    record_event(case.id, f"gate:{gate.key}:on_behalf", "on_behalf", f"{acting} answered for {behalf}: {why}"[:1000],
                 actor=acting, at=at, data={"gate_id": gate_id, "for_person": for_person, "reason": why})
    resume_soon(gate_id)
    return current(gate_id)
