"""The repair procedure (报修/送修/上门维修 and factory-return 返修): spec §2.5 and §2.12, sequencing only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from aftersales.config.policy import get_policy
from aftersales.messaging.summaries import row
from aftersales.rules.repair import fee_route, visit_window
from aftersales.rules.satisfaction import is_low_score
from aftersales.rules.warranty import decide_warranty
from aftersales.sla.clocks import clock_deadline
from aftersales.sla.deadlines import due, local_text
from flows._agency import entrust_local_agency
from models.case import CaseSnapshot
from models.dispatch import DispatchDetails
from models.inputs import (
    AcceptanceInput,
    AgeingInput,
    ApprovalInput,
    DispatchFactsInput,
    ExecutionInput,
    FinanceAuditInput,
    FollowUpInput,
    QATestInput,
    QuoteConfirmationInput,
    RemoteDiagnosisInput,
    RepairPlanInput,
    RepairRecordInput,
    SurveyInput,
    TriageInput,
    WarehouseReceiptInput,
)
from models.requests import CaseRef
from tasks.gates import answered_at, ask, follow_up_low_score, raise_gate
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

Case = CaseSnapshot[None]


def staff_summary(case: Case, **extra: Any) -> list[dict[str, str]]:
    """What staff need to act, and no more: no customer phone or address in messages (000:69, 004:103)."""
    rows = [row(case, "product_model", case.product_model),
            row(case, "serial_number", case.serial_number or "-"),
            row(case, "problem_description", case.problem_description),
            row(case, "urgency", "urgent" if case.urgent else "normal")]
    rows += [row(case, field, value) for field, value in extra.items()]
    return rows



@flow(name="repair", persist_result=True)
def repair(ref: CaseRef) -> str:
    """Run one repair case from triage to the complete record; every human step is a durable gate."""
    log = get_run_logger()
    policy = get_policy()
    number = ref.case_number
    case: Case = load_case(number)
    attach_flow_run(number)
    record_step(case.id, "flow_started", "flow_started", "repair procedure started")
    notify_customer(number, "received", "repair.received")

    # Triage: severity, complexity, warranty and man-made damage (spec §1.4, F2:13-15).
    triage = ask(case, "triage", "repair.triage", TriageInput, staff_summary(case))
    warranty = decide_warranty(
        purchase_date=case.purchase_date, today=case.opened_at.date(), months=policy.warranty.months,
        man_made_damage=triage.man_made_damage,
        man_made_is_customer_responsibility=policy.warranty.man_made_damage_is_customer_responsibility,
        override=triage.warranty,
    )
    warranty_value = "in_warranty" if warranty.in_warranty else "out_of_warranty"
    set_case(number, urgent=triage.urgent or case.urgent,
             data={"warranty": warranty_value, "customer_responsibility": warranty.customer_responsibility,
                   "complexity": triage.complexity})
    case = load_case(number)
    record_step(case.id, "warranty", "decision", f"warranty: {warranty_value}; " + "; ".join(warranty.reasons))

    mode = _remote_first(case, triage)
    if mode != "remote":
        plan = _agree_plan(case, warranty.customer_responsibility, warranty_value)
        if plan is None:
            return close_case(number, "declined", "repair not agreed: case closed without repair")
        mode = plan.mode
        case = load_case(number)  # the agreed plan is on the case now: later steps show it
    if mode == "dispatch":
        return _hand_over_to_dispatch(case, warranty.customer_responsibility)
    accepted_key = _work_until_accepted(case, mode)
    if accepted_key is None:
        return close_case(number, "unrepairable", "not repaired to the customer's acceptance: referred to the manager")
    _after_care(case, answered_at(case.id, accepted_key) or case.opened_at)
    log.info("repair case %s closed", number)
    return close_case(number, "closed", "case closed: complete record kept")


def _remote_first(case: Case, triage: TriageInput) -> str:
    """Try remote diagnosis first when policy and triage allow (spec §1.5)."""
    if not (get_policy().step_enabled("repair", "remote_first") and triage.remote_possible):
        return "undecided"
    if case.data.get("requested_mode") == "factory_return":
        # A dispatch's method decision chose to ship the unit back (002:425-426): it comes to the factory anyway.
        record_step(case.id, "remote_diagnosis", "decision",
                    f"no remote diagnosis: shipped back to the factory by {case.data.get('parent_number')} (002:426)")
        return "undecided"
    remote = ask(case, "remote_diagnosis", "repair.remote_diagnosis", RemoteDiagnosisInput, staff_summary(case))
    record_step(case.id, "remote_diagnosis", "decision",
                f"remote diagnosis: {'solved' if remote.solved else 'not solved'} — {remote.diagnosis}")
    return "remote" if remote.solved else "undecided"


def _agree_plan(case: Case, customer_pays: bool, warranty_value: str) -> RepairPlanInput | None:
    """The engineer's plan, then finance, GM and customer approvals as the fee requires (F2:428-433)."""
    policy = get_policy()
    number = case.number
    for attempt in range(1, 4):
        requested = {"repair_mode": case.data["requested_mode"]} if case.data.get("requested_mode") else {}
        plan = ask(case, f"plan#{attempt}", "repair.plan", RepairPlanInput,
                   staff_summary(case, warranty=warranty_value, **requested))
        if plan.mode == "dispatch":  # the dispatch agrees and audits its own fee (002:428-429, 002:433)
            record_step(case.id, f"plan#{attempt}", "decision", f"plan (dispatch): {plan.plan}",
                        data=plan.model_dump(mode="json"))
            set_case(number, data={"repair_mode": plan.mode, "plan": plan.plan})
            return plan
        route = fee_route(customer_responsibility=customer_pays, fee=plan.fee,
                          fee_needs_finance_audit=policy.repair.fee_needs_finance_audit,
                          free_repair_needs_gm=policy.repair.free_repair_needs_gm)
        record_step(case.id, f"plan#{attempt}", "decision",
                    f"plan ({plan.mode}, fee {plan.fee:.2f}): {route.reason}", data=plan.model_dump(mode="json"))
        fee = plan.fee
        approved = True
        for approval in route.approvals:
            rows = staff_summary(case, warranty=warranty_value, repair_mode=plan.mode, plan=plan.plan,
                                 fee=f"{fee:.2f}")
            if approval == "finance_audit":
                audit = ask(case, f"finance_audit#{attempt}", "repair.finance_audit", FinanceAuditInput, rows)
                approved, fee = audit.approved, audit.audited_fee
            elif approval == "gm_free_repair":
                gm = ask(case, f"gm_free_repair#{attempt}", "repair.gm_free_repair", ApprovalInput, rows)
                approved = gm.approved
            else:
                quote = ask(case, f"quote_confirmation#{attempt}", "repair.quote_confirmation", QuoteConfirmationInput,
                            [row(case, "plan", plan.plan), row(case, "repair_mode", plan.mode),
                             row(case, "fee", f"{fee:.2f}")])
                if not quote.accept:
                    notify_customer(number, "declined", "repair.declined")
                    return None
            if not approved:
                record_step(case.id, f"plan#{attempt}:refused", "decision",
                            f"{approval} refused: plan goes back to the engineer")
                break
        if approved:
            set_case(number, data={"repair_mode": plan.mode, "fee": fee, "plan": plan.plan})
            if plan.appointment:
                notify_customer(number, f"scheduled#{attempt}", "repair.scheduled", {"appointment": plan.appointment})
            return plan
    record_step(case.id, "plan:exhausted", "decision", "no plan approved after 3 attempts")
    return None


