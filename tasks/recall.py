"""Recall tasks: clocks on the case, the affected units and their notices, child cases per unit, the closing
report (each cached per flow run and inputs, so a resumed run repeats none of them)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.runtime import flow_run

from aftersales.cases import store as cases
from aftersales.config.policy import get_policy
from aftersales.recall import case as recall_case
from aftersales.recall.fanout import RecallText, release_stale, send_pending
from aftersales.recall.outbox import UnitSelection, build_outbox
from aftersales.recall.progress import artifact_progress
from aftersales.runtime import clock
from tasks.records import RETRY


@task(**RETRY)  # type: ignore[call-overload]
def start_clocks(number: str, market: str, recall_class: str) -> dict[str, Any]:
    """The class's and market's deadlines on the case (notify customers by, report to the regulator by)."""
    return recall_case.start_clocks(number, market, recall_class, clock.now())


@task(**RETRY)  # type: ignore[call-overload]
def find_affected(number: str, selection: dict[str, Any]) -> dict[str, int]:
    """The affected units (batch/lot, serial range) and one outbox row per customer, in one transaction."""
    outbox = build_outbox(number, UnitSelection.model_validate(selection))
    cases.update_case(number, data={"affected": {"units": outbox.units, "customers": outbox.customers,
                                                 "without_address": outbox.without_address}})
    return {"units": outbox.units, "customers": outbox.customers, "without_address": outbox.without_address}


@task(**RETRY)  # type: ignore[call-overload]
def send_notices(number: str, recall_class: str, product_model: str, hazard: str, remedy: str) -> dict[str, Any]:
    """The notification fan-out in batches, inside the recall's run; a rerun after a crash hands the dead
    attempt's claims back first (claimed rows to pending, in-flight ones to uncertain), so nobody is notified
    twice and nobody is skipped."""
    run_id = flow_run.id  # the claims' owner: an earlier attempt of this same run is dead when this one runs
    sender = run_id.replace("-", "") if run_id else None
    release_stale(number, dead_sender=sender)
    text = RecallText(recall_number=number, recall_class=recall_class, product_model=product_model, hazard=hazard,
                      remedy=remedy)
    report = send_pending(text, progress=artifact_progress(number), sender=sender)
    done = clock.now()
    left = report.by_status.get("pending", 0) + report.by_status.get("claimed", 0)
    if not left:
        cases.update_case(number, data={"notified_at": done.isoformat()})
    return {"sent": report.sent, "failed": report.failed, "batches": report.batches, "outbox": report.by_status,
            "finished_at": done.isoformat()}


@task(**RETRY)  # type: ignore[call-overload]
def set_ack_wait(number: str) -> str:
    """The latest end of the acknowledgement wait, stored on the case for the sweep."""
    return recall_case.ack_wait_until(number, clock.now())


@task(**RETRY)  # type: ignore[call-overload]
def open_unit_cases(number: str, serials: list[str], remedy: str, hazard: str) -> dict[str, Any]:
    """One pass of remedies: child cases for at most `recall.fanout.children_per_pass` units, the rest queued."""
    limit = get_policy().recall.fanout.children_per_pass
    done = recall_case.open_unit_cases(number, serials, remedy, hazard, limit=limit)
    return {"opened": done.opened, "unknown": done.unknown, "queued": done.queued}


@task(**RETRY)  # type: ignore[call-overload]
def closing_report(number: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The closing report's figures, stored on the case (printable as RECALL-CLOSE)."""
    report = recall_case.closing_report(number, answer, clock.now())
    cases.update_case(number, data={"closing_report": report})
    return report


@task(**RETRY)  # type: ignore[call-overload]
def report_quality_safety(number: str, hazard: str, selection: dict[str, Any], manufacturer: str = "") -> str:
    """Any procedure's step that finds a quality-safety problem reports it at once (F1:200): the recall linked to
    this case opens (once) and starts; its number."""
    child = recall_case.report_quality_safety(number, hazard, selection, manufacturer)
    assert child.number is not None
    return child.number
