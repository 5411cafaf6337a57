"""Complaint handling with escalation (投诉/客户抱怨): spec 000-002 §5 and 004:407-485, sequencing only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from aftersales.config.policy import get_policy
from aftersales.errors import ConfigurationError
from aftersales.messaging.summaries import row
from aftersales.sla.deadlines import local_text
from models.case import CaseSnapshot
from models.complaint import ComplaintDetails
from models.inputs import (
    ApprovalInput,
    CountermeasuresInput,
    FirstResponseInput,
    FollowUpInput,
    GMInstructionInput,
    JointInspectionInput,
    ResponsibilityInput,
    SignOffInput,
    VerificationInput,
)
from models.requests import CaseRef
from tasks.complaint import set_close_deadline
from tasks.gates import answerer, ask
from tasks.records import (
    attach_flow_run,
    close_case,
    load_case,
    notify_customer,
    open_linked_case,
    record_step,
    set_case,
)

Case = CaseSnapshot[ComplaintDetails]

IMMEDIATE_SOURCES = {"serious_grievance": "004:407"}



def complaint_summary(case: Case, **extra: Any) -> list[dict[str, str]]:
    """What staff need (客户抱怨处理表 fields), without the customer's contact details (004:103)."""
    details = case.facts
    rows = [row(case, "category", details.category), row(case, "product_model", case.product_model),
            row(case, "problem_description", case.problem_description),
            row(case, "customer_demand", details.customer_demand)]
    for field in ("order_number", "ship_date", "quantity", "defective_quantity"):
        value = getattr(details, field)
        if value not in (None, ""):
            rows.append({"label": field, "value": str(value)})
    rows += [row(case, field, value) for field, value in extra.items()]
    return rows



@flow(name="complaint", persist_result=True)
def complaint(ref: CaseRef) -> str:
    """Run one complaint from registration to sign-off and follow-up; late steps climb their ladders."""
    policy = get_policy()
    if policy.complaint is None:
        raise ConfigurationError("policy.yaml: complaint: the section is missing")
    number = ref.case_number
    case: Case = load_case(number, ComplaintDetails)
    details = case.facts
    attach_flow_run(number)
    close_by = set_close_deadline(number, details.overseas)
    record_step(case.id, "registered", "registered",
                f"客户抱怨处理表: {details.category}, demand: {details.customer_demand}; "
                f"close by {local_text(datetime.fromisoformat(close_by), policy)} (004:485)")
    notify_customer(number, "received", "complaint.received")

    immediate = details.category in policy.complaint.immediate_categories
    reason = None
    if immediate:
        source = IMMEDIATE_SOURCES.get(details.category, "F1:200-202")
        reason = f"category {details.category} is escalated at once ({source})"
        record_step(case.id, "immediate", "escalation", reason)

    summary = complaint_summary(case)
    first = ask(case, "first_response", "complaint.first_response", FirstResponseInput, summary,
                escalate_reason=reason)
    handler = answerer(case, "first_response")
    set_case(number, data={"handler": handler})
    notify_customer(number, "first_response", "complaint.first_response", {"response": first.response})

    verification = ask(case, "verification", "complaint.verification", VerificationInput, summary,
                       assignee_person=handler)
    record_step(case.id, "verification", "decision",
                f"{'substantiated' if verification.substantiated else 'not substantiated'}: {verification.findings}")
    if not verification.substantiated:
        return _close_unfounded(case, verification.findings)

    if first.needs_joint_inspection:
        inspection = ask(case, "joint_inspection", "complaint.joint_inspection", JointInspectionInput, summary)
        record_step(case.id, "joint_inspection", "inspection",
                    f"会勘 {inspection.inspected_on}: {inspection.report}")
    responsibility = ask(case, "responsibility", "complaint.responsibility", ResponsibilityInput, summary)
    set_case(number, data={"responsibility": responsibility.responsible,
                           "track_improvement": responsibility.track_improvement})
    record_step(case.id, "responsibility", "decision",
                f"responsibility: {responsibility.responsible}; method: {responsibility.handling_method}")

    measures = _agree_countermeasures(case, summary)
    instruction = ask(case, "gm_report", "complaint.gm_report", GMInstructionInput,
                      complaint_summary(case, plan=measures.countermeasures))
    record_step(case.id, "gm_report", "report", f"GM instruction: {instruction.instruction or 'acknowledged'}")
    _carry_out(case, measures, verification.immediately_solvable)

    sign_off = ask(case, "customer_sign_off", "complaint.customer_sign_off", SignOffInput,
                   [row(case, "plan", measures.countermeasures), row(case, "customer_demand",
                                                                       details.customer_demand)])
    if not sign_off.accept:
        reopened = open_linked_case(number, "complaint", "reopened", extra={"attached_record": number,
                                                                             "rejection": sign_off.reason},
                                    facts=details.model_dump(mode="json"))
        return close_case(number, "reopened", f"customer rejected the conclusion ({sign_off.reason}); new record "
                          f"{reopened} with this one attached (004:473)", data={"reopened_as": reopened})

    if policy.step_enabled("complaint", "follow_up_visit"):
        visit = ask(case, "follow_up", "complaint.follow_up", FollowUpInput, summary, assignee_person=handler)
        record_step(case.id, "follow_up", "follow_up", f"follow-up on {visit.visited_on}: {visit.notes}")
    return close_case(number, "closed", "complaint closed: 客户抱怨处理表 signed off (004:471)")


def _close_unfounded(case: Case, findings: str) -> str:
    """An unfounded complaint closes politely, with the reasons recorded (spec §5.6 gap: our choice)."""
    notify_customer(case.number, "unfounded", "complaint.unfounded", {"findings": findings})
    return close_case(case.number, "unfounded", "complaint not substantiated: closed politely (004:483)")


def _agree_countermeasures(case: Case, summary: list[dict[str, str]]) -> CountermeasuresInput:
    """Technical drafts countermeasures; the manager's office approves them, or sends them back (004:467)."""
    measures = None
    for attempt in range(1, 4):
        measures = ask(case, f"countermeasures#{attempt}", "complaint.countermeasures", CountermeasuresInput, summary)
        approval = ask(case, f"manager_approval#{attempt}", "complaint.manager_approval", ApprovalInput,
                       complaint_summary(case, plan=f"{measures.cause} → {measures.countermeasures}"))
        record_step(case.id, f"manager_approval#{attempt}", "approval",
                    f"countermeasures {'approved' if approval.approved else 'sent back'}: {approval.comment}")
        if approval.approved:
            set_case(case.number, data={"countermeasures": measures.model_dump(mode="json")})
            return measures
    assert measures is not None
    record_step(case.id, "countermeasures:undecided", "decision",
                "the manager's office sent the countermeasures back three times: the GM decides on the report")
    return measures


def _carry_out(case: Case, measures: CountermeasuresInput, immediate: bool) -> None:
    """Tell the customer the result (and the timetable), opening a linked repair when that is the solution."""
    number = case.number
    child = None
    if measures.solution == "repair":
        child = open_linked_case(number, "repair", "solution-repair")
        set_case(number, data={"linked_cases": [child]})
        record_step(case.id, "linked_repair", "linked", f"repair case {child} opened for this complaint")
    elif measures.solution in ("return", "exchange"):
        record_step(case.id, "linked_manual", "linked",
                    f"solution {measures.solution}: handled by the returns group until that procedure runs here")
    notify_customer(number, "result", "complaint.result",
                    {"countermeasures": measures.countermeasures, "repair_case": child,
                     "show_timetable": not immediate or bool(measures.timetable), "timetable": measures.timetable})
