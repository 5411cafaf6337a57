"""The case as the Prefect UI shows it: the run's name and tags, one artifact per case, and domain events.

Prefect sees case numbers, steps, roles and staff ids only: never a customer's name, phone, address or e-mail
(they stay in the project's database). Everything here is best-effort: a Prefect hiccup is logged and the gate,
answer or sweep that called goes on; the next step writes the whole picture again (tags and artifact are
recomputed from the database each time, so a missed update heals itself).
"""

from __future__ import annotations

import enum
import logging
import re
import typing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from aftersales.config.staff import CUSTOMER
from aftersales.errors import AftersalesError
from aftersales.runtime import clock
from aftersales.runtime import prefect as orchestrator
from aftersales.runtime.db import session_scope
from models import Case, Gate
from models.inputs import GATE_INPUTS

log = logging.getLogger("aftersales.cases.prefect_view")

# Tags this module owns on a run; any other tag (the deployment's `aftersales`, `repair`, a user's own) stays.
OWNED_PREFIXES = ("procedure:", "parent:", "step:", "waits:", "person:", "escalated:", "closed:")
OWNED_TAGS = frozenset({"late", "needs-attention"})

# Event names (resource: the case, `aftersales.case.<number>`; related: the gate).
GATE_OPENED = "aftersales.gate.opened"
GATE_ANSWERED = "aftersales.gate.answered"
GATE_REMINDED = "aftersales.gate.reminded"
GATE_ESCALATED = "aftersales.gate.escalated"
CASE_CLOSED = "aftersales.case.closed"
MESSAGE_FAILED = "aftersales.message.failed"


# --- pure: names, tags, the artifact ---------------------------------------------------------------------------

def run_name(number: str, procedure: str) -> str:
    """The flow run's name: what the Prefect UI's search box matches."""
    return f"{number} · {procedure}"


def artifact_key(number: str) -> str:
    """The case artifact's key (Prefect keys: lowercase letters, digits, dashes)."""
    return "case-" + re.sub(r"[^a-z0-9]+", "-", number.lower()).strip("-")


def owned(tag: str) -> bool:
    """Whether a run tag is one this module sets (and so replaces)."""
    return tag in OWNED_TAGS or tag.startswith(OWNED_PREFIXES)


@dataclass(frozen=True)
class WaitingStep:
    """A gate the case waits on now."""

    key: str
    kind: str
    role: str
    person: str | None  # a staff id, when the gate names one person
    deadline: str  # as people read it (local time)
    rung: int
    late: bool  # its deadline passed, now or before an escalation moved it


@dataclass(frozen=True)
class Step:
    """One gate of the case's history, as Prefect may show it (no free text: it can hold personal data)."""

    key: str
    kind: str
    status: str
    opened: str
    role: str
    answered: str = ""
    by: str = ""  # a staff id, "customer", "quorum" or "prefect-ui"
    via: str = ""
    decisions: dict[str, Any] = field(default_factory=dict)
    rung: int = 0


@dataclass(frozen=True)
class CaseState:
    """What the Prefect view of a case is computed from."""

    number: str
    procedure: str
    status: str
    closed: bool = False
    parent: str | None = None
    needs_attention: bool = False
    waiting: tuple[WaitingStep, ...] = ()
    history: tuple[Step, ...] = ()


def case_tags(state: CaseState) -> list[str]:
    """The run's tags for a case state: procedure, parent, steps waited on, who holds them, late, escalated,
    needs-attention; a closed case says how it ended."""
    tags = [f"procedure:{state.procedure}"]
    if state.parent:
        tags.append(f"parent:{state.parent}")
    if state.closed:
        return tags + [f"closed:{state.status}"]
    for step in state.waiting:
        tags += [f"step:{step.key}", f"waits:{step.role}"]
        if step.person and step.role != CUSTOMER:
            tags.append(f"person:{step.person}")
        if step.rung:
            tags.append(f"escalated:{step.rung}")
    if any(step.late for step in state.waiting):
        tags.append("late")
    if state.needs_attention:
        tags.append("needs-attention")
    return list(dict.fromkeys(tags))


