"""Complaint handling with escalation (投诉/客户抱怨): spec 000-002 §5 and 004:407-485, sequencing only.

Order: registration → first response (F1:222) [with the deputy GM's review of a serious grievance, 004:407] →
joint inspection by sales and quality before the form (004:463) → acceptance by the GM's office, which starts the
5/7-day limit (004:485) → verification by the related department (F1:212-213) → quality's report to the GM within
3 days and the GM's instruction (004:465) → responsibility (quality) and countermeasures (technical), approved by
the manager's office (004:467) and, for compensation, by amount (F1:368) → the solution, result or letter →
the customer's sign-off (004:473) → the technical head's visit (004:411) → closed (004:471).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from aftersales.config.policy import ComplaintPolicy, get_policy
from aftersales.errors import ConfigurationError
from aftersales.messaging.summaries import row
from aftersales.sla.deadlines import local_text
from models.case import CaseSnapshot
from models.complaint import ComplaintDetails
from models.inputs import (
    ApprovalInput,
    ComplaintAcceptanceInput,
    ComplaintVisitInput,
    CountermeasuresInput,
    DeputyReviewInput,
    FirstResponseInput,
    GMInstructionInput,
    GoodsFactsInput,
    InspectionAppointmentInput,
    JointInspectionInput,
    QualityInspectionInput,
    QualityReportInput,
    ResponsibilityInput,
    SignOffInput,
    VerificationInput,
)
from models.requests import CaseRef
from tasks.complaint import goods_claim, is_staff_member, set_close_deadline
from tasks.gates import answerer, ask, tell_at_once
from tasks.records import (
    attach_flow_run,
    close_case,
    load_case,
    notify_customer,
    notify_roles,
    open_linked_case,
    record_step,
    set_case,
)

Case = CaseSnapshot[ComplaintDetails]
ATTEMPTS = 3  # [CHOICE] rounds of a step that is sent back or answered with unusable facts



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


def _section() -> ComplaintPolicy:
    section = get_policy().complaint
    if section is None:
        raise ConfigurationError("policy.yaml: complaint: the section is missing")
    return section


@flow(name="complaint", persist_result=True)
def complaint(ref: CaseRef) -> str:
    """Run one complaint from registration to sign-off and visit; late steps climb their ladders."""
    policy = get_policy()
    section = _section()
    number = ref.case_number
    case: Case = load_case(number, ComplaintDetails)
    details = case.facts
    attach_flow_run(number)
    record_step(case.id, "registered", "registered",
                f"客户抱怨处理表: {details.category}, demand: {details.customer_demand}; the closing limit starts "
                f"when the GM's office accepts it (004:485)")
    notify_customer(number, "received", "complaint.received")
    summary = complaint_summary(case)

    reason = None
    if details.category in section.immediate_categories:
        reason = f"category {details.category} is escalated at once (F1:200-202)"
        record_step(case.id, "immediate", "escalation", reason)
    serious = details.category in section.deputy_gm_categories
    if serious:
        # 004:407 「情节重大者,技术部应即提呈副总经理核阅或核转」: told now, while the first response runs.
        record_step(case.id, "immediate", "escalation",
                    f"category {details.category}: submitted to the deputy GM at once (004:407)")
        tell_at_once(case, [("deputy_gm_review", "complaint.deputy_gm_review", DeputyReviewInput, summary)])

    first = ask(case, "first_response", "complaint.first_response", FirstResponseInput, summary,
                escalate_reason=reason)
    set_case(number, data={"handler": answerer(case, "first_response")})
    notify_customer(number, "first_response", "complaint.first_response", {"response": first.response})
    if serious:
        _deputy_review(case, summary)
    if first.needs_joint_inspection:
        _joint_inspection(case, summary)

    ask(case, "acceptance", "complaint.acceptance", ComplaintAcceptanceInput, summary)
    close_by = local_text(datetime.fromisoformat(set_close_deadline(number, case.id, details.overseas, "acceptance")),
                          policy)
    record_step(case.id, "accepted", "accepted", f"accepted by the GM's office: close by {close_by} (004:485)")
    # 004:447: quality registers the case and keeps its time limit (登记, 处理时效管理).
    notify_roles(number, "registered", ["quality_inspection"], "complaint.registered", {"close_by": close_by})

    verifier = section.verification_role(details.category, policy.gate("complaint.verification").role)
    verification = ask(case, "verification", "complaint.verification", VerificationInput, summary,
                       assignee_role=verifier)
    record_step(case.id, "verification", "decision",
                f"{'substantiated' if verification.substantiated else 'not substantiated'} ({verifier}, F1:213): "
                f"{verification.findings}")
    if not verification.substantiated:
        return _close_unfounded(case, verification.findings)

    instruction = _report_to_gm(case, verification.findings)
    summary = complaint_summary(case, instruction=instruction)
    responsibility = ask(case, "responsibility", "complaint.responsibility", ResponsibilityInput, summary)
    set_case(number, data={"responsibility": responsibility.responsible,
                           "track_improvement": responsibility.track_improvement})
    record_step(case.id, "responsibility", "decision",
                f"responsibility: {responsibility.responsible}; method: {responsibility.handling_method}")

    measures = _agree_countermeasures(case, summary)
    _carry_out(case, measures, verification.immediately_solvable, serious)

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
        visit = ask(case, "follow_up", "complaint.follow_up", ComplaintVisitInput, summary)
        record_step(case.id, "follow_up", "follow_up",
                    f"visited on {visit.visited_on} by {visit.visited_by} (004:411): {visit.notes}")
    return close_case(number, "closed", "complaint closed: 客户抱怨处理表 signed off (004:471)")


def _deputy_review(case: Case, summary: list[dict[str, str]]) -> None:
    """The deputy GM reviews (核阅) the serious grievance or forwards it (核转) to the GM (004:407)."""
    review = ask(case, "deputy_gm_review", "complaint.deputy_gm_review", DeputyReviewInput, summary)
    verb = "forwarded it to the GM" if review.forward_to_gm else "reviewed it"
    record_step(case.id, "deputy_gm_review", "review", f"the deputy GM {verb} (004:407): {review.instruction}")
    set_case(case.number, data={"deputy_gm_instruction": review.instruction})
    if review.forward_to_gm:
        notify_roles(case.number, "forwarded", ["general_manager"], "complaint.forwarded",
                     {"instruction": review.instruction})


def _joint_inspection(case: Case, summary: list[dict[str, str]]) -> None:
    """Sales and quality inspect together, at once, before the form is filled (004:463).

    Both are told at the same moment and both answers are needed: two gates opened together, read in turn (a run
    waits on one gate at a time; an answer given early is simply read). Quality is read first, so that when it
    cannot go in time the GM appoints someone without waiting for sales; the appointee reports to the GM.
    """
    tell_at_once(case, [("joint_inspection", "complaint.joint_inspection", QualityInspectionInput, summary),
                        ("joint_inspection_sales", "complaint.joint_inspection_sales", JointInspectionInput, summary)])
    quality = ask(case, "joint_inspection", "complaint.joint_inspection", QualityInspectionInput, summary)
    if quality.attended:
        record_step(case.id, "joint_inspection", "inspection",
                    f"会勘 with quality {quality.inspected_on}: {quality.report} (004:463)")
    else:
        _appointed_inspection(case, summary)
    sales = ask(case, "joint_inspection_sales", "complaint.joint_inspection_sales", JointInspectionInput, summary)
    record_step(case.id, "joint_inspection_sales", "inspection",
                f"会勘 by sales {sales.inspected_on}: {sales.report} (004:463)")


def _appointed_inspection(case: Case, summary: list[dict[str, str]]) -> None:
    """Quality cannot go in time: the GM appoints someone, who inspects and reports to the GM (004:463)."""
    record_step(case.id, "joint_inspection", "inspection", "quality cannot go in time: the GM appoints (004:463)")
    appointee = None
    for attempt in range(1, ATTEMPTS + 1):
        named = ask(case, f"inspection_appointment#{attempt}", "complaint.inspection_appointment",
                    InspectionAppointmentInput, summary).appointee.strip()
        if is_staff_member(named):
            appointee = named
            break
        record_step(case.id, f"inspection_appointment#{attempt}:unknown", "decision",
                    f"{named!r} is not in the staff directory: the GM is asked again")
    # No valid name after three tries: the gate stays with the GM (its policy role), who inspects or delegates.
    inspection = ask(case, "appointed_inspection", "complaint.appointed_inspection", JointInspectionInput, summary,
                     assignee_person=appointee)
    inspector = answerer(case, "appointed_inspection") or appointee or "the GM"
    record_step(case.id, "appointed_inspection", "inspection",
                f"会勘 by {inspector}, appointed by the GM, {inspection.inspected_on}: {inspection.report} (004:463)")
    notify_roles(case.number, "appointed_inspection", ["general_manager"], "complaint.inspection_report",
                 {"inspector": inspector, "inspected_on": inspection.inspected_on.isoformat(),
                  "report": inspection.report})


def _report_to_gm(case: Case, findings: str) -> str:
    """Quality reports to the GM within 3 days of the investigation; the GM instructs on it (004:465)."""
    report = ask(case, "quality_report", "complaint.quality_report", QualityReportInput,
                 complaint_summary(case, findings=findings))
    instruction = ask(case, "gm_report", "complaint.gm_report", GMInstructionInput,
                      complaint_summary(case, findings=findings, report=report.report))
    text = instruction.instruction or "acknowledged"
    record_step(case.id, "gm_report", "report", f"quality's report to the GM (004:465): {report.report}; "
                                                f"GM instruction: {text}")
    set_case(case.number, data={"gm_instruction": text})
    return text


def _close_unfounded(case: Case, findings: str) -> str:
    """An unfounded complaint: the customer is told the findings politely ([CHOICE]: F1:214 gives no branch for it,
    spec §5.6), and sales collects the receivable in the normal period (004:483; a customer's objection goes by
    签呈 to the superior, outside this flow)."""
    notify_customer(case.number, "unfounded", "complaint.unfounded", {"findings": findings})
    if get_policy().step_enabled("complaint", "receivable_notice"):
        notify_roles(case.number, "receivable", ["sales_rep"], "complaint.receivable", {"findings": findings})
    return close_case(case.number, "unfounded", "complaint not substantiated: the customer is told the findings "
                      "([CHOICE] spec §5.6); sales collects the receivable in the normal period (004:483)")


def _agree_countermeasures(case: Case, summary: list[dict[str, str]]) -> CountermeasuresInput:
    """Technical drafts countermeasures; the manager's office approves them (004:467), and a compensation also by
    its amount (F1:368, the levels of `returns.approval_levels`); a refusal sends the draft back."""
    measures = None
    for attempt in range(1, ATTEMPTS + 1):
        measures = ask(case, f"countermeasures#{attempt}", "complaint.countermeasures", CountermeasuresInput, summary)
        plan = complaint_summary(case, plan=f"{measures.cause} → {measures.countermeasures}")
        approval = ask(case, f"manager_approval#{attempt}", "complaint.manager_approval", ApprovalInput, plan)
        record_step(case.id, f"manager_approval#{attempt}", "approval",
                    f"countermeasures {'approved' if approval.approved else 'sent back'}: {approval.comment}")
        if approval.approved and _compensation_approved(case, measures, attempt, plan):
            set_case(case.number, data={"countermeasures": measures.model_dump(mode="json")})
            return measures
    assert measures is not None
    decision = ask(case, "countermeasures:gm", "complaint.gm_report", GMInstructionInput,
                   complaint_summary(case, plan=f"{measures.cause} → {measures.countermeasures}"))
    record_step(case.id, "countermeasures:undecided", "decision",
                f"sent back {ATTEMPTS} times: the GM instructs ([CHOICE]): {decision.instruction or 'go ahead'}")
    return measures


def _compensation_approved(case: Case, measures: CountermeasuresInput, attempt: int,
                           plan: list[dict[str, str]]) -> bool:
    """A compensation is approved by who may approve its amount (F1:368 根据权限范围); the manager's office has
    approved it already when its level is the manager's own."""
    policy = get_policy()
    if measures.solution != "compensation":
        return True
    if policy.returns is None:
        raise ConfigurationError("policy.yaml: returns: approval_levels are needed to approve a compensation")
    level = policy.returns.approval_gate(measures.amount)
    amount = f"{measures.amount:.2f}"
    if policy.gate(level).role == policy.gate("complaint.manager_approval").role:
        record_step(case.id, f"compensation#{attempt}", "approval",
                    f"compensation of {amount} CNY within the manager's authority ({level}, F1:368)")
        return True
    approval = ask(case, f"compensation_approval#{attempt}", level, ApprovalInput,
                   plan + [row(case, "amount", amount)])
    record_step(case.id, f"compensation#{attempt}", "approval",
                f"compensation of {amount} CNY {'approved' if approval.approved else 'refused'} ({level}, F1:368): "
                f"{approval.comment}")
    return approval.approved


