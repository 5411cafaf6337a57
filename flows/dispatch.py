"""Off-site repair dispatch, overseas (WI 5.5) and domestic (5.6 "by analogy"): spec 000-002 §6, 002:400-477.

Order: the repair method, decided by sales with quality, production engineering and R&D as required voices in
parallel (002:425-427) → a paid repair's fee agreed by sales and audited by finance (002:428-429), a free one
confirmed by the GM → the defective sample's analysis, the work-instruction plan and the team list (5.5.1) →
in parallel, each with its own owner and deadline, joined before departure: every material item (5.5.2; the
customer's own with its ready-by date, chased), hand-carry or shipped (5.5.3-5.5.4), the tools list confirmed
with the customer (5.5.5), purchases with their ETA (5.5.6), and abroad the visas and the customer's invitation
(5.5.1, 002:430) → departure agreed and booked by HR (5.5.7) → a daily report every working day of the
destination until done (5.5.8, 002:460) → quality's improvement measures and, when at fault, the incident
report (5.7) with, in parallel, cost items A-D by sales → audited by finance, recovered or traced (5.8) → closed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow

from aftersales.config.policy import get_policy
from aftersales.messaging.summaries import row
from flows._agency import entrust_local_agency
from models.case import CaseSnapshot
from models.dispatch import DispatchDetails
from models.inputs import (
    ApprovalInput,
    CarriageInput,
    CostStatementInput,
    DailyReportInput,
    DepartureInput,
    DispatchPlanInput,
    DispatchVoiceInput,
    FeeAgreementInput,
    FinanceAuditInput,
    ImprovementMeasuresInput,
    MaterialReadyInput,
    PurchaseEtaInput,
    ToolsListInput,
    VisaInput,
)
from models.requests import CaseRef
from tasks.gates import Branch, ask, ask_all, until_done
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

Case = CaseSnapshot[DispatchDetails]
VOICES = {"sales_rep": "method_sales", "quality_qa": "method_quality",  # 002:425-427 the sales rep decides with
          "production_engineering": "method_engineering", "rnd": "method_rnd"}  # the departments' voices
MATERIAL_OWNER = {"stock": "pmc", "local_purchase": "sales_rep", "customer": "customer"}  # 002:449-450


def summary(case: Case, **extra: Any) -> list[dict[str, str]]:
    """What the departments need: product, problem, site (no customer contact details)."""
    facts = case.facts
    rows = [row(case, "product_model", case.product_model), row(case, "problem_description", case.problem_description),
            {"label": "site", "value": f"{facts.site} ({facts.country})"}]
    return rows + [{"label": k, "value": str(v)} for k, v in extra.items()]


def decide_method(case: Case) -> str:
    """Sales decides with the others' voices (002:425-427): every voice is required; sales' choice stands."""
    branches = [Branch(key, "dispatch.method", DispatchVoiceInput, summary(case), assignee_role=role)
                for role, key in VOICES.items()]
    voices = ask_all(case, "method", branches)
    methods = {key: (answer or {}).get("method") for key, answer in voices.items()}
    method = str(methods["method_sales"])
    record_step(case.id, "method", "decided", f"repair method {method} (voices: {methods}; 002:425-427)",
                data={"voices": methods})
    return method


def agree_fee(case: Case) -> None:
    """Paid: fee, settlement and quality responsibility agreed, audited by finance; free: the GM confirms."""
    if case.facts.customer_responsibility:
        fee = ask(case, "fee_agreement", "dispatch.fee_agreement", FeeAgreementInput, summary(case))
        audit = ask(case, "finance_audit", "dispatch.finance_audit", FinanceAuditInput,
                    summary(case, fee=fee.fee, settlement=fee.settlement_method))
        set_case(case.number, data={"fee": audit.audited_fee, "settlement": audit.settlement_method})
    else:
        ask(case, "gm_free_repair", "dispatch.gm_free_repair", ApprovalInput, summary(case))


def prepare(case: Case, plan: DispatchPlanInput) -> dict[str, dict[str, Any] | None]:
    """Every preparation in parallel, each with its owner and deadline; departure waits for all (5.5.2-5.5.6)."""
    facts = case.facts
    branches: list[Branch] = []
    for n, item in enumerate(facts.materials, start=1):
        deadline, kind = None, "dispatch.material"
        if item.source == "customer" and item.ready_by is not None:
            kind = "dispatch.customer_material"  # the customer's own, chased by sales (002:450)
            notify_customer(case.number, f"material_ready_by:{n}", "dispatch.material_ready_by",
                            {"item": item.name, "quantity": item.quantity, "ready_by": item.ready_by.isoformat()})
            deadline = _end_of(case, item.ready_by)
        branches.append(Branch(f"material#{n}", kind, MaterialReadyInput,
                               summary(case, item=f"{item.name} × {item.quantity}", source=item.source),
                               assignee_role=MATERIAL_OWNER[item.source], deadline_at=deadline))
    branches += [Branch("carriage", "dispatch.carriage", CarriageInput, summary(case, team=plan.team)),
                 Branch("tools", "dispatch.tools", ToolsListInput, summary(case, plan=plan.work_instruction)),
                 Branch("purchases", "dispatch.purchases", PurchaseEtaInput, summary(case))]
    if facts.overseas:  # 5.6: a domestic dispatch has no visa, invitation or customs branch
        branches.append(Branch("visas", "dispatch.visas", VisaInput, summary(case, team=plan.team)))
        if facts.visa_needs_invitation:
            branches.append(Branch("invitation", "dispatch.invitation", ApprovalInput, summary(case)))
    return ask_all(case, "before_departure", branches)


def _end_of(case: Case, day: date) -> datetime:
    """The end of a working day at the site: the customer's ready-by date is a date there."""
    return datetime.combine(day, get_policy().calendar.work_end, tzinfo=ZoneInfo(case.facts.timezone))