def _cell(value: Any) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def render_markdown(state: CaseState) -> str:
    """The case artifact: where the case stands and the history of its steps."""
    lines = [f"# {state.number} · {state.procedure}", "",
             "| | |", "|---|---|",
             f"| procedure | {state.procedure} |",
             f"| status | {state.status}{' (needs attention)' if state.needs_attention else ''} |"]
    if state.parent:
        lines.append(f"| opened from | {state.parent} |")
    for step in state.waiting:
        holder = step.role + (f" / {step.person}" if step.person and step.role != CUSTOMER else "")
        lines += [f"| current step | {step.key} ({step.kind}) |", f"| holder | {holder} |",
                  f"| deadline | {step.deadline}{' **LATE**' if step.late else ''} |"]
        if step.rung:
            lines.append(f"| escalated | rung {step.rung} |")
    if not state.waiting and not state.closed:
        lines.append("| current step | - |")
    lines += ["", "## History", "", "| step | kind | opened | answered | by | role | via | decision |",
              "|---|---|---|---|---|---|---|---|"]
    for done in state.history:
        decision = ", ".join(f"{k}={v}" for k, v in done.decisions.items()) or ("-" if done.answered else done.status)
        lines.append("| " + " | ".join(_cell(v) for v in (
            done.key, done.kind, done.opened, done.answered or "-", done.by or "-",
            done.role + (f" (rung {done.rung})" if done.rung else ""), done.via or "-", decision)) + " |")
    return "\n".join(lines) + "\n"


def decisions(input_model: str, answer: dict[str, Any] | None) -> dict[str, Any]:
    """The choices an answer made (yes/no, numbers, dates, one of the offered options); free text is left out,
    it may hold a name (a signature, a comment)."""
    model = GATE_INPUTS.get(input_model)
    if not answer or model is None:
        return {}
    return {name: value for name, value in answer.items()
            if value is not None and name in model.model_fields and _is_choice(model.model_fields[name].annotation)}


SAFE_TYPES = (bool, int, float, Decimal, date)


def _is_choice(annotation: Any) -> bool:
    """A yes/no, number, date, Literal or Enum type (optionally Optional): no free text."""
    if typing.get_origin(annotation) is typing.Literal:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, SAFE_TYPES + (enum.Enum,))
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return bool(args) and all(_is_choice(a) for a in args)


def answered_by(person: str | None, via: str | None, by: str | None) -> str:
    """Who answered, as Prefect may say it: a staff id or "customer" (never a name)."""
    if by and by.startswith("quorum"):
        return "quorum"
    if person:
        return person
    return "prefect-ui" if via == "prefect-ui" else ""


def case_resource(number: str, procedure: str) -> dict[str, str]:
    """The case as an event's resource."""
    return {"prefect.resource.id": f"aftersales.case.{number}", "prefect.resource.name": number,
            "aftersales.procedure": procedure}


def gate_resource(number: str, key: str, kind: str, role: str) -> dict[str, str]:
    """A gate as an event's related resource (role "gate"), with the role that holds it."""
    return {"prefect.resource.id": f"aftersales.gate.{number}.{key}", "prefect.resource.role": "gate",
            "prefect.resource.name": kind, "aftersales.gate.kind": kind, "aftersales.gate.key": key,
            "aftersales.holder-role": role}


# --- reading the case (the database) ---------------------------------------------------------------------------

def is_late(gate: Gate, now: datetime) -> bool:
    """A waiting gate is late while its deadline is past, and stays late after an escalation for a missed
    deadline gave it a new one (the sweep notes `missed_deadline_at` on the gate)."""
    return gate.deadline_at <= now or bool(gate.context.get("missed_deadline_at"))


def read_state(case: Case, now: datetime) -> CaseState:
    """The case, its waiting gates and its history of steps as the Prefect view shows them."""
    from aftersales.config.policy import get_policy
    from aftersales.sla.deadlines import local_text

    policy = get_policy()
    with session_scope() as session:
        gates = session.exec(select(Gate).where(Gate.case_id == case.id)
                             .order_by(col(Gate.opened_at), col(Gate.id))).all()
        parent = session.get(Case, case.parent_case_id) if case.parent_case_id else None
    waiting = tuple(WaitingStep(g.key, g.kind, g.assignee_role, g.assignee_person, local_text(g.deadline_at, policy),
                                g.rung, is_late(g, now))
                    for g in gates if g.status == "waiting" and case.closed_at is None)
    history = tuple(Step(g.key, g.kind, g.status, local_text(g.opened_at, policy), g.assignee_role,
                         local_text(g.answered_at, policy) if g.answered_at else "",
                         answered_by(g.answered_person, g.answered_via, g.answered_by), g.answered_via or "",
                         decisions(g.input_model, g.answer), g.rung) for g in gates)
    assert case.number is not None
    return CaseState(case.number, case.procedure, case.status, case.closed_at is not None,
                     parent.number if parent is not None else None, case.needs_attention_at is not None,
                     waiting, history)


def _case(number: str | None = None, case_id: int | None = None) -> Case | None:
    with session_scope() as session:
        if case_id is not None:
            return session.get(Case, case_id)
        return session.exec(select(Case).where(Case.number == number)).first()


# --- writing to Prefect (best-effort) ---------------------------------------------------------------------------

