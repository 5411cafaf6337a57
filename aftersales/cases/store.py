"""Cases in the database: opening with a unique number, reading, changing, and their history lines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from aftersales.config.policy import get_policy
from aftersales.errors import NotFound
from aftersales.procedures import registry
from aftersales.recall.units import link_case
from aftersales.rules.numbering import case_number
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Case, CaseCreate, CaseEvent
from models.case import CaseBase, CaseSnapshot


def open_case(request: CaseCreate, *, now: datetime | None = None, opened_by: str | None = None) -> Case:
    """Register a case and give it a unique number (spec §1.3, F2:216); `opened_by` names the key or person."""
    opened = now or clock.now()
    fields = {**request.model_dump(exclude={"reported_at", "facts"}), "opened_by": opened_by}
    data: dict[str, Any] = {"reported_at": (request.reported_at or opened).isoformat()}
    key = registry.get(request.procedure).facts_key
    if key is not None and request.facts is not None:
        data[key] = request.facts  # stored under its request block's name, as the flows and pages read it
    return _insert_case(fields, data, opened)


def open_child_case(parent_number: str, procedure: str, origin: str, *, extra: dict[str, Any] | None = None,
                    facts: dict[str, Any] | None = None, fields: dict[str, Any] | None = None) -> Case:
    """Open a case linked to another (a complaint's repair, a rejected complaint reopened, 004:473), once per origin.

    The child copies the parent's customer and product; `fields` replaces some of them (a recall's child case is
    about one unit and that unit's customer, not the recall's reporter)."""
    with session_scope() as session:
        parent = get_case(session, parent_number)
        for child in session.exec(select(Case).where(Case.parent_case_id == parent.id)).all():
            if child.data.get("origin") == origin:
                return child  # a replayed step: the linked case exists already
    extra = {**(extra or {}), "origin": origin}
    copied = {k: getattr(parent, k) for k in CaseBase.model_fields}
    copied.update(fields or {})
    data: dict[str, Any] = {"reported_at": clock.now().isoformat(), "parent_number": parent_number, **(extra or {})}
    key = registry.get(procedure).facts_key
    if key is not None and facts is not None:
        data[key] = facts
    return _insert_case({**copied, "procedure": procedure, "urgent": parent.urgent}, data, clock.now(),
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
        case.number = case_number(registry.get(case.procedure).prefix, local_day, case.id)
        link_case(session, case.serial_number, case.number)  # the unit register follows the cases about a unit
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


def has_event(case_id: int, key: str) -> bool:
    """Whether the case has a history line with this key."""
    with session_scope() as session:
        return session.exec(select(CaseEvent.id).where(CaseEvent.case_id == case_id, CaseEvent.key == key)).first() \
            is not None


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
                flow_run_id: str | None = None, urgent: bool | None = None, closed: bool = False) -> Case:
    """Change a case's status or urgency, merge keys into its data, or close it."""
    with session_scope() as session:
        case = get_case(session, number)
        if status:
            case.status = status
        if data:
            case.data = {**case.data, **data}
        if flow_run_id:
            case.flow_run_id = flow_run_id
        if urgent is not None:
            case.urgent = urgent
        if closed and case.closed_at is None:
            case.closed_at = clock.now()
        session.add(case)
    return case


def holds(number: str, *, status: str | None = None, data: dict[str, Any] | None = None,
          flow_run_id: str | None = None, urgent: bool | None = None) -> bool:
    """True when the case already has every value given (the data keys compared as stored, in JSON): a replayed
    flow then skips the change instead of running its cached task. False for a case not found."""
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.number == number)).first()
    if case is None:
        return False
    stored = json.loads(json.dumps(data or {}, default=str))
    return ((status is None or case.status == status) and (flow_run_id is None or case.flow_run_id == flow_run_id)
            and (urgent is None or case.urgent == urgent)
            and all(key in case.data and case.data[key] == value for key, value in stored.items()))


def snapshot(number: str, facts_model: type[BaseModel] | None = None) -> CaseSnapshot[Any]:
    """The case as a flow reads it: typed registration fields and the procedure's typed facts."""
    with session_scope() as session:
        case = get_case(session, number)
    procedure = registry.get(case.procedure)
    model = facts_model or procedure.facts_model
    raw = case.data.get(procedure.facts_key) if procedure.facts_key else None
    facts = model.model_validate(raw) if model is not None and raw is not None else None
    assert case.id is not None and case.number is not None
    return CaseSnapshot[Any](
        id=case.id, number=case.number, procedure=case.procedure, language=case.language, urgent=case.urgent,
        channel=case.channel, product_model=case.product_model, serial_number=case.serial_number,
        problem_description=case.problem_description, purchase_date=case.purchase_date, opened_at=case.opened_at,
        reported_at=datetime.fromisoformat(case.data.get("reported_at") or case.opened_at.isoformat()),
        data=case.data, facts=facts)
