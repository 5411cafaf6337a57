"""The human gate: open it, tell its assignees with signed links, take one answer, resume the flow once."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from aftersales.cases.store import record_event
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.config.staff import CUSTOMER, get_staff
from aftersales.errors import IntegrationError, NotFound
from aftersales.gates import tokens
from aftersales.messaging.delivery import deliver
from aftersales.messaging.labels import label
from aftersales.messaging.transport import smtp_url
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import due, local_text, remind_time
from models import Case, Gate, GateToken, GateVote
from models.inputs import GATE_INPUTS, GateInput

log = logging.getLogger("aftersales.gates.lifecycle")
PREFECT_UI_ACTOR = "Prefect UI (the open-source server records no identity)"


@dataclass(frozen=True)
class Recipient:
    """Someone a gate message goes to."""

    person_id: str
    name: str
    language: str
    urls: list[str]


def open_gate(
    *, case_id: int, key: str, kind: str, input_model: str, flow_run_id: str | None,
    summary: list[dict[str, str]], assignee_person: str | None = None, now: datetime | None = None,
) -> int:
    """Create the gate once (a replay returns the same one) with its policy deadline and reminder time."""
    if input_model not in GATE_INPUTS:
        raise NotFound(f"unknown gate input {input_model!r}")
    policy = get_policy()
    gate_policy = policy.gate(kind)
    opened = now or clock.now()
    with session_scope() as session:
        existing = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()
        if existing is not None:
            assert existing.id is not None
            return existing.id
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case with id {case_id}")
        deadline = due(policy, opened, policy.gate_deadline(kind, urgent=case.urgent))
        gate = Gate(
            case_id=case_id, key=key, kind=kind, input_model=input_model, flow_run_id=flow_run_id,
            assignee_role=gate_policy.role, assignee_person=assignee_person,
            customer_gate=gate_policy.role == CUSTOMER, opened_at=opened, deadline_at=deadline,
            remind_at=remind_time(policy, opened, deadline, urgent=case.urgent),
            context={"summary": summary},
        )
        session.add(gate)
        session.flush()
        assert gate.id is not None
        gate_id = gate.id
    record_event(case_id, f"gate:{key}:opened", "gate_opened",
                 f"waiting on {gate_policy.role} for {kind} until {local_text(deadline, policy)}",
                 data={"gate_id": gate_id, "deadline_at": deadline.isoformat()}, at=opened)
    return gate_id


def recipients(gate: Gate, case: Case) -> list[Recipient]:
    """Who answers the gate now: the customer, the named assignee, or everyone holding the role."""
    if gate.assignee_role == CUSTOMER:
        return customer_recipients(case)
    if gate.assignee_person:
        return role_recipients([gate.assignee_person], by_person=True)
    return role_recipients([gate.assignee_role])


def customer_recipients(case: Case) -> list[Recipient]:
    """The customer, when they gave an e-mail (the configured customer channel, or the local mail sink)."""
    if not case.customer_email:
        return []
    template = get_settings().customer_apprise_url
    url = template.format(email=case.customer_email) if template else smtp_url(case.customer_email)
    return [Recipient(CUSTOMER, case.customer_name, case.language, [url])]


def role_recipients(names: list[str], *, by_person: bool = False) -> list[Recipient]:
    """Everyone answering for these roles (or these person ids), away people replaced by their delegates."""
    staff = get_staff()
    result: list[Recipient] = []
    for name in names:
        people = [staff.person(name)] if by_person else staff.holders(name)
        for p in people:
            if all(r.person_id != p.id for r in result):
                result.append(Recipient(p.id, p.name, p.language, list(p.notify)))
    return result


def issue_link(gate_id: int, person_id: str, *, now: datetime | None = None) -> str:
    """A new single-use link for one person to answer one gate."""
    settings = get_settings()
    issued = now or clock.now()
    jti = tokens.new_jti()
    with session_scope() as session:
        session.add(GateToken(jti=jti, gate_id=gate_id, person_id=person_id, issued_at=issued,
                              expires_at=issued + timedelta(hours=settings.token_max_age_hours)))
    token = tokens.sign(settings.signing_key(), tokens.LinkClaims(gate_id, person_id, jti))
    return f"{settings.public_base_url.rstrip('/')}/gates/{gate_id}?t={token}"


def notify_gate(gate_id: int, purpose: str = "request", *, extra: dict[str, Any] | None = None,
                now: datetime | None = None) -> int:
    """Send each assignee their link; keyed by gate, purpose and rung so a replay sends nothing twice."""
    policy = get_policy()
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        if gate is None:
            raise NotFound(f"no gate {gate_id}")
        case = session.get(Case, gate.case_id)
        assert case is not None
    sent = 0
    people = recipients(gate, case)
    if not people:
        record_event(case.id or 0, f"gate:{gate.key}:{purpose}:{gate.rung}:nobody", "notice",
                     f"nobody to tell for {gate.kind}: the customer has no e-mail; customer service must call")
    for person in people:
        key = f"gate:{gate_id}:{purpose}:{gate.rung}:{person.person_id}"
        if _already_sent(key):
            continue
        context = {
            "case_number": case.number, "procedure_label": label("procedures", case.procedure, person.language),
            "gate_title": label("gates", gate.kind, person.language), "summary": gate.context.get("summary", []),
            "link": issue_link(gate_id, person.person_id, now=now), "deadline": local_text(gate.deadline_at, policy),
            "assignee_name": person.name, "customer_name": case.customer_name, **(extra or {}),
        }
        template = {"request": "gate_request", "reminder": "gate_reminder", "escalated": "gate_escalated"}[purpose]
        if gate.customer_gate and person.person_id == CUSTOMER:
            template = "customer_action"
        rows = deliver(key=key, case_id=case.id, template=template, recipient=person.person_id,
                       language=person.language, context=context, urls=person.urls)
        sent += sum(1 for r in rows if r.status == "sent")
    return sent


def _already_sent(key: str) -> bool:
    from models import Notification

    # A range on the key, not LIKE 'key%': the unique index serves it on SQLite and PostgreSQL alike.
    with session_scope() as session:
        rows = session.exec(select(Notification).where(col(Notification.key) >= f"{key}:",
                                                       col(Notification.key) < f"{key};")).all()
    return bool(rows) and all(r.status == "sent" for r in rows)


def check_link(gate_id: int, token: str, *, now: datetime | None = None) -> tuple[Gate, Case, GateToken]:
    """The gate, case and link row behind a link, or LinkRefused saying why it cannot be used."""
    settings = get_settings()
    claims = tokens.verify(settings.signing_key(), token, settings.token_max_age_hours * 3600)
    if claims.gate_id != gate_id:
        raise tokens.LinkRefused("other_gate", "This link belongs to another step or another person.")
    at = now or clock.now()
    with session_scope() as session:
        row = session.get(GateToken, claims.jti)
        gate = session.get(Gate, gate_id)
        if row is None or gate is None or row.gate_id != gate_id or row.person_id != claims.person_id:
            raise tokens.LinkRefused("forged", "This link is not valid.")
        case = session.get(Case, gate.case_id)
        assert case is not None
    if row.used_at is not None:
        raise tokens.LinkRefused("used", "This link has already been used.")
    if row.expires_at <= at:
        raise tokens.LinkRefused("expired", "This link has expired.")
    if gate.status != "waiting":
        raise tokens.LinkRefused("closed", "This step has already been answered.")
    return gate, case, row


def parse_answer(gate: Gate, raw: dict[str, Any]) -> GateInput:
    """Validate a submitted answer against the gate's typed question (raises pydantic ValidationError)."""
    return GATE_INPUTS[gate.input_model].model_validate(raw)


