"""Record-keeping tasks: history lines, case state, notices, and the closing record artifact."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from aftersales.cases import store as cases
from aftersales.messaging.notices import notice
from aftersales.messaging.recipients import customer_recipients, role_recipients
from aftersales.runtime.db import session_scope
from models import Case
from tasks.retry import only_transient

RETRY = {"retries": 3, "retry_delay_seconds": 2, "retry_condition_fn": only_transient}


def load_case(number: str) -> dict[str, Any]:
    """The case's facts as plain data (a read, safe to repeat when the flow re-runs)."""
    with session_scope() as session:
        case = cases.get_case(session, number)
        return {**case.model_dump(mode="json"), "purchase_date": case.purchase_date, "opened_at": case.opened_at}


@task(**RETRY)  # type: ignore[call-overload]
def attach_flow_run(number: str) -> str | None:
    """Remember which flow run carries the case."""
    run_id = flow_run.get_id()
    cases.update_case(number, flow_run_id=run_id)
    return run_id


@task(**RETRY)  # type: ignore[call-overload]
def record_step(case_id: int, key: str, kind: str, summary: str, data: dict[str, Any] | None = None) -> bool:
    """Add one history line (once per key)."""
    return cases.record_event(case_id, key, kind, summary, data=data)


@task(**RETRY)  # type: ignore[call-overload]
def set_case(number: str, status: str | None = None, data: dict[str, Any] | None = None,
             urgent: bool | None = None, closed: bool = False) -> None:
    """Change the case's status, facts or urgency."""
    cases.update_case(number, status=status, data=data, closed=closed)
    if urgent is not None:
        with session_scope() as session:
            case = cases.get_case(session, number)
            case.urgent = urgent
            session.add(case)


@task(**RETRY)  # type: ignore[call-overload]
def notify_customer(case_number: str, key: str, headline: dict[str, str], lines: dict[str, list[str]]) -> int:
    """Tell the customer about progress in their language (received, scheduled, repaired...)."""
    with session_scope() as session:
        case: Case = cases.get_case(session, case_number)
    assert case.id is not None
    return notice(case.id, f"case:{case.id}:{key}", customer_recipients(case), case_number, headline, lines)


@task(**RETRY)  # type: ignore[call-overload]
def notify_roles(case_number: str, key: str, roles: list[str], headline: dict[str, str],
                 lines: dict[str, list[str]]) -> int:
    """Tell departments about a step (e.g. the 返修申请单 going to five departments, F2:432)."""
    with session_scope() as session:
        case: Case = cases.get_case(session, case_number)
    assert case.id is not None
    return notice(case.id, f"case:{case.id}:{key}", role_recipients(roles), case_number, headline, lines)


@task(**RETRY)  # type: ignore[call-overload]
def publish_record(case_number: str) -> str:
    """The complete record of the case as a Prefect artifact (spec §8.6 record fields)."""
    view = cases.case_view(case_number)
    lines = [f"# {case_number} · {view['procedure']} · {view['status']}", "",
             f"- product: {view['product_model']} {view['serial_number'] or ''}",
             f"- opened: {view['opened_at']}", f"- closed: {view['closed_at']}", "",
             "| at | step | by | what |", "|---|---|---|---|"]
    lines += [f"| {h['at'][:16]} | {h['kind']} | {h['actor']} | {h['summary']} |" for h in view["history"]]
    key = "case-record-" + case_number.lower().replace("_", "-")
    create_markdown_artifact(markdown="\n".join(lines), key=key, description=f"Complete record of {case_number}")
    return key


@task(**RETRY)  # type: ignore[call-overload]
def open_linked_case(parent_number: str, procedure: str, origin: str, extra: dict[str, Any] | None = None,
                     complaint: dict[str, Any] | None = None) -> str:
    """Open a case linked to this one (once per origin) and start its procedure's flow."""
    from aftersales.runtime.prefect import start_flow

    child = cases.open_child_case(parent_number, procedure, origin, extra=extra, complaint=complaint)
    assert child.number is not None
    if child.flow_run_id is None:
        start_flow(child.number, procedure)
    return child.number


@task(**RETRY)  # type: ignore[call-overload]
def set_close_deadline(number: str, overseas: bool) -> str:
    """Start the closing clock at acceptance: 5 days domestic, 7 overseas (004:485); returns the deadline."""
    from aftersales.config.policy import get_policy
    from aftersales.sla.deadlines import due

    policy = get_policy()
    assert policy.complaint is not None
    with session_scope() as session:
        case = cases.get_case(session, number)
        existing = case.data.get("close_by")
    if existing:
        return str(existing)
    limit = policy.complaint.close_within_overseas if overseas else policy.complaint.close_within_domestic
    close_by = due(policy, case.opened_at, limit).isoformat()
    cases.update_case(number, data={"close_by": close_by})
    return close_by


@task(**RETRY)  # type: ignore[call-overload]
def goods_history(serial_number: str | None, case_id: int) -> dict[str, int]:
    """Earlier in-warranty repairs and exchanges of the same unit, from this system's own cases (三包 ¶3).

    A task, so a replayed flow decides on the same counts it saw the first time.
    """
    from sqlmodel import select

    if not serial_number:
        return {"repairs": 0, "exchanges": 0}
    with session_scope() as session:
        earlier = session.exec(select(Case).where(Case.serial_number == serial_number, Case.id != case_id)).all()
    repairs = sum(1 for c in earlier if c.procedure == "repair" and c.status == "closed"
                  and c.data.get("warranty") == "in_warranty")
    exchanges = sum(1 for c in earlier if c.data.get("remedy_done") == "exchange")
    return {"repairs": repairs, "exchanges": exchanges}