def _carry_out(case: Case, measures: CountermeasuresInput, immediate: bool, serious: bool) -> None:
    """Open the linked repair, return or exchange the solution needs, then tell the customer: by letter for a
    serious grievance (004:407 函告), else the result notice (004:477 by letter or phone, F1:216)."""
    number = case.number
    child = None
    if measures.solution == "repair":
        child = open_linked_case(number, "repair", "solution-repair")
    elif measures.solution in ("return", "exchange"):
        child = _open_goods_case(case, measures.solution)
    if child is not None:
        set_case(number, data={"linked_cases": [child]})
        record_step(case.id, f"linked_{measures.solution}", "linked",
                    f"{measures.solution} case {child} opened for this complaint")
    context = {"countermeasures": measures.countermeasures, "linked_case": child, "linked_kind": measures.solution,
               "show_timetable": not immediate or bool(measures.timetable), "timetable": measures.timetable}
    if serious:
        notify_customer(number, "letter", "complaint.letter", context)
    else:
        notify_customer(number, "result", "complaint.result", context)


def _open_goods_case(case: Case, kind: str) -> str | None:
    """The returns group gives the goods facts a return or exchange needs (models/goods.py), checked like that
    procedure's intake; then the linked case opens and runs. Unusable facts are asked again (three rounds)."""
    problems: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        rows = complaint_summary(case, solution=kind) + [{"label": "!", "value": p} for p in problems]
        facts = ask(case, f"goods_facts#{attempt}", "complaint.goods_facts", GoodsFactsInput, rows)
        claim, problems = goods_claim(case, kind, facts)
        if claim is not None:
            return open_linked_case(case.number, kind, f"solution-{kind}", facts=claim)
        record_step(case.id, f"goods_facts#{attempt}:invalid", "decision", "; ".join(problems))
    record_step(case.id, "linked_manual", "linked",
                f"no usable goods facts after {ATTEMPTS} rounds: the returns group handles the {kind} by hand")
    return None