def answer_by_link(gate_id: int, token: str, raw: dict[str, Any], *, now: datetime | None = None) -> Gate:
    """Record one answer from a link and resume the flow; a second submit is refused and resumes nothing."""
    gate, case, row = check_link(gate_id, token, now=now)
    answer = parse_answer(gate, raw).model_dump(mode="json")
    at = now or clock.now()
    person = _person_name(row.person_id, case)
    quorum = get_policy().gate(gate.kind).quorum
    if quorum:
        return _vote(gate, row, person, answer, quorum, at)
    with session_scope() as session:
        used = session.execute(
            update(GateToken).where(col(GateToken.jti) == row.jti, col(GateToken.used_at).is_(None))
            .values(used_at=at)
        )
        taken = session.execute(
            update(Gate).where(col(Gate.id) == gate_id, col(Gate.status) == "waiting")
            .values(status="answered", answer=answer, answered_by=person, answered_person=row.person_id,
                    answered_at=at, answered_via="link")
        )
        if used.rowcount != 1 or taken.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise tokens.LinkRefused("used", "This step has already been answered.")
    record_event(gate.case_id, f"gate:{gate.key}:answered", "gate_answered",
                 f"{gate.kind} answered by {person} via link", actor=person, data={"answer": answer}, at=at)
    try:
        resume_gate(gate_id, wait_seconds=15)
    except IntegrationError as exc:  # the sweep retries; the answer is safe in the database
        log.warning("resume of gate %s deferred: %s", gate_id, exc)
    with session_scope() as session:
        refreshed = session.get(Gate, gate_id)
        assert refreshed is not None
        return refreshed


