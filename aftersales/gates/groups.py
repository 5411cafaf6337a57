"""Waits in parallel: a gate group, several gates a run waits on as one and goes on once a join condition holds.

Design (chosen over one child flow run per branch): each branch is an ordinary gate row, so each keeps its own
assignee, deadline, reminder and ladder, and the sweep, the links, the case page and the Prefect-free answer
path treat it like any other gate (one branch late escalates alone). The run suspends ONCE, on the group's
pause key; answering a member records its answer and resumes the run only when the group's join condition
holds (every member, or a named subset). That costs one resume per group instead of one per branch, and no
flow-run process or Prefect run per branch (a branch here is one human answer, not work to execute; child
runs would also need their own recovery, and a subflow cannot suspend on its first gate, see README).

Exactly once: the join is claimed by a conditional UPDATE of the group row (`status` waiting -> joined WHERE no
required member is still unanswered), run after each answer's own transaction has committed. Two answers
committed at the same moment both try the claim; the row lock (PostgreSQL) or the write lock (SQLite) orders
them and the second finds the row joined already. Running the claim inside the answer's transaction instead
would lose the join under READ COMMITTED: each of two last answers would miss the other's uncommitted answer
and neither would join. The sweep also claims joins of waiting groups (an answer whose process died between
its commit and the claim) and retries resumes that did not get through.

The flow side is `tasks.gates.ask_all`: it reads every member's recorded answer after the resume. A run resumed
from the Prefect UI before the join holds checks again and waits on the group's next pause key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, update
from sqlmodel import col, select

from aftersales.cases.store import record_event
from aftersales.errors import IntegrationError, NotFound, RuleViolation
from aftersales.gates.resume import pause_key, resume_wait_once
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Case, Gate, GateGroup

log = logging.getLogger("aftersales.gates.groups")
MAX_WAITS = 50  # pause keys per group: a run resumed early from the UI waits again on the next one


def group_pause_key(group_key: str) -> str:
    """The prefix of the pause keys a run waiting on a group suspends on ('<prefix>-<n>')."""
    return pause_key(f"group:{group_key}")


def open_group(*, case_id: int, key: str, flow_run_id: str | None, join: Sequence[str] = (),
               members: Sequence[str] = (), now: datetime | None = None) -> int:
    """Create the group once (a replay returns the same one); `join` names the member keys that must be answered
    (empty: every member). `members`, when given, are the keys the caller will open: a join naming another key
    is refused before anything is stored."""
    if len(key) > 80 or not key:
        raise RuleViolation(f"group key {key!r} must be 1-80 characters")
    unknown = sorted(set(join) - set(members)) if members else []
    if unknown:
        raise RuleViolation(f"group {key!r}: the join names keys that are not members: {', '.join(unknown)}")
    at = now or clock.now()
    with session_scope() as session:
        existing = session.exec(select(GateGroup).where(GateGroup.case_id == case_id, GateGroup.key == key)).first()
        if existing is not None:
            assert existing.id is not None
            return existing.id
        if session.get(Case, case_id) is None:
            raise NotFound(f"no case with id {case_id}")
        # Every member named when the caller says which it will open: an answer that comes while later members
        # are still being opened must not find the group complete (members are opened one task at a time).
        required = list(join) or list(members)
        group = GateGroup(case_id=case_id, key=key, flow_run_id=flow_run_id, join=required, opened_at=at)
        session.add(group)
        session.flush()
        assert group.id is not None
        group_id = group.id
    what = f"{', '.join(join)} answered" if join else "every member answered"
    record_event(case_id, f"group:{key}:opened", "group_opened", f"waiting in parallel on {key} until {what}",
                 data={"group_id": group_id, "join": list(join)}, at=at)
    return group_id


def add_member(group_id: int, gate_id: int) -> None:
    """Make an opened gate a member of the group (once; a gate belongs to one group)."""
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        group = session.get(GateGroup, group_id)
        if gate is None or group is None:
            raise NotFound(f"no gate {gate_id} or group {group_id}")
        if gate.case_id != group.case_id:
            raise RuleViolation(f"gate {gate_id} belongs to another case than group {group.key!r}")
        if gate.group_id not in (None, group_id):
            raise RuleViolation(f"gate {gate.key!r} is a member of another group already")
        gate.group_id = group_id
        session.add(gate)


def _unanswered_required(group: GateGroup) -> Any:
    """SQL: a required member of the group that is not answered yet."""
    required = [col(Gate.group_id) == group.id, col(Gate.status) != "answered"]
    if group.join:
        required.append(col(Gate.key).in_(group.join))
    return exists().where(and_(*required))


def claim_join(group_id: int, *, now: datetime | None = None) -> bool:
    """Mark the group joined if its condition holds now; True for the one caller that joined it."""
    at = now or clock.now()
    with session_scope() as session:
        group = session.get(GateGroup, group_id)
        if group is None or group.status != "waiting":
            return False
        if group.join:  # a named member that was never opened cannot have been answered
            opened = set(session.exec(select(Gate.key).where(Gate.group_id == group_id)).all())
            if not set(group.join) <= opened:
                return False
        elif session.exec(select(Gate.id).where(Gate.group_id == group_id)).first() is None:
            return False  # no member yet: nothing was answered
        joined = session.execute(update(GateGroup).where(col(GateGroup.id) == group_id,
                                                         col(GateGroup.status) == "waiting",
                                                         ~_unanswered_required(group))
                                 .values(status="joined", joined_at=at))
        if joined.rowcount != 1:  # type: ignore[attr-defined]
            return False
        case_id, key = group.case_id, group.key
    record_event(case_id, f"group:{key}:joined", "group_joined", f"{key}: the waits in parallel are answered; "
                 "the case goes on", data={"group_id": group_id}, at=at)
    return True


def member_answers(group_id: int) -> dict[str, dict[str, Any] | None]:
    """Every member's recorded answer by gate key (None while it waits)."""
    with session_scope() as session:
        gates = session.exec(select(Gate).where(Gate.group_id == group_id).order_by(col(Gate.id))).all()
        return {g.key: (dict(g.answer) if g.status == "answered" and g.answer is not None else None)
                for g in gates}