def _work_until_accepted(case: Case, mode: str) -> str | None:
    """Repair (on site, send-in or factory return) until the customer signs acceptance (F1:16, F2:282).

    Returns the key of the accepting sign-off (its answer time is the hand-over), None when never accepted.
    """
    number = case.number
    for work_round in range(1, 4):
        if mode == "factory_return":
            if not _factory_return(case, work_round):
                return None
        elif mode == "local_agency":
            agency = entrust_local_agency(case, f"local_agency#{work_round}", "repair.local_agency",
                                          staff_summary(case, plan=case.data.get("plan", "-")))
            if not agency.repaired:  # another agency, or the same again, until a round repairs it
                continue
        elif mode != "remote" or work_round > 1:
            _execute(case, work_round)
        notify_customer(number, f"repaired#{work_round}", "repair.repaired")
        acceptance = ask(case, f"acceptance#{work_round}", "repair.acceptance", AcceptanceInput,
                         [row(case, "product_model", case.product_model),
                          row(case, "problem_description", case.problem_description)])
        record_step(case.id, f"acceptance#{work_round}", "sign_off",
                    f"customer {'accepted' if acceptance.accepted else 'did not accept'} ({acceptance.signature_name})")
        if acceptance.accepted:
            return f"acceptance#{work_round}"
        mode = "on_site" if mode == "remote" else mode
    return None