def _vote(gate: Gate, row: GateToken, person: str, answer: dict[str, Any], quorum: int, at: datetime) -> Gate:
    """Record one member's vote; the gate is answered once a quorum approves or approval can no longer be reached."""
    assert gate.id is not None
    members = len(get_staff().holders(gate.assignee_role))
    try:
        with session_scope() as session:
            used = session.execute(update(GateToken).where(col(GateToken.jti) == row.jti,
                                                           col(GateToken.used_at).is_(None)).values(used_at=at))
            if used.rowcount != 1:  # type: ignore[attr-defined]
                raise tokens.LinkRefused("used", "This link has already been used.")
            session.add(GateVote(gate_id=gate.id, person_id=row.person_id, approved=bool(answer.get("approved")),
                                 comment=str(answer.get("comment", "")), at=at))
    except IntegrityError as exc:
        raise tokens.LinkRefused("used", "You have already voted on this step.") from exc
    record_event(gate.case_id, f"gate:{gate.key}:vote:{row.person_id}", "vote",
                 f"{person} voted {'for' if answer.get('approved') else 'against'} ({gate.kind})", actor=person,
                 data={"answer": answer}, at=at)
    with session_scope() as session:
        votes = session.exec(select(GateVote).where(GateVote.gate_id == gate.id)).all()
    ayes = [v.person_id for v in votes if v.approved]
    noes = [v.person_id for v in votes if not v.approved]
    if len(ayes) < quorum and len(noes) <= members - quorum:
        with session_scope() as session:
            waiting = session.get(Gate, gate.id)
            assert waiting is not None
            return waiting  # still open: the page says how many votes are in
    approved = len(ayes) >= quorum
    decision = {"approved": approved, "comment": f"{len(ayes)} for, {len(noes)} against, quorum {quorum} of {members}"}
    with session_scope() as session:
        taken = session.execute(
            update(Gate).where(col(Gate.id) == gate.id, col(Gate.status) == "waiting")
            .values(status="answered", answer=decision, answered_by=f"quorum: {', '.join(ayes if approved else noes)}",
                    answered_person=row.person_id, answered_at=at, answered_via="link")
        )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        record_event(gate.case_id, f"gate:{gate.key}:answered", "gate_answered",
                     f"{gate.kind} decided by quorum: {decision['comment']}", actor="quorum", data={"answer": decision},
                     at=at)
        try:
            resume_gate(gate.id, wait_seconds=15)
        except IntegrationError as exc:
            log.warning("resume of gate %s deferred: %s", gate.id, exc)
    with session_scope() as session:
        decided = session.get(Gate, gate.id)
        assert decided is not None
        return decided


