"""Record-keeping tasks shared by every procedure: history lines, case state, notices, linked cases, closing."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.runtime import flow_run
from pydantic import BaseModel

from aftersales.cases import prefect_view
from aftersales.cases import store as cases
from aftersales.cases.view import case_view
from aftersales.messaging.notices import delivered, notice
from aftersales.messaging.recipients import customer_recipients, role_recipients
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.runtime.prefect import publish_markdown
from models.case import CaseSnapshot
from tasks.retry import RETRIES, RETRY_DELAY_SECONDS, only_transient, retried_read

RETRY = {"retries": RETRIES, "retry_delay_seconds": RETRY_DELAY_SECONDS, "retry_condition_fn": only_transient}


@retried_read
def load_case(number: str, facts_model: type[BaseModel] | None = None) -> CaseSnapshot[Any]:
    """The case with its typed facts (a read, safe to repeat when the flow re-runs from the top)."""
    return cases.snapshot(number, facts_model)


def attach_flow_run(number: str) -> str | None:
    """Remember which flow run carries the case (once: a resume finds it so with one query, no cached task)."""
    run_id = flow_run.get_id()
    if run_id and cases.holds(number, flow_run_id=run_id):
        return run_id
    return attach_run(number)


@task(**RETRY, task_run_name="attach run to {number}")  # type: ignore[call-overload]
def attach_run(number: str) -> str | None:
    """Store this flow run's id on the case."""
    run_id = flow_run.get_id()
    cases.update_case(number, flow_run_id=run_id)
    return run_id


@task(**RETRY, task_run_name="history {key}")  # type: ignore[call-overload]
def add_history(case_id: int, key: str, kind: str, summary: str, data: dict[str, Any] | None = None) -> bool:
    """Add one history line (once per key)."""
    return cases.record_event(case_id, key, kind, summary, data=data)


def record_step(case_id: int, key: str, kind: str, summary: str, data: dict[str, Any] | None = None) -> bool:
    """Add one history line (once per key); False when it is there already.

    A replay finds the line with one query instead of running a cached task for it (each costs ~10 ms of the
    resume, and a case replays every line it has written so far)."""
    if cases.has_event(case_id, key):
        return False
    return bool(add_history(case_id, key, kind, summary, data))


def set_case(number: str, status: str | None = None, data: dict[str, Any] | None = None,
             urgent: bool | None = None) -> None:
    """Change the case's status, facts or urgency while it runs (once).

    A replay finds the case already so with one query instead of running the cached task (~0.1 s each on a loaded
    machine, benchmarks/click_bench.py). A case changed since by a later step does not hold these values: the
    task then replays from Prefect's cache as before, and changes nothing."""
    if cases.holds(number, status=status, data=data, urgent=urgent):
        return
    change_case(number, status, data, urgent)


@task(**RETRY, task_run_name="update case {number}")  # type: ignore[call-overload]
def change_case(number: str, status: str | None = None, data: dict[str, Any] | None = None,
                urgent: bool | None = None) -> None:
    """Change the case's status, facts or urgency."""
    cases.update_case(number, status=status, data=data, urgent=urgent)


def notify_customer(case_number: str, key: str, text: str, context: dict[str, Any] | None = None) -> int:
    """Tell the customer about progress in their language (once): `text` names a notice of templates/notices.

    A replay finds a notice already delivered with one query instead of running its cached task: the repair
    sends one per progress report, so every resume replayed one more (~20-40 ms each). Not delivered to every
    destination yet (or nobody to tell): the task runs, or replays, as before."""
    if delivered(case_number, key):
        return 0
    return tell_customer(case_number, key, text, context)


@task(**RETRY, task_run_name="notify customer {key}")  # type: ignore[call-overload]
def tell_customer(case_number: str, key: str, text: str, context: dict[str, Any] | None = None) -> int:
    """Send the customer's notice (keyed: a re-run sends nothing already sent)."""
    with session_scope() as session:
        case = cases.get_case(session, case_number)
    return notice(case.id, f"case:{case.id}:{key}", customer_recipients(case), case_number, text, context)


@task(**RETRY, task_run_name="notify {key}")  # type: ignore[call-overload]
def notify_roles(case_number: str, key: str, roles: list[str], text: str, context: dict[str, Any] | None = None) -> int:
    """Tell departments about a step (e.g. the 返修申请单 going to five departments, F2:432)."""
    with session_scope() as session:
        case = cases.get_case(session, case_number)
    return notice(case.id, f"case:{case.id}:{key}", role_recipients(roles), case_number, text, context)


@task(**RETRY, task_run_name="close {number} as {status}")  # type: ignore[call-overload]
def close_case(number: str, status: str, summary: str, data: dict[str, Any] | None = None) -> str:
    """End the case: its final status, the closing history line and the complete record (spec §8.6); once."""
    case = cases.update_case(number, status=status, data=data, closed=True)
    assert case.id is not None
    cases.record_event(case.id, "closed", "closed", summary, data={"status": status})
    prefect_view.announce(prefect_view.CASE_CLOSED, case_id=case.id, payload={"status": status})
    publish_record(number)
    return status


def publish_record(case_number: str) -> str:
    """The complete record of the case as a Prefect artifact (spec §8.6 record fields), without personal data:
    history lines by kind, steps with their decisions and who answered by staff id or "customer". The full text
    (names, signatures, comments) stays in the project's database: GET /api/cases/{number}."""
    view = case_view(case_number)
    lines = [f"# {case_number} · {view['procedure']} · {view['status']}", "",
             f"- product: {view['product_model']} {view['serial_number'] or ''}",
             f"- opened: {view['opened_at']}", f"- closed: {view['closed_at']}", "",
             "| at | what |", "|---|---|"]
    lines += [f"| {h['at'][:16]} | {h['kind']} |" for h in view["history"]]
    with session_scope() as session:
        case = cases.get_case(session, case_number)
    steps = prefect_view.render_markdown(prefect_view.read_state(case, clock.now()))
    lines += ["", steps[steps.index("## History"):].replace("## History", "## Steps", 1)]
    key = "case-record-" + case_number.lower().replace("_", "-")
    publish_markdown(key, "\n".join(lines), f"Complete record of {case_number}")
    return key


@task(**RETRY, task_run_name="open linked {procedure} ({origin})")  # type: ignore[call-overload]
def open_linked_case(parent_number: str, procedure: str, origin: str, extra: dict[str, Any] | None = None,
                     facts: dict[str, Any] | None = None) -> str:
    """Open a case linked to this one (once per origin) and start its procedure's flow."""
    from aftersales.cases.launch import start_flow

    child = cases.open_child_case(parent_number, procedure, origin, extra=extra, facts=facts)
    assert child.number is not None
    if child.flow_run_id is None:
        start_flow(child.number)
    return child.number