_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefect-view")
_pending: list[Future[None]] = []


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


_overlapping = 0  # > 0 inside `overlapped()`


def _soon(work: Callable[[], None]) -> None:
    """Inside a flow run, now (its process may end at the next suspend), unless the flow lets it overlap what
    follows (`overlapped`); elsewhere (the web app answering a link, a sweep at a terminal) on a background thread,
    in order, so a slow Prefect never holds an answer."""
    if _in_prefect_run() and not _overlapping:
        work()
        return
    _pending[:] = [f for f in _pending if not f.done()]
    _pending.append(_background.submit(work))


def settle(timeout: float = 30) -> None:
    """Wait for the background updates of this process (tests, and a CLI before it exits)."""
    for future in list(_pending):
        future.result(timeout=timeout)


@contextmanager
def overlapped() -> Iterator[None]:
    """Within the block, a flow's view updates run beside it (the gate's mail need not wait for the tags and the
    artifact: ~3 API calls); all are done when the block ends."""
    global _overlapping
    _overlapping += 1
    try:
        yield
    finally:
        _overlapping -= 1
        try:
            settle(timeout=120)
        except Exception as exc:  # noqa: BLE001 - best-effort like every update here: the next step heals it
            log.warning("Prefect view updates not finished: %s", exc)


def refresh(number: str | None = None, *, case_id: int | None = None, now: datetime | None = None) -> None:
    """Write the case's tags and artifact again from the database (idempotent; never raises)."""
    at = now or clock.now()
    _soon(lambda: _refresh(number, case_id, at))


def _refresh(number: str | None, case_id: int | None, at: datetime) -> None:
    try:
        case = _case(number, case_id)
        if case is None or not case.flow_run_id or case.number is None:
            return  # a case with no run has nothing to show in Prefect
        state = read_state(case, at)
        orchestrator.replace_run_tags(case.flow_run_id, owned, case_tags(state))
        orchestrator.publish_run_markdown(artifact_key(case.number), render_markdown(state),
                                          f"{case.number}: where the case stands (no personal data)",
                                          case.flow_run_id)
    except (AftersalesError, Exception) as exc:  # noqa: BLE001 - best-effort by design: log and go on
        log.warning("Prefect view of case %s not updated: %s", number or case_id, exc)


def announce(event: str, *, case_id: int, gate_id: int | None = None, payload: dict[str, Any] | None = None,
             refresh_view: bool = True, now: datetime | None = None) -> None:
    """Emit a domain event about a case (and its gate, as it is now), then refresh the case's view; never raises."""
    try:
        case = _case(case_id=case_id)
        if case is None or not case.flow_run_id or case.number is None:
            return
        with session_scope() as session:
            gate = session.get(Gate, gate_id) if gate_id is not None else None
        related: list[dict[str, str]] = [{"prefect.resource.id": f"prefect.flow-run.{case.flow_run_id}",
                                          "prefect.resource.role": "flow-run"}]
        body: dict[str, Any] = {"case": case.number, "procedure": case.procedure}
        if gate is not None:
            related.insert(0, gate_resource(case.number, gate.key, gate.kind, gate.assignee_role))
            body.update(gate=gate.key, kind=gate.kind, role=gate.assignee_role, rung=gate.rung,
                        person=gate.assignee_person if gate.assignee_role != CUSTOMER else None)
        body.update(payload or {})
        orchestrator.emit(event, case_resource(case.number, case.procedure), related, body)
    except (AftersalesError, Exception) as exc:  # noqa: BLE001
        log.warning("event %s of case %s not emitted: %s", event, case_id, exc)
    if refresh_view:
        refresh(case_id=case_id, now=now)


def start_tags(procedure: str, parent: str | None) -> list[str]:
    """The tags a case's run is created with (the rest come with its first step)."""
    return case_tags(CaseState("", procedure, "open", parent=parent))


GM_COMPLAINT_AUTOMATION = "aftersales: a complaint reached the GM"


def ensure_gm_complaint_automation(role: str = "general_manager") -> str:
    """The example automation of the README: fires when any complaint's step is escalated to the GM (raises
    IntegrationError when Prefect cannot be reached)."""
    orchestrator.ensure_automation(orchestrator.event_automation(
        GM_COMPLAINT_AUTOMATION,
        "Example: any complaint whose step is escalated to the general manager (events aftersales.gate.escalated "
        "of complaint cases, gate now held by the GM). Swap the action for a notification in the UI.",
        GATE_ESCALATED, match={"prefect.resource.id": "aftersales.case.*", "aftersales.procedure": "complaint"},
        match_related={"prefect.resource.role": "gate", "aftersales.holder-role": role}))
    return GM_COMPLAINT_AUTOMATION
