"""Complaint handling with escalation (投诉/客户抱怨): spec 000-002 §5 and 004:407-485, sequencing only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from aftersales.config.policy import get_policy
from aftersales.messaging.summaries import row, say
from aftersales.sla.deadlines import local_text
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
from tasks.gates import answerer, ask
from tasks.records import (
    attach_flow_run,
    load_case,
    notify_customer,
    open_linked_case,
    publish_record,
    record_step,
    set_case,
    set_close_deadline,
)

IMMEDIATE_SOURCES = {"serious_grievance": "004:407"}



def complaint_summary(case: dict[str, Any], **extra: Any) -> list[dict[str, str]]:
    """What staff need (客户抱怨处理表 fields), without the customer's contact details (004:103)."""
    details = case["data"]["complaint"]
    rows = [row(case, "category", details["category"]), row(case, "product_model", case["product_model"]),
            row(case, "problem_description", case["problem_description"]),
            row(case, "customer_demand", details["customer_demand"])]
    for field in ("order_number", "ship_date", "quantity", "defective_quantity"):
        if details.get(field) not in (None, ""):
            rows.append({"label": field, "value": str(details[field])})
    rows += [row(case, field, value) for field, value in extra.items()]
    return rows



@flow(name="complaint", persist_result=True)
def complaint(ref: CaseRef) -> str:
    """Run one complaint from registration to sign-off and follow-up; late steps climb their ladders."""
    policy = get_policy()
    assert policy.complaint is not None, "policy.yaml has no 'complaint' section"
    number = ref.case_number
    case = load_case(number)
    details = case["data"]["complaint"]
    attach_flow_run(number)
    close_by = set_close_deadline(number, bool(details.get("overseas")))
    record_step(case["id"], "registered", "registered",
                f"客户抱怨处理表: {details['category']}, demand: {details['customer_demand']}; "
                f"close by {local_text(datetime.fromisoformat(close_by), policy)} (004:485)")
    received = say(f"我们已受理您的投诉 {number}", f"We have received your complaint {number}")
    soon = {"zh": ["专人将在24小时内答复您。"], "en": ["A dedicated handler will answer you within 24 hours."]}
    notify_customer(number, "received", received, soon)

    immediate = details["category"] in policy.complaint.immediate_categories
    reason = None
    if immediate:
        source = IMMEDIATE_SOURCES.get(details["category"], "F1:200-202")
        reason = f"category {details['category']} is escalated at once ({source})"
        record_step(case["id"], "immediate", "escalation", reason)

    summary = complaint_summary(case)
    first = ask(case, "first_response", "complaint.first_response", FirstResponseInput, summary,
                escalate_reason=reason)
    handler = answerer(case, "first_response")
    set_case(number, data={"handler": handler})
    notify_customer(number, "first_response", say("投诉答复", "Answer to your complaint"),
                    {"zh": [first.response], "en": [first.response]})

    verification = ask(case, "verification", "complaint.verification", VerificationInput, summary,
                       assignee_person=handler)
    record_step(case["id"], "verification", "decision",
                f"{'substantiated' if verification.substantiated else 'not substantiated'}: {verification.findings}")
    if not verification.substantiated:
        return _close_unfounded(case, verification.findings)

    if first.needs_joint_inspection:
        inspection = ask(case, "joint_inspection", "complaint.joint_inspection", JointInspectionInput, summary)
        record_step(case["id"], "joint_inspection", "inspection",
                    f"会勘 {inspection.inspected_on}: {inspection.report}")
    responsibility = ask(case, "responsibility", "complaint.responsibility", ResponsibilityInput, summary)
    set_case(number, data={"responsibility": responsibility.responsible,
                           "track_improvement": responsibility.track_improvement})
    record_step(case["id"], "responsibility", "decision",
                f"responsibility: {responsibility.responsible}; method: {responsibility.handling_method}")

    measures = _agree_countermeasures(case, summary)
    instruction = ask(case, "gm_report", "complaint.gm_report", GMInstructionInput,
                      complaint_summary(case, plan=measures.countermeasures))
    record_step(case["id"], "gm_report", "report", f"GM instruction: {instruction.instruction or 'acknowledged'}")
    _carry_out(case, measures, verification.immediately_solvable)

    sign_off = ask(case, "customer_sign_off", "complaint.customer_sign_off", SignOffInput,
                   [row(case, "plan", measures.countermeasures), row(case, "customer_demand",
                                                                       details["customer_demand"])])
    if not sign_off.accept:
        reopened = open_linked_case(number, "complaint", "reopened", extra={"attached_record": number,
                                                                             "rejection": sign_off.reason},
                                    complaint=details)
        record_step(case["id"], "reopened", "decision",
                    f"customer rejected the conclusion ({sign_off.reason}); new record {reopened} with this one "
                    "attached (004:473)")
        set_case(number, status="reopened", closed=True, data={"reopened_as": reopened})
        publish_record(number)
        return "reopened"

    if policy.step_enabled("complaint", "follow_up_visit"):
        visit = ask(case, "follow_up", "complaint.follow_up", FollowUpInput, summary, assignee_person=handler)
        record_step(case["id"], "follow_up", "follow_up", f"follow-up on {visit.visited_on}: {visit.notes}")
    set_case(number, status="closed", closed=True)
    record_step(case["id"], "closed", "closed", "complaint closed: 客户抱怨处理表 signed off (004:471)")
    publish_record(number)
    return "closed"


