"""Product recall (召回) and remedial compensation: issue 12, spec 000-002 §7, regulations.md; sequencing only.

Order: opened by an outside notice (F0:19) or a case's quality-safety report (F1:200) → quality investigates →
quality proposes and the GM decides: recall or not, class I/II/III and market (an unknown market is refused at
the answer) → the class's and market's clocks on the case → recall plan, approved by the GM → the regulator's
reports rendered (RECALL-EVENT, RECALL-ASSESSMENT, RECALL-PLAN) and their submission asked at once → affected
units by batch/lot and serial range, every customer notified in batches within the class's limit → the
acknowledged share, one aggregate wait the sweep ends → per unit a remedy that opens its child case (bounded
passes) → compensation: finance, then the GM (F1:244, F1:356) → hand-over to the original manufacturer
(F0:19) → effectiveness check (level A-E, a sample re-contacted) → the closing report (RECALL-CLOSE) → closed.
Progress reports and the clocks' reminders and escalations come from the sweep (aftersales/recall/case.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from aftersales.messaging.summaries import row
from models.case import CaseSnapshot
from models.inputs import (
    ApprovalInput,
    EffectivenessInput,
    HandOverInput,
    RecallAcknowledgementsInput,
    RecallClosingInput,
    RecallCompensationInput,
    RecallDecisionInput,
    RecallInvestigationInput,
    RecallPlanInput,
    RecallRemediesInput,
    RegulatorSubmissionInput,
)
from models.recall_case import RecallFacts
from models.requests import CaseRef
from tasks.gates import ask, raise_gate
from tasks.recall import closing_report, find_affected, open_unit_cases, send_notices, set_ack_wait, start_clocks
from tasks.records import attach_flow_run, close_case, load_case, notify_roles, record_step, set_case

Case = CaseSnapshot[RecallFacts]
ATTEMPTS = 3  # [CHOICE] rounds of a plan sent back before the GM decides it as it stands
REMEDY_PASSES = 500  # [CHOICE] passes of remedies (each up to recall.fanout.children_per_pass units)
REPORT_FORMS = ("RECALL-EVENT", "RECALL-ASSESSMENT", "RECALL-PLAN")


def recall_summary(case: Case, **extra: Any) -> list[dict[str, str]]:
    """What staff need: the product, the hazard, the units selected (no customer data, 000:69)."""
    facts = case.facts
    selection = facts.selection
    units = ", ".join(selection.batches)
    if selection.serial_from:
        units += f" {selection.serial_from}..{selection.serial_to}"
    rows = [row(case, "product_model", case.product_model), row(case, "hazard", facts.hazard),
            {"label": "origin", "value": facts.origin}, {"label": "units", "value": units.strip()}]
    rows += [row(case, field, value) for field, value in extra.items() if value not in (None, "")]
    return rows


@flow(name="recall", persist_result=True)
def recall(ref: CaseRef) -> str:
    """Run one recall from the report to its closing report; the sweep keeps its clocks and ends its waits."""
    number = ref.case_number
    case: Case = load_case(number, RecallFacts)
    facts = case.facts
    attach_flow_run(number)
    record_step(case.id, "registered", "registered",
                f"recall opened by {'an outside notice (F0:19)' if facts.origin == 'outside_notice' else ''}"
                f"{'a quality-safety report (F1:200)' if facts.origin == 'quality_safety_report' else ''}"
                f"{' from ' + facts.reported_by_case if facts.reported_by_case else ''}: {facts.hazard}")
    notify_roles(number, "opened", ["quality_inspection", "general_manager"], "recall.opened",
                 {"hazard": facts.hazard, "product_model": case.product_model})

    investigation = ask(case, "investigation", "recall.investigation", RecallInvestigationInput,
                        recall_summary(case))
    record_step(case.id, "investigation", "inspection", f"investigation and assessment: {investigation.findings}")
    if not investigation.confirmed:
        return close_case(number, "no_recall", f"no recall: the defect is not confirmed ({investigation.findings})")

    proposal = ask(case, "decision_quality", "recall.decision_quality", RecallDecisionInput,
                   recall_summary(case, findings=investigation.findings))
    decision = ask(case, "decision", "recall.decision", RecallDecisionInput,
                   recall_summary(case, findings=investigation.findings,
                                  proposal=f"{'recall' if proposal.recall else 'no recall'}, class "
                                           f"{proposal.recall_class}, {proposal.market}"))
    if not decision.recall:
        return close_case(number, "no_recall", f"the GM decided not to recall: {decision.comment or '-'}")
    clocks = start_clocks(number, decision.market, decision.recall_class)
    record_step(case.id, "decision", "decision",
                f"recall class {decision.recall_class} in {decision.market} ({clocks['regulator']}): customers "
                f"notified by {clocks['notify_by'][:16]}, the regulator's reports by {clocks['report_by'][:16]}")
    set_case(number, status="recall_decided")

    plan = _approved_plan(case, investigation.findings)
    # Asked now, read after the fan-out: quality prints and submits while customers are being notified; the
    # gate's deadline is the market's report clock (CN: at once), so the sweep escalates it on that clock.
    report_by = datetime.fromisoformat(clocks["report_by"])
    forms = ", ".join(f"/cases/{number}/forms/{f}" for f in REPORT_FORMS)
    raise_gate(case, "regulator_reports", "recall.regulator_reports", RegulatorSubmissionInput,
               recall_summary(case, forms=forms), deadline_at=report_by, waited_on=True)
    record_step(case.id, "reports_rendered", "form",
                f"regulator's reports ready to print: {', '.join(REPORT_FORMS)} (event report at once in CN)")

    selection = facts.selection
    if selection.product_model is None:  # a recall concerns its own product unless it names another
        selection = selection.model_copy(update={"product_model": case.product_model})
    affected = find_affected(number, selection.model_dump(mode="json"))
    record_step(case.id, "affected", "linked", f"{affected['units']} affected units, {affected['customers']} "
                f"customers ({affected['without_address']} without an e-mail address)")
    set_case(number, status="notifying")
    sent = send_notices(number, decision.recall_class, case.product_model, facts.hazard, plan.remedy)
    in_time = datetime.fromisoformat(sent["finished_at"]) <= datetime.fromisoformat(clocks["notify_by"])
    record_step(case.id, "notified", "notice",
                f"{sent['outbox'].get('sent', 0)} customers notified in {sent['batches']} batches "
                f"({'within' if in_time else 'AFTER'} the class {decision.recall_class} limit); "
                f"outbox: {sent['outbox']}", data={"fanout": sent, "in_time": in_time})

    submitted = ask(case, "regulator_reports", "recall.regulator_reports", RegulatorSubmissionInput,
                    recall_summary(case, forms=forms), deadline_at=report_by)
    set_case(number, data={"reports_submitted_at": submitted.submitted_on.isoformat(),
                           "regulator_submission": submitted.model_dump(mode="json")})
    record_step(case.id, "regulator_reports", "report",
                f"reports submitted to {clocks['regulator']} by {submitted.submitted_by} on {submitted.submitted_on} "
                f"(reference {submitted.reference})")

    set_ack_wait(number)
    set_case(number, status="awaiting_acknowledgements")
    acks = ask(case, "acknowledgements", "recall.acknowledgements", RecallAcknowledgementsInput,
               recall_summary(case))
    record_step(case.id, "acknowledgements", "decision",
                f"{acks.acknowledged} of {acks.notified} customers acknowledged ({acks.reason or 'by hand'})")

    set_case(number, status="remedying")
    _remedies(case, plan.remedy)
    _compensation(case)
    handed = ask(case, "hand_over", "recall.hand_over", HandOverInput, recall_summary(case))
    record_step(case.id, "hand_over", "handover", f"{handed.units} units handed over to {handed.manufacturer} on "
                f"{handed.handed_over_on} (F0:19) {handed.reference}".strip())
    check = ask(case, "effectiveness", "recall.effectiveness", EffectivenessInput, recall_summary(case))
    set_case(number, data={"effectiveness": check.model_dump(mode="json")})
    record_step(case.id, "effectiveness", "inspection",
                f"effectiveness check level {check.level}: {check.sample_size} re-contacted, {check.sample_aware} "
                f"aware, {check.sample_remedied} remedied")

    closing = ask(case, "closing", "recall.closing", RecallClosingInput, recall_summary(case))
    report = closing_report(number, closing.model_dump(mode="json"))
    record_step(case.id, "closing_report", "form",
                f"closing report RECALL-CLOSE: notified {report['notified']}/{report['to_notify']}, recalled "
                f"{report['recalled']}/{report['to_recall']}, completed {report['completed_on']}")
    return close_case(number, "closed", f"recall closed: {report['recalled']} of {report['to_recall']} units "
                      f"recalled, disposal: {report['disposal']}")


def _approved_plan(case: Case, findings: str) -> RecallPlanInput:
    """Quality drafts the recall plan; the GM approves it or sends it back."""
    plan = None
    for attempt in range(1, ATTEMPTS + 1):
        plan = ask(case, f"plan#{attempt}", "recall.plan", RecallPlanInput, recall_summary(case, findings=findings))
        approval = ask(case, f"plan_approval#{attempt}", "recall.plan_approval", ApprovalInput,
                       recall_summary(case, plan=plan.plan, remedy=plan.remedy))
        record_step(case.id, f"plan_approval#{attempt}", "approval",
                    f"recall plan {'approved' if approval.approved else 'sent back'}: {approval.comment or '-'}")
        if approval.approved:
            break
    assert plan is not None
    set_case(case.number, data={"plan": plan.model_dump(mode="json")})
    return plan


def _remedies(case: Case, planned: str) -> None:
    """Units brought in get their remedy: each opens its child case with the unit's customer, at most
    `children_per_pass` per pass (each is a flow run); more wait in the queue for the next pass."""
    from aftersales.recall.case import parse_serials

    queue: list[str] = []
    for attempt in range(1, REMEDY_PASSES + 1):
        answer = ask(case, f"remedies#{attempt}", "recall.remedies", RecallRemediesInput,
                     recall_summary(case, queued=str(len(queue)) if queue else None))
        remedy = planned if answer.remedy == "plan" else answer.remedy
        queue += [s for s in parse_serials(answer.serials) if s not in queue]
        if queue:
            done = open_unit_cases(case.number, queue, remedy, case.facts.hazard)
            queue = list(done["queued"])
            record_step(case.id, f"remedies#{attempt}", "linked",
                        f"{len(done['opened'])} {remedy} cases opened: "
                        f"{', '.join(f'{s}→{c}' for s, c in done['opened'].items())}"
                        + (f"; not in this recall: {', '.join(done['unknown'])}" if done["unknown"] else "")
                        + (f"; {len(queue)} queued for the next pass" if queue else ""))
        if answer.finished and not queue:
            return


def _compensation(case: Case) -> None:
    """Remedial compensation: quality proposes it; finance approves, then the GM (F1:244, F1:356)."""
    proposed = ask(case, "compensation", "recall.compensation", RecallCompensationInput, recall_summary(case))
    if proposed.amount <= 0:
        record_step(case.id, "compensation", "approval", "no compensation proposed")
        return
    rows = recall_summary(case, amount=f"{proposed.amount:.2f}", basis=proposed.basis)
    finance = ask(case, "compensation_finance", "recall.compensation_finance", ApprovalInput, rows)
    approved = finance.approved
    if approved:
        approved = ask(case, "compensation_gm", "recall.compensation_gm", ApprovalInput, rows).approved
    set_case(case.number, data={"compensation": {"amount": proposed.amount, "basis": proposed.basis,
                                                 "approved": approved}})
    verdict = "approved by finance and the GM" if approved else "refused"
    record_step(case.id, "compensation", "approval",
                f"compensation of {proposed.amount:.2f} CNY {verdict} (F1:244, F1:356)")
