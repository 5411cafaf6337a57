"""Who may read a case: operations, the staff who hold or held one of its steps, the intake key that opened it."""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import col, select

from aftersales.cases import store
from aftersales.config.policy import get_policy
from aftersales.config.staff import Person
from aftersales.runtime.db import session_scope
from models import Gate, GateToken


def is_operations(person: Person) -> bool:
    """Whether the person holds a role that policy.yaml `access.operations` lets see everything."""
    return bool(set(person.roles) & set(get_policy().access.operations))


def staff_may_read(number: str, person: Person) -> bool:
    """Operations read every case; others one whose step they hold or held: assigned to them or to a role of
    theirs, answered by them, or sent to them by link (an escalation, a delegation). NotFound for no case."""
    if is_operations(person):
        return True  # whether the case exists is for the page to say (404), as for everyone else
    with session_scope() as session:
        case = store.get_case(session, number)
        held = select(Gate.id).where(Gate.case_id == case.id, or_(
            col(Gate.assignee_person) == person.id, col(Gate.answered_person) == person.id,
            and_(col(Gate.assignee_person).is_(None), col(Gate.assignee_role).in_(person.roles))))
        if session.exec(held.limit(1)).first() is not None:
            return True
        linked = (select(GateToken.jti).join(Gate, col(Gate.id) == col(GateToken.gate_id))
                  .where(Gate.case_id == case.id, GateToken.person_id == person.id))
        return session.exec(linked.limit(1)).first() is not None


def key_may_read(number: str, opened_by: str) -> bool:
    """Whether the case was opened by this intake key (NotFound for no case)."""
    with session_scope() as session:
        return store.get_case(session, number).opened_by == opened_by