def is_joined(group_id: int) -> bool:
    """True once the group's join condition was claimed."""
    with session_scope() as session:
        group = session.get(GateGroup, group_id)
        return group is not None and group.status == "joined"


def member_answered(gate: Gate, *, wait_seconds: float = 0.0) -> bool:
    """After a member's answer: the member itself resumes nothing; the group may join and resume its run."""
    from aftersales.gates.resume import mark_resumed

    assert gate.id is not None and gate.group_id is not None
    mark_resumed(gate.id)
    claim_join(gate.group_id)
    return resume_group(gate.group_id, wait_seconds=wait_seconds)


def resume_group(group_id: int, *, wait_seconds: float = 0.0) -> bool:
    """Resume the run waiting on a joined group, once; True when this call resumed it.

    Like a gate's resume: a run not yet suspended is waited for up to `wait_seconds` (the sweep retries later);
    a run paused elsewhere or finished has read the join from the database itself.
    """
    with session_scope() as session:
        row = session.get(GateGroup, group_id)
        key = row.key if row is not None else ""
    return resume_wait_once(GateGroup, group_id, "joined", group_pause_key(key), {"group": key},
                            wait_seconds=wait_seconds)


def retry_groups(now: datetime | None = None) -> list[int]:
    """The sweep's safety net: join groups whose last answer's process died before the claim, and resume joined
    groups whose resume did not get through. The ids of the groups resumed."""
    with session_scope() as session:
        pending = session.exec(select(GateGroup).where(or_(
            col(GateGroup.status) == "waiting",
            and_(col(GateGroup.status) == "joined", col(GateGroup.resumed_at).is_(None))))).all()
    resumed = []
    for group in pending:
        assert group.id is not None
        if group.status == "waiting" and not claim_join(group.id, now=now):
            continue
        try:
            if resume_group(group.id):
                resumed.append(group.id)
        except IntegrationError as exc:
            log.warning("resume of group %s still failing: %s", group.key, exc)
    return resumed