def _hand_over_to_dispatch(case: Case, customer_pays: bool) -> str:
    """Open the linked off-site dispatch and end this case on it.

    Why end rather than wait: from here WI 5.3-5.8 is the dispatch procedure's own, to its last step. Sales decides
    the method again with quality, production engineering and R&D (002:425-427, and may still ship the unit back or
    entrust a local agency), agrees and audits the fee (002:428-429), the team repairs on site and reports daily
    until done (002:444-460, 002:464 at home by analogy), then improvement and the audited costs (002:465-473). A
    repair waiting behind it would only repeat that work (its execution and fee steps) or wait on a case whose
    end it does not know. The dispatch names this case (`from_case`) and this one names the dispatch.
    """
    rows = staff_summary(case, repair_mode="dispatch", plan=case.data.get("plan", "-"))
    where = ask(case, "dispatch_facts", "repair.dispatch_facts", DispatchFactsInput, rows)
    facts = DispatchDetails(**where.model_dump(include=set(DispatchDetails.model_fields)),
                            customer_responsibility=customer_pays, from_case=case.number)
    child = open_linked_case(case.number, "dispatch", "dispatch", facts=facts.model_dump(mode="json"))
    set_case(case.number, data={"linked_cases": [child]})
    record_step(case.id, "linked_dispatch", "linked", f"off-site dispatch {child} opened for this repair (002:425)")
    notify_customer(case.number, "dispatched", "repair.dispatched", {"linked_case": child})
    return close_case(case.number, "dispatched", f"handed over to the off-site dispatch {child} (002:425-427)")


def _execute(case: Case, work_round: int) -> None:
    """On-site or send-in repair with progress reports until done (F2:279-280, §2.5 steps 12-18)."""
    policy = get_policy()
    # 004:355: not repaired 12 h after the report -> the sweep asks about a spare unit (gate repair.spare_unit).
    spare_due = due(policy, case.opened_at, policy.repair.sla["spare_unit_after"])
    for report in range(1, 50):
        # The summary and the resolution deadline are read only when the gate opens, not at each replay of it.
        execution = ask(case, f"execution#{work_round}.{report}", "repair.execution", ExecutionInput,
                        lambda: staff_summary(case, plan=case.data.get("plan", "-"),
                                              deadline=f"spare unit if not fixed by {local_text(spare_due, policy)}"),
                        deadline_at=lambda: resolution_due(case), clock="resolution")
        record_step(case.id, f"execution#{work_round}.{report}", "progress", execution.work_done,
                    data=execution.model_dump(mode="json"))
        if execution.done:
            return
        notify_customer(case.number, f"progress#{work_round}.{report}", "repair.progress",
                        {"work_done": execution.work_done})


def resolution_due(case: Case) -> datetime | None:
    """When the repair must be resolved: 3 working days from the request over all its steps (F1:164, F2:184),
    moved later by the time the case waited on the customer (policy clocks); None when the policy counts a fresh
    resolution time per step. A read, like load_case: the gate it is given to keeps the deadline it opened with."""
    return clock_deadline(case.id, "resolution")


