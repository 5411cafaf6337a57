"""Answering a gate from its link: signed single-use links, their checks, and the one answer they record."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.gates import tokens
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Case, Gate, GateToken
from models.inputs import GATE_INPUTS, GateInput


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


def use_link(jti: str, at: datetime) -> bool:
    """Spend a link; False when it was spent already (a second submit)."""
    with session_scope() as session:
        used = session.execute(update(GateToken).where(col(GateToken.jti) == jti, col(GateToken.used_at).is_(None))
                               .values(used_at=at))
    return bool(used.rowcount == 1)  # type: ignore[attr-defined]


def answer_by_link(gate_id: int, token: str, raw: dict[str, Any], *, now: datetime | None = None) -> Gate:
    """Record one answer from a link and resume the flow; a second submit is refused and resumes nothing."""
    from aftersales.gates.lifecycle import mark_answered, person_name
    from aftersales.gates.quorum import vote
    from aftersales.gates.resume import resume_soon

    gate, case, row = check_link(gate_id, token, now=now)
    answer = parse_answer(gate, raw).model_dump(mode="json")
    at = now or clock.now()
    person = person_name(row.person_id, case)
    quorum = get_policy().gate(gate.kind).quorum
    if quorum:
        return vote(gate, row, person, answer, quorum, at)
    if not use_link(row.jti, at) or not mark_answered(
            gate_id, answer, by=person, person=row.person_id, via="link", at=at,
            summary=f"{gate.kind} answered by {person} via link"):
        raise tokens.LinkRefused("used", "This step has already been answered.")
    resume_soon(gate_id)
    return current(gate_id)


def current(gate_id: int) -> Gate:
    """The gate as it is now."""
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None
        return gate