@flow(name="dispatch", persist_result=True)
def dispatch(ref: CaseRef) -> str:
    """One off-site repair dispatch from the method decision to the cost statement."""
    case: Case = load_case(ref.case_number, DispatchDetails)
    attach_flow_run(case.number)
    facts = case.facts
    where = "overseas (5.5)" if facts.overseas else "domestic off-site (5.6)"
    record_step(case.id, "registered", "registered", f"{where} dispatch to {facts.site}, {facts.country}")
    if facts.from_case:
        record_step(case.id, "from_case", "linked", f"dispatch for case {facts.from_case}")
    method = decide_method(case)
    if method == "ship_back":  # 002:426 the defective unit comes back: the repair procedure's factory return
        repair = open_linked_case(case.number, "repair", "ship_back", extra={"requested_mode": "factory_return"})
        notify_roles(case.number, "method", ["sales_rep"], "dispatch.not_on_site", {"method": f"{method} {repair}"})
        return close_case(case.number, method, f"shipped back to the factory: repair case {repair} (002:426)",
                          data={"repair_case": repair})
    if method == "local_agency":  # 002:426 委托当地具备维修能力的机构: sales records who repaired it, and how
        agency = entrust_local_agency(case, "local_agency", "dispatch.local_agency", summary(case))
        outcome = "repaired" if agency.repaired else "not repaired"
        notify_roles(case.number, "method", ["sales_rep"], "dispatch.not_on_site",
                     {"method": f"{method}: {agency.agency}, {outcome}"})
        return close_case(case.number, method, f"entrusted to the local agency {agency.agency}, {outcome}: no team "
                          f"sent (002:426)")
    agree_fee(case)
    plan = ask(case, "plan", "dispatch.plan", DispatchPlanInput, summary(case))
    notify_roles(case.number, "team_list", ["hr_admin"], "dispatch.team_list", {"team": plan.team})
    prepared = prepare(case, plan)
    record_step(case.id, "prepared", "prepared", f"every preparation answered: {', '.join(prepared)}")
    departure = ask(case, "departure", "dispatch.departure", DepartureInput, summary(case, team=plan.team))
    notify_customer(case.number, "departure", "dispatch.departure", {"departs_on": departure.departs_on.isoformat()})
    reports = until_done(case, "daily_report", "dispatch.daily_report", DailyReportInput, summary(case),
                         country=facts.country, timezone=facts.timezone, first_day=departure.departs_on)
    missed = [r["day"] for r in reports if r["answer"] is None]
    record_step(case.id, "on_site_done", "repaired",
                f"{sum(1 for r in reports if r['answer'])} daily reports, missed days: {missed or 'none'} (002:460)",
                data={"reports": reports})
    # Quality's measures (5.7) and sales' cost items (5.8) have different owners and neither needs the other: asked
    # at once, one wait (and one resume of the run) instead of two in turn.
    after = ask_all(case, "after_repair", [
        Branch("improvement", "dispatch.improvement", ImprovementMeasuresInput, summary(case)),
        Branch("costs", "dispatch.costs", CostStatementInput, summary(case))])
    measures = ImprovementMeasuresInput.model_validate(after["improvement"])
    costs = CostStatementInput.model_validate(after["costs"])
    total = round(costs.a_material + costs.b_travel + costs.c_depreciation + costs.d_service_fee, 2)
    items = {"A": costs.a_material, "B": costs.b_travel, "C": costs.c_depreciation, "D": costs.d_service_fee}
    audit = ask(case, "cost_audit", "dispatch.cost_audit", FinanceAuditInput, summary(case, total=total, **items))
    set_case(case.number, data={"costs": items, "cost_total": total, "audited_total": audit.audited_fee,
                                "company_at_fault": measures.company_at_fault})
    if facts.customer_responsibility:  # 002:468 recovered by sales; else traced by quality
        notify_roles(case.number, "costs", ["sales_rep"], "dispatch.recover_costs", {"total": audit.audited_fee})
    else:
        notify_roles(case.number, "costs", ["quality_qa"], "dispatch.trace_costs", {"total": audit.audited_fee})
    return close_case(case.number, "completed", f"dispatch done; costs A-D total {total} CNY, audited "
                      f"{audit.audited_fee} CNY")
