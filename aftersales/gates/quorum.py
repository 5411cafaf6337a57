"""Gates that a group decides by quorum (总经理办公会, F1:368): one vote per member, decided once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from aftersales.cases.store import record_event
from aftersales.config.staff import get_staff
from aftersales.gates import tokens
from aftersales.gates.lifecycle import mark_answered
from aftersales.gates.links import current, use_link
from aftersales.gates.resume import resume_soon
from aftersales.runtime.db import session_scope
from models import Gate, GateToken, GateVote


def vote(gate: Gate, row: GateToken, person: str, answer: dict[str, Any], quorum: int, at: datetime) -> Gate:
    """Record one member's vote; the gate is answered once a quorum approves or approval can no longer be reached."""
    assert gate.id is not None
    members = len(get_staff().holders(gate.assignee_role))
    try:
        with session_scope() as session:
            session.add(GateVote(gate_id=gate.id, person_id=row.person_id, approved=bool(answer.get("approved")),
                                 comment=str(answer.get("comment", "")), at=at))
    except IntegrityError as exc:
        raise tokens.LinkRefused("used", "You have already voted on this step.") from exc
    if not use_link(row.jti, at):
        raise tokens.LinkRefused("used", "This link has already been used.")
    record_event(gate.case_id, f"gate:{gate.key}:vote:{row.person_id}", "vote",
                 f"{person} voted {'for' if answer.get('approved') else 'against'} ({gate.kind})", actor=person,
                 data={"answer": answer}, at=at)
    cast = votes(gate.id)
    ayes = [v.person_id for v in cast if v.approved]
    noes = [v.person_id for v in cast if not v.approved]
    if len(ayes) < quorum and len(noes) <= members - quorum:
        return current(gate.id)  # still open: the page says how many votes are in
    approved = len(ayes) >= quorum
    decision = {"approved": approved, "comment": f"{len(ayes)} for, {len(noes)} against, quorum {quorum} of {members}"}
    if mark_answered(gate.id, decision, by=f"quorum: {', '.join(ayes if approved else noes)}", person=row.person_id,
                     via="link", at=at, summary=f"{gate.kind} decided by quorum: {decision['comment']}"):
        resume_soon(gate.id)
    return current(gate.id)


def votes(gate_id: int) -> list[GateVote]:
    """The votes cast on a quorum gate so far."""
    with session_scope() as session:
        return list(session.exec(select(GateVote).where(GateVote.gate_id == gate_id)).all())
