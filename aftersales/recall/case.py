"""The recall procedure's work outside its gates: clocks on the case, child cases per unit, the closing report,
and what the sweep watches (the acknowledgement wait, the regulatory clocks, progress reports, child cases)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import col
from sqlmodel import select as sm_select

from aftersales.cases import store as cases
from aftersales.cases.store import record_event
from aftersales.config.policy import Policy, get_policy
from aftersales.errors import IntegrationError
from aftersales.gates.lifecycle import mark_answered, notify_gate, open_gate
from aftersales.gates.resume import resume_gate
from aftersales.messaging.notices import notice
from aftersales.messaging.recipients import role_recipients
from aftersales.recall.acks import acknowledged_share
from aftersales.recall.clocks import recall_clocks
from aftersales.recall.ledger import ledger
from aftersales.recall.outbox import RECALL_UNITS, UNITS
from aftersales.recall.remedies import mark_remedy
from aftersales.rules.recall import ack_wait_over, clock_stage, periods_elapsed
from aftersales.runtime.db import get_engine, session_scope
from aftersales.sla.deadlines import due, local_text
from models import Case, Gate

log = logging.getLogger(__name__)

ACK_GATE = "recall.acknowledgements"
STATUS_GATE = "recall.status_report"
MAX_STATUS_PERIODS = 10_001  # a bound on the walk, as rules.recall.periods_elapsed's cap (10,000 ended + the running)
PROCEDURE_OF_REMEDY = {"repair": "repair", "exchange": "exchange", "return": "return"}
# The clocks a recall keeps on its case: (data key of the deadline, data key set when it is met, what it is).
CLOCKS = (("notify_by", "notified_at", "customers notified"),
          ("report_by", "reports_submitted_at", "the regulator's reports submitted"))


def start_clocks(number: str, market: str, recall_class: str, decided_at: datetime) -> dict[str, Any]:
    """The class's and market's clocks as case deadlines, counted from awareness (the case's report time);
    stored once (a replay keeps the first)."""
    policy = get_policy()
    with session_scope() as session:
        case = cases.get_case(session, number)
        data = dict(case.data)
        opened = case.opened_at
    if data.get("clocks"):
        return dict(data["clocks"])
    aware = datetime.fromisoformat(data["reported_at"]) if data.get("reported_at") else opened
    clocks = recall_clocks(policy, market, recall_class, aware)
    stored = {"market": market, "regulator": clocks.regulator, "recall_class": recall_class,
              "aware_at": aware.isoformat(), "decided_at": decided_at.isoformat(),
              "notify_by": clocks.notify_by.isoformat(), "report_by": clocks.report_by.isoformat()}
    cases.update_case(number, data={"clocks": stored, "recall_class": recall_class, "market": market})
    return stored


def ack_wait_until(number: str, now: datetime) -> str:
    """When the acknowledgement wait ends at the latest: the notification deadline (or now, if later) plus the
    policy's wait; stored once."""
    policy = get_policy()
    with session_scope() as session:
        data = dict(cases.get_case(session, number).data)
    if data.get("ack_wait_until"):
        return str(data["ack_wait_until"])
    start = max(now, datetime.fromisoformat(data["clocks"]["notify_by"]))
    until = due(policy, start, policy.recall.procedure.acknowledgement_wait).isoformat()
    cases.update_case(number, data={"ack_wait_until": until})
    return until


@dataclass(frozen=True)
class UnitCases:
    """What one pass of remedies did: child cases opened, serials the recall does not cover, serials queued."""

    opened: dict[str, str]
    unknown: list[str]
    queued: list[str]


def parse_serials(text: str) -> list[str]:
    """Serials typed in a gate answer, in order, once each."""
    seen: dict[str, None] = {}
    for serial in re.split(r"[\s,;，；]+", text.strip()):
        if serial:
            seen.setdefault(serial, None)
    return list(seen)


def open_unit_cases(number: str, serials: list[str], remedy: str, hazard: str, *, limit: int) -> UnitCases:
    """Open the child case of each unit (at most `limit` now: each starts a flow run; the rest are returned to
    queue), with the unit's customer from the register, once per unit."""
    from aftersales.cases.launch import start_flow  # launching reads the registry: load it late

    with get_engine().connect() as conn:
        rows = {r.serial: r for r in conn.execute(
            select(UNITS, RECALL_UNITS.c.remedy_state.label("recall_state"))
            .join(RECALL_UNITS, RECALL_UNITS.c.serial == UNITS.c.serial)
            .where(RECALL_UNITS.c.recall == number, UNITS.c.serial.in_(serials)))}
    unknown = [s for s in serials if s not in rows]
    known = [s for s in serials if s in rows]
    opened: dict[str, str] = {}
    for serial in known[:limit]:
        unit = rows[serial]
        fields = {"customer_name": unit.customer_name or unit.customer_ref,
                  "customer_phone": unit.customer_phone or "-", "customer_email": unit.customer_email,
                  "customer_address": None, "product_model": unit.product_model, "serial_number": serial,
                  "purchase_date": unit.sale_date, "language": unit.language,
                  "problem_description": f"召回 recall {number}: {hazard}"[:4000]}
        facts = None
        if remedy in ("exchange", "return"):
            facts = {"delivered_on": unit.sale_date.isoformat(), "order_number": f"recall {number}",
                     "quantity": 1, "reason": "defect", "proofs": []}
        child = cases.open_child_case(number, PROCEDURE_OF_REMEDY[remedy], f"unit:{serial}", fields=fields,
                                      facts=facts, extra={"recall": number, "recall_unit": serial})
        assert child.number is not None
        mark_remedy(number, serial, "opened", remedy=remedy, child_case=child.number)  # type: ignore[arg-type]
        if child.flow_run_id is None:
            start_flow(child.number)
        opened[serial] = child.number
    return UnitCases(opened=opened, unknown=unknown, queued=known[limit:])


def closing_report(number: str, answer: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The implementation report's fields (召回实施报告): to notify vs notified, to recall vs recalled, disposal,
    completion date; the counts come from the ledger."""
    book = ledger(number)
    outbox = book.outbox
    to_notify = sum(outbox.values())
    return {"to_notify": to_notify, "notified": outbox.get("sent", 0),
            "not_reachable": outbox.get("no_address", 0) + outbox.get("failed", 0),
            "acknowledged": acknowledged_share(number)[0],
            "to_recall": book.whole.total, "recalled": _recalled(number),
            "remedied": book.whole.reached("remedied"),
            "completion_percent": book.whole.completion,
            "by_batch": {b: dict(t.counts) for b, t in book.by_batch.items()},
            "disposal": answer["disposal"], "completed_on": str(answer["completed_on"]),
            "status_reports": end_status_reports(number, now),
            "reported_at": now.isoformat()}


def _recalled(number: str) -> int:
    """Units brought back for their remedy (a child case opened), whatever its state now."""
    with get_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RECALL_UNITS).where(
            RECALL_UNITS.c.recall == number, RECALL_UNITS.c.remedy_state != "none")).scalar_one())


# --- what the sweep watches ---------------------------------------------------------------------------------


def _decided_recalls() -> list[tuple[int, str, Case, dict[str, Any]]]:
    """Open recalls whose class and market are decided (their clocks set): id, number, case and clocks."""
    with session_scope() as session:
        cases = session.exec(sm_select(Case).where(Case.procedure == "recall", col(Case.closed_at).is_(None))).all()
    return [(case.id, case.number, case, case.data["clocks"]) for case in cases
            if case.data.get("clocks") and case.id is not None and case.number is not None]


def acknowledgement_waits(at: datetime) -> list[int]:
    """End each recall's acknowledgement wait once the share acknowledged reaches the policy's threshold or its
    time is up: one answer and one resume per recall, whatever the number of acknowledgements."""
    threshold = get_policy().recall.procedure.acknowledged_percent
    with session_scope() as session:
        waiting = list(session.exec(sm_select(Gate, Case).join(Case, col(Case.id) == col(Gate.case_id)).where(
            Gate.kind == ACK_GATE, Gate.status == "waiting")).all())
    acted: list[int] = []
    for gate, case in waiting:
        assert gate.id is not None and case.number is not None and case.id is not None
        acknowledged, notified = acknowledged_share(case.number)
        until = case.data.get("ack_wait_until")
        reason = ack_wait_over(acknowledged, notified, threshold, at,
                               datetime.fromisoformat(until) if until else None)
        if reason is None:
            continue
        answer = {"acknowledged": acknowledged, "notified": notified, "reason": reason, "comment": ""}
        if mark_answered(gate.id, answer, by="sweep", person=None, via="sweep", at=at,
                         summary=f"acknowledgement wait over: {reason} ({acknowledged}/{notified})"):
            acted.append(case.id)
        try:
            resume_gate(gate.id)
        except IntegrationError as exc:  # the answer is kept; the sweep's retry of resumes gets it through
            log.warning("recall %s: resume deferred: %s", case.number, exc)
    return acted


def regulatory_clocks(at: datetime) -> list[int]:
    """Remind the recall's people at half-time of each open clock and escalate at its breach (once each)."""
    policy = get_policy()
    roles = list(policy.recall.procedure.clock_roles)
    acted: list[int] = []
    for case_id, number, case, clocks in _decided_recalls():
        for deadline_key, met_key, what in CLOCKS:
            if case.data.get(met_key):
                continue
            start, end = datetime.fromisoformat(clocks["decided_at"]), datetime.fromisoformat(clocks[deadline_key])
            stage = clock_stage(start, end, at)
            if stage is None:
                continue
            text = "recall.clock_breached" if stage == "breached" else "recall.clock_reminder"
            people = role_recipients(roles + (["general_manager"] if stage == "breached" else []))
            if record_event(case_id, f"clock:{deadline_key}:{stage}", "overdue" if stage == "breached" else "reminder",
                            f"{what}: due {local_text(end, policy)} ({clocks['market']}, class "
                            f"{clocks['recall_class']}) - {stage}", at=at):
                notice(case_id, f"case:{case_id}:clock:{deadline_key}:{stage}", people, number, text,
                       {"what": what, "due": local_text(end, policy), "market": clocks["market"],
                        "recall_class": clocks["recall_class"]})
                acted.append(case_id)
    return acted


def progress_reports(at: datetime) -> list[int]:
    """A progress report with the ledger to the recall's people every period until the recall is closed (the
    market's status-report interval where it has one, 21 CFR 7.53; else the policy's)."""
    policy = get_policy()
    acted: list[int] = []
    for case_id, number, _, clocks in _decided_recalls():
        every = policy.recall.markets[clocks["market"]].status_report_every or policy.recall.procedure.progress_every
        count = periods_elapsed(datetime.fromisoformat(clocks["decided_at"]), at,
                                lambda t, e=every: due(policy, t, e))  # type: ignore[misc]
        if count < 1:
            continue
        book = ledger(number)
        counts = {state: book.whole.counts[state] for state in book.whole.counts}
        if record_event(case_id, f"progress:{count}", "report", f"progress report {count}: {counts}", at=at,
                        data={"ledger": counts}):
            notice(case_id, f"case:{case_id}:progress:{count}", role_recipients(policy.recall.procedure.progress_roles),
                   number, "recall.progress", {"count": count, "completion": book.whole.completion, **counts})
            acted.append(case_id)
    return acted


def status_reports(at: datetime) -> list[int]:
    """A recall in a market with periodic status reports (US: 21 CFR 7.53, every 2-4 weeks) owes one per period
    until it is closed: the sweep opens each period's report as a gate when the period begins, due at its end.

    Why a gate of its own per period, opened by the sweep and answered from a link with no flow waiting on it
    (like the spare unit's): it is then reminded before and escalated at breach on the gates' own ladder, shows
    on the dashboard and the case, and keeps who submitted what (the answer is stored on the case). Not the
    daily series (aftersales/gates/series.py: one gate per working day on a country's calendar, ended by a
    report, the run suspended on it), and not a flow resume every fortnight for a recall that runs for months
    on other steps. The periods count from the decision. A period the sweep missed whole (it was down) still
    owes its report (7.53 asks one per period): its gate opens late, already due, and the gates' sweep escalates it.
    """
    policy = get_policy()
    opened: list[int] = []
    for case_id, number, _, clocks in _decided_recalls():
        market = policy.recall.markets.get(clocks["market"])
        every = market.status_report_every if market is not None else None
        if market is None or every is None:
            continue
        start = datetime.fromisoformat(clocks["decided_at"])
        with session_scope() as session:
            known = set(session.exec(sm_select(Gate.key).where(Gate.case_id == case_id,
                                                               Gate.kind == STATUS_GATE)).all())
        begins = start
        # Periods 1 to the running one (the first that has not ended by `at`), walked once for their bounds.
        for period in range(1, MAX_STATUS_PERIODS + 1):
            ends = due(policy, begins, every)
            key = f"status_report#{period}"
            if key not in known:
                summary = [{"label": "regulator", "value": clocks["regulator"]},
                           {"label": "status report", "value": f"no. {period} ({clocks['market']}: {market.cite})"},
                           {"label": "period", "value": f"{local_text(begins, policy)} – {local_text(ends, policy)}"},
                           {"label": "ledger", "value": f"/recalls/{number}"}]
                gate_id = open_gate(case_id=case_id, key=key, kind=STATUS_GATE,
                                    input_model="RegulatorSubmissionInput", flow_run_id=None, summary=summary, now=at,
                                    deadline_at=ends)
                notify_gate(gate_id, "request", now=at)
                if case_id not in opened:
                    opened.append(case_id)
            if ends > at:
                break
            begins = ends
    return opened


def end_status_reports(number: str, at: datetime) -> dict[str, int]:
    """At the closing report (which asks the regulator to end the recall, 21 CFR 7.55) the period still running
    owes no status report of its own: its gate is ended. Returns the reports submitted and ended."""
    with session_scope() as session:
        case = cases.get_case(session, number)
        gates = session.exec(sm_select(Gate).where(Gate.case_id == case.id, Gate.kind == STATUS_GATE)).all()
        submitted = sum(1 for g in gates if g.status == "answered")
        ended = session.execute(update(Gate).where(col(Gate.case_id) == case.id, col(Gate.kind) == STATUS_GATE,
                                                   col(Gate.status) == "waiting")
                                .values(status="ended", due_at=None)).rowcount  # type: ignore[attr-defined]
    return {"submitted": submitted, "ended": int(ended)}


def remedies_followed(at: datetime) -> list[int]:
    """A unit's remedy is closed when its child case is (the ledger's remedied/closed counts follow)."""
    with get_engine().connect() as conn:
        rows = list(conn.execute(select(RECALL_UNITS.c.recall, RECALL_UNITS.c.serial, RECALL_UNITS.c.child_case)
                                 .where(RECALL_UNITS.c.remedy_state == "opened",
                                        RECALL_UNITS.c.child_case.is_not(None))))
    if not rows:
        return []
    with session_scope() as session:
        closed = {c.number: c for c in session.exec(sm_select(Case).where(
            col(Case.number).in_([r.child_case for r in rows]), col(Case.closed_at).is_not(None))).all()}
    acted: list[int] = []
    for recall, serial, child in rows:
        if child in closed:
            mark_remedy(recall, serial, "closed")
            acted.append(closed[child].id or 0)
    return acted


def clocks_summary(clocks: dict[str, Any], policy: Policy) -> dict[str, str]:
    """The case's clocks as people read them."""
    return {"market": clocks["market"], "regulator": clocks["regulator"], "recall_class": clocks["recall_class"],
            "notify_by": local_text(datetime.fromisoformat(clocks["notify_by"]), policy),
            "report_by": local_text(datetime.fromisoformat(clocks["report_by"]), policy)}


def report_quality_safety(number: str, hazard: str, selection: dict[str, Any], manufacturer: str = "") -> Case:
    """A quality-safety report from any case (F1:200) opens the recall linked to it, once per case, and starts
    its flow; ValueError (nothing opened) when the facts are unusable or select no registered unit."""
    from aftersales.cases.launch import start_flow
    from aftersales.procedures.recall import selection_finds_units
    from models.recall_case import RecallFacts

    with session_scope() as session:
        reporter = cases.get_case(session, number)
    facts = RecallFacts.model_validate({"origin": "quality_safety_report", "hazard": hazard,
                                        "manufacturer": manufacturer, "selection": selection,
                                        "reported_by_case": number})
    problems = selection_finds_units(reporter, facts)
    if problems:
        raise ValueError("; ".join(message for _, message in problems))
    child = cases.open_child_case(number, "recall", "quality-safety-report",
                                  facts=facts.model_dump(mode="json"),
                                  fields={"problem_description": f"quality-safety report (F1:200): {hazard}"[:4000]})
    assert child.number is not None
    if child.flow_run_id is None:
        start_flow(child.number)
    return child