def _close_unfounded(case: dict[str, Any], findings: str) -> str:
    """An unfounded complaint closes politely, with the reasons recorded (spec §5.6 gap: our choice)."""
    number = case["number"]
    notify_customer(number, "unfounded", say("投诉核实结果", "The result of our verification"),
                    {"zh": ["感谢您的反馈。经核实,未发现您反映的问题:", findings, "如有疑问,欢迎随时联系我们。"],
                     "en": ["Thank you for telling us. Our verification did not confirm the problem:", findings,
                            "Please contact us if you have any question."]})
    set_case(number, status="unfounded", closed=True)
    record_step(case["id"], "closed", "closed", "complaint not substantiated: closed politely (004:483)")
    publish_record(number)
    return "unfounded"


def _agree_countermeasures(case: dict[str, Any], summary: list[dict[str, str]]) -> CountermeasuresInput:
    """Technical drafts countermeasures; the manager's office approves them, or sends them back (004:467)."""
    measures = None
    for attempt in range(1, 4):
        measures = ask(case, f"countermeasures#{attempt}", "complaint.countermeasures", CountermeasuresInput, summary)
        approval = ask(case, f"manager_approval#{attempt}", "complaint.manager_approval", ApprovalInput,
                       complaint_summary(case, plan=f"{measures.cause} → {measures.countermeasures}"))
        record_step(case["id"], f"manager_approval#{attempt}", "approval",
                    f"countermeasures {'approved' if approval.approved else 'sent back'}: {approval.comment}")
        if approval.approved:
            set_case(case["number"], data={"countermeasures": measures.model_dump(mode="json")})
            return measures
    assert measures is not None
    record_step(case["id"], "countermeasures:undecided", "decision",
                "the manager's office sent the countermeasures back three times: the GM decides on the report")
    return measures


def _carry_out(case: dict[str, Any], measures: CountermeasuresInput, immediate: bool) -> None:
    """Tell the customer the result (and the timetable), opening a linked repair when that is the solution."""
    number = case["number"]
    lines_zh = [f"处理结论:{measures.countermeasures}"]
    lines_en = [f"Our conclusion: {measures.countermeasures}"]
    if measures.solution == "repair":
        child = open_linked_case(number, "repair", "solution-repair")
        set_case(number, data={"linked_cases": [child]})
        record_step(case["id"], "linked_repair", "linked", f"repair case {child} opened for this complaint")
        lines_zh.append(f"已为您安排维修,维修单号 {child}。")
        lines_en.append(f"A repair has been arranged for you: {child}.")
    elif measures.solution in ("return", "exchange"):
        record_step(case["id"], "linked_manual", "linked",
                    f"solution {measures.solution}: handled by the returns group until that procedure runs here")
    if not immediate or measures.timetable:
        lines_zh.append(f"解决时间表:{measures.timetable or '将另行通知'}")
        lines_en.append(f"Timetable: {measures.timetable or 'to follow'}")
    notify_customer(number, "result", say("投诉处理结果", "The result of your complaint"),
                    {"zh": lines_zh, "en": lines_en})