def votes(gate_id: int) -> list[GateVote]:
    """The votes cast on a quorum gate so far."""
    with session_scope() as session:
        return list(session.exec(select(GateVote).where(GateVote.gate_id == gate_id)).all())


def _person_name(person_id: str, case: Case) -> str:
    if person_id == CUSTOMER:
        return f"customer {case.customer_name}"
    try:
        person = get_staff().person(person_id)
        return f"{person.name} ({person.id})"
    except NotFound:
        return person_id


def pause_key(gate_key: str) -> str:
    """The Prefect pause key of a gate, so a resume can tell which wait it answers."""
    # Prefect keys allow only lowercase letters, digits and dashes: 'execution#1.2' -> 'gate-execution-1-2'.
    return "gate-" + re.sub(r"[^a-z0-9]+", "-", gate_key.lower()).strip("-")


def resume_gate(gate_id: int, *, wait_seconds: float = 0.0) -> bool:
    """Resume the run suspended on this gate with the recorded answer, once; True when this call resumed it.

    The flow sends its message a moment before it suspends, so an answer can arrive while the run is still
    running: then this waits up to `wait_seconds` for the suspension (the sweep retries later otherwise).
    A run suspended on another gate, or finished, has already read the answer from the database itself.
    """
    from prefect.flow_runs import resume_flow_run
    from prefect.states import StateType

    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        if gate is None or gate.status != "answered" or gate.resumed_at is not None or not gate.flow_run_id:
            return False
    deadline = time.monotonic() + wait_seconds
    while True:
        state_type, key = _flow_run_state(gate.flow_run_id)
        if state_type == StateType.PAUSED and key == pause_key(gate.key):
            break
        final = (StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED)
        if state_type == StateType.PAUSED or state_type in final:
            _mark_resumed(gate_id)
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    try:
        resume_flow_run(UUID(gate.flow_run_id), run_input=gate.answer, _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - any API failure is retried by the sweep
        raise IntegrationError(f"could not resume flow run {gate.flow_run_id}: {exc}") from exc
    _mark_resumed(gate_id)
    return True


def _flow_run_state(flow_run_id: str) -> tuple[Any, str | None]:
    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    if run.state is None:
        return None, None
    return run.state.type, run.state.state_details.pause_key


def _mark_resumed(gate_id: int) -> None:
    with session_scope() as session:
        session.execute(update(Gate).where(col(Gate.id) == gate_id, col(Gate.resumed_at).is_(None))
                        .values(resumed_at=clock.now()))


def answered_person(case_id: int, key: str) -> str | None:
    """Who answered a case's gate from their link (None for the Prefect UI, or while it waits)."""
    with session_scope() as session:
        gate = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()
        return gate.answered_person if gate is not None else None


def recorded_answer(gate_id: int) -> dict[str, Any] | None:
    """The answer already recorded for a gate (from a link), if any."""
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        return dict(gate.answer) if gate is not None and gate.status == "answered" and gate.answer else None


def record_flow_answer(gate_id: int, answer: dict[str, Any]) -> None:
    """Record an answer that reached the flow without a link (the Prefect UI's resume form)."""
    at = clock.now()
    with session_scope() as session:
        result = session.execute(
            update(Gate).where(col(Gate.id) == gate_id, col(Gate.status) == "waiting")
            .values(status="answered", answer=answer, answered_by=PREFECT_UI_ACTOR, answered_at=at,
                    answered_via="prefect-ui", resumed_at=at)
        )
        gate = session.get(Gate, gate_id)
        assert gate is not None
    if result.rowcount == 1:  # type: ignore[attr-defined]
        record_event(gate.case_id, f"gate:{gate.key}:answered", "gate_answered",
                     f"{gate.kind} answered in the Prefect UI", actor=PREFECT_UI_ACTOR, data={"answer": answer})
    _mark_resumed(gate_id)


def invalid_fields(exc: ValidationError) -> dict[str, str]:
    """Field name -> message, for showing a rejected form beside its fields."""
    return {".".join(str(p) for p in err["loc"]) or "form": err["msg"] for err in exc.errors()}