def _factory_return(case: Case, work_round: int) -> bool:
    """Factory-return repair: FORM-MA-076, warehouse, FORM-MA-077, ageing, QA test (F2:431-443)."""
    policy = get_policy()
    number = case.number
    if work_round == 1:
        record_step(case.id, "form-ma-076", "form", "返修申请单 FORM-MA-076 filled",
                    data={"form": f"/cases/{number}/forms/FORM-MA-076"})
        notify_roles(number, "form-ma-076", policy.notify_on_factory_return, "repair.form_ma_076",
                     {"product_model": case.product_model, "problem": case.problem_description})
        receipt = ask(case, "warehouse_receipt", "repair.warehouse_receipt", WarehouseReceiptInput,
                      staff_summary(case))
        record_step(case.id, "warehouse_receipt", "receipt", f"received into warehouse, {receipt.receipt_number}")
        if receipt.needs_quality_judgement:
            notify_roles(number, "quality-judgement", ["quality_inspection"], "repair.quality_judgement")
    for qa_round in range(1, policy.repair.max_qa_rounds + 1):
        tag = f"{work_round}.{qa_round}"
        record = ask(case, f"repair_record#{tag}", "repair.repair_record", RepairRecordInput,
                     lambda: staff_summary(case), deadline_at=lambda: resolution_due(case), clock="resolution")
        record_step(case.id, f"form-ma-077#{tag}", "form", f"返修品维修记录表 FORM-MA-077: {record.work_done}",
                    data={"form": f"/cases/{number}/forms/FORM-MA-077", **record.model_dump(mode="json")})
        set_case(number, data={"repair_record": record.model_dump(mode="json")})
        if policy.step_enabled("repair", "ageing"):
            notify_roles(number, f"before-ageing#{tag}", ["quality_inspection"], "repair.before_ageing",
                         {"qa_round": qa_round})
            ageing = ask(case, f"ageing#{tag}", "repair.ageing", AgeingInput, staff_summary(case))
            outcome = "passed" if ageing.passed else "failed"
            record_step(case.id, f"ageing#{tag}", "test", f"ageing {ageing.hours} h: {outcome}")
            if not ageing.passed:
                continue
        qa = ask(case, f"qa_test#{tag}", "repair.qa_test", QATestInput, staff_summary(case))
        outcome = "passed" if qa.passed else "failed"
        record_step(case.id, f"qa_test#{tag}", "test", f"QA full-function test {outcome}: {qa.report}")
        if qa.passed:
            notify_roles(number, f"repair-complete#{work_round}", ["sales_rep", "customer_service"],
                         "repair.factory_repair_complete")
            return True
    record_step(case.id, f"qa:exhausted#{work_round}", "decision",
                f"QA failed {policy.repair.max_qa_rounds} times: referred to the after-sales manager")
    notify_roles(number, f"unrepairable#{work_round}", ["after_sales_manager"], "repair.unrepairable")
    return False


def _after_care(case: Case, handed_over: datetime) -> None:
    """Satisfaction survey and the follow-up visit 5-7 days after hand-over (F1:17, F2:79, F2:57-61)."""
    policy = get_policy()
    visit_rows: list[dict[str, str]] = []
    if policy.step_enabled("repair", "follow_up_visit"):
        # A flow cannot sleep for days holding a worker, and the survey may still be open on day 5. So the visit
        # gate is scheduled at hand-over: it opens (request sent, link valid) only when the sweep reaches
        # hand-over + earliest days, and it is due at hand-over + latest days. The flow asks it after the survey
        # and stays suspended (no process) until it is answered; nothing here depends on when the flow runs.
        window = policy.repair.follow_up_visit_days
        opens_at, due_at = visit_window(handed_over, window.earliest, window.latest)
        visit_rows = staff_summary(case, deadline=f"visit {window.earliest}-{window.latest} days after hand-over "
                                                  f"({local_text(opens_at, policy)} – {local_text(due_at, policy)})")
        raise_gate(case, "follow_up", "repair.follow_up", FollowUpInput, visit_rows, opens_at=opens_at,
                   deadline_at=due_at, waited_on=True)
    if policy.step_enabled("repair", "satisfaction_survey"):
        survey = ask(case, "survey", "repair.survey", SurveyInput, [row(case, "product_model", case.product_model)])
        record_step(case.id, "survey", "survey", f"satisfaction {survey.score}/5 {survey.comment}".strip())
        set_case(case.number, data={"satisfaction": survey.score})
        if is_low_score(survey.score, policy.repair.low_satisfaction_at_most):
            follow_up_low_score(case, "repair.low_satisfaction", survey.score, survey.comment)
    if visit_rows:
        visit = ask(case, "follow_up", "repair.follow_up", FollowUpInput, visit_rows)
        record_step(case.id, "follow_up", "follow_up",
                    f"follow-up {'done' if visit.contacted else 'attempted'} on {visit.visited_on}: {visit.notes}")
