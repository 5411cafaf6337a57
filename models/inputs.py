"""Typed answers a human gate asks for (Prefect RunInput), registered by name for the web form."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, model_validator

from models.dispatch import DispatchDestination

GATE_INPUTS: dict[str, type[GateInput]] = {}
# A field a person's data may be typed into (a customer's signature): it stays in the project's database.
PERSONAL: dict[str, Any] = {"personal": True}
KEPT_OUT = "—"  # what Prefect is given instead (the flow reads the recorded answer from the database)


class GateInput(RunInput):
    """Base of every gate answer: a free comment is always allowed."""

    comment: str = Field(default="", max_length=2000, description="Comment / reason")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # with_initial_data() makes subclasses of the same name: keep the original class.
        GATE_INPUTS.setdefault(cls.__name__, cls)


def for_prefect(model: type[GateInput], answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as the resumed run's input, which Prefect keeps: free text and fields marked PERSONAL are left
    out (000:69, 004:103), decisions and figures stay so the run page says what was decided."""
    safe = dict(answer)
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if name in safe and (extra.get("personal") or name == "comment"):
            safe[name] = "" if name == "comment" else KEPT_OUT
    return safe


class JoinedInput(RunInput):
    """What resumes a run waiting on a group or a recurring wait: only which one; the answers are read from the
    database (aftersales.gates.groups, aftersales.gates.series). Not a gate answer: no form, no link."""

    group: str = Field(default="", max_length=80, description="Group of waits in parallel that joined")
    series: str = Field(default="", max_length=80, description="Recurring wait that ended")


class TriageInput(GateInput):
    """Severity, complexity and warranty facts found at triage (spec §1.4, F2:13-15)."""

    urgent: bool = Field(default=False, description="Urgent (紧急报修, F2:101)")
    complexity: Literal["general", "complex"] = Field(default="general", description="General or complex (F2:138)")
    man_made_damage: bool = Field(default=False, description="Man-made damage found (F1:8)")
    warranty: Literal["auto", "in", "out"] = Field(default="auto", description="Warranty: auto = by purchase date")
    remote_possible: bool = Field(default=True, description="Try remote diagnosis first (§1.5)")


class RemoteDiagnosisInput(GateInput):
    """Outcome of remote diagnosis and guidance (F2:96, F2:277)."""

    solved: bool = Field(description="Solved remotely")
    diagnosis: str = Field(min_length=1, max_length=2000, description="Diagnosis")


class RepairPlanInput(GateInput):
    """The repair plan: mode, what, when, materials, fee (F1:132(3), F2:385, F2:425-426)."""

    mode: Literal["on_site", "send_in", "factory_return", "local_agency", "dispatch"] = Field(
        description="Repair mode (a local agency 委托当地机构 or an off-site dispatch 外出维修: 002:425-426)")
    plan: str = Field(min_length=1, max_length=2000, description="Plan: work, materials, manpower")
    appointment: str = Field(default="", max_length=100, description="Agreed time and place (F2:33)")
    fee: float = Field(default=0, ge=0, le=10_000_000, description="Fee in CNY (0 = free)")


class FinanceAuditInput(GateInput):
    """Finance audits the fee standard and settlement method (F2:429)."""

    approved: bool = Field(description="Fee standard approved")
    audited_fee: float = Field(ge=0, le=10_000_000, description="Audited fee in CNY")
    settlement_method: Literal["cash", "bank_transfer", "monthly_invoice"] = Field(
        default="bank_transfer", description="Settlement method"
    )


class ApprovalInput(GateInput):
    """A plain approve / reject decision with its reason."""

    approved: bool = Field(description="Approved")


class QuoteConfirmationInput(GateInput):
    """The customer confirms the plan and fee, signing the repair agreement (F1:132(4), F2:428)."""

    accept: bool = Field(description="I accept the repair plan and fee")
    signature_name: str = Field(min_length=1, max_length=120, description="Your name (signature)",
                                json_schema_extra=PERSONAL)


class WarehouseReceiptInput(GateInput):
    """The returned unit is received into the warehouse (F2:434)."""

    received: bool = Field(description="Unit received")
    receipt_number: str = Field(min_length=1, max_length=60, description="Warehouse receipt number")
    needs_quality_judgement: bool = Field(default=False, description="Quality must judge before repair (F2:435)")


class RepairRecordInput(GateInput):
    """返修品维修记录表 FORM-MA-077, filled during testing and repair (F2:437)."""

    fault_found: str = Field(min_length=1, max_length=2000, description="Fault found")
    cause: str = Field(min_length=1, max_length=2000, description="Cause")
    work_done: str = Field(min_length=1, max_length=2000, description="Work done")
    parts_replaced: str = Field(default="", max_length=2000, description="Parts replaced")
    hours: float = Field(ge=0, le=1000, description="Repair hours")
    technician: str = Field(min_length=1, max_length=120, description="Technician")


class AgeingInput(GateInput):
    """Ageing per the company standard, checked by quality inspection (F2:439)."""

    hours: float = Field(ge=0, le=10000, description="Ageing hours")
    passed: bool = Field(description="Ageing passed")


class QATestInput(GateInput):
    """品质QA full-function test after ageing (F2:441); a failure goes back to repair."""

    passed: bool = Field(description="Full-function test passed")
    report: str = Field(min_length=1, max_length=2000, description="Test report")


class ExecutionInput(GateInput):
    """Repair work and progress: 'not done yet' records a progress report and keeps waiting (F2:280)."""

    done: bool = Field(description="Repair finished and tested")
    work_done: str = Field(min_length=1, max_length=2000, description="Work done / progress")
    parts_used: str = Field(default="", max_length=2000, description="Parts used")
    hours: float = Field(default=0, ge=0, le=1000, description="Hours")


class AcceptanceInput(GateInput):
    """The customer confirms the fault is solved and signs (F1:16, F2:282 维修确认单)."""

    accepted: bool = Field(description="The fault is solved, I accept")
    signature_name: str = Field(min_length=1, max_length=120, description="Your name (signature)",
                                json_schema_extra=PERSONAL)


class SurveyInput(GateInput):
    """Satisfaction survey (F1:17, F2:99)."""

    score: int = Field(ge=1, le=5, description="Satisfaction, 1 (poor) to 5 (excellent)")


class FollowUpInput(GateInput):
    """Follow-up visit recorded on 顾客回访记录表 (F2:57-61)."""

    contacted: bool = Field(description="Customer reached")
    visited_on: date = Field(description="Date of the visit or call")
    notes: str = Field(default="", max_length=2000, description="What the customer said (even if nothing)")


class SpareUnitInput(GateInput):
    """Whether a spare unit was lent while the repair is not done (004:355: free, within 24 h)."""

    lent: bool = Field(description="Spare unit (备用机/件) lent to the customer")
    spare_serial_number: str = Field(default="", max_length=80, description="Serial number of the spare unit")
    reason: str = Field(default="", max_length=2000, description="Why not (e.g. the customer declined)")

    @model_validator(mode="after")
    def _serial_or_reason(self) -> SpareUnitInput:
        if self.lent and not self.spare_serial_number.strip():
            raise ValueError("give the spare unit's serial number")
        if not self.lent and not self.reason.strip():
            raise ValueError("say why no spare unit was lent")
        return self


class ImprovementInput(GateInput):
    """What the supervisor did about a low satisfaction score (F2:283-284 根据客户反馈…进行改进和优化)."""

    contacted_customer: bool = Field(description="Customer contacted about the score")
    improvement: str = Field(min_length=1, max_length=2000, description="Cause found and improvement decided")


# --- complaint handling (spec 000-002 §5, 004:407-485) ------------------------------------------


class FirstResponseInput(GateInput):
    """The handler's first answer to the customer, within 24 h (F1:222); the handler is recorded."""

    response: str = Field(min_length=1, max_length=2000, description="What the customer was told")
    needs_joint_inspection: bool = Field(default=False, description="Joint on-site inspection with quality (004:463)")


class VerificationInput(GateInput):
    """Initial verification within 3 working days (F1:213): is the complaint substantiated?"""

    substantiated: bool = Field(description="Complaint substantiated (属实)")
    findings: str = Field(min_length=1, max_length=2000, description="What the verification found")
    immediately_solvable: bool = Field(default=True, description="Solvable at once (else a timetable, F1:215)")


class DeputyReviewInput(GateInput):
    """The deputy GM reviews (核阅) a serious grievance or forwards it (核转) to the GM (004:407)."""

    forward_to_gm: bool = Field(default=False, description="Forward to the GM (核转)")
    instruction: str = Field(min_length=1, max_length=2000, description="Review and instruction")


class JointInspectionInput(GateInput):
    """Joint on-site inspection (会勘) by sales and quality (004:463): one report per party."""

    inspected_on: date = Field(description="Date of the inspection")
    report: str = Field(min_length=1, max_length=2000, description="Inspection report")


class QualityInspectionInput(GateInput):
    """Quality's part of the joint inspection, or word that it cannot go in time (004:463: the GM appoints)."""

    attended: bool = Field(description="Quality went with sales (no: the GM appoints someone)")
    inspected_on: date | None = Field(default=None, description="Date of the inspection")
    report: str = Field(default="", max_length=2000, description="Inspection report")

    @model_validator(mode="after")
    def _report_when_attended(self) -> QualityInspectionInput:
        if self.attended and (self.inspected_on is None or not self.report.strip()):
            raise ValueError("an attended inspection needs its date and report")
        return self


class InspectionAppointmentInput(GateInput):
    """The GM appoints who inspects when quality cannot go in time (004:463)."""

    appointee: str = Field(min_length=1, max_length=60, description="Staff id of the person appointed")


class ComplaintAcceptanceInput(GateInput):
    """The GM's office accepts (受理) the 客户抱怨处理表: the 5/7-day closing limit starts (004:485)."""


class QualityReportInput(GateInput):
    """Quality's report to the GM within 3 days of the investigation (004:465)."""

    report: str = Field(min_length=1, max_length=2000, description="Investigation report")


class ResponsibilityInput(GateInput):
    """Quality assigns responsibility and drafts the handling method (004:453, 004:467-469)."""

    responsible: Literal["our_quality", "our_service", "customer", "supplier", "transport", "force_majeure"] = Field(
        description="Responsibility"
    )
    handling_method: str = Field(min_length=1, max_length=2000, description="Handling method")
    track_improvement: bool = Field(default=True, description="Track the improvement (human negligence: no, 004:469)")


class CountermeasuresInput(GateInput):
    """Technical analyses the cause and drafts countermeasures and the solution (004:467)."""

    cause: str = Field(min_length=1, max_length=2000, description="Root cause")
    countermeasures: str = Field(min_length=1, max_length=2000, description="Countermeasures")
    solution: Literal["none", "repair", "return", "exchange", "compensation"] = Field(
        description="Solution for the customer"
    )
    timetable: str = Field(default="", max_length=300, description="Timetable when not immediate (F1:215)")
    amount: float = Field(default=0, ge=0, le=10_000_000, description="Compensation in CNY (approved by amount)")


class GMInstructionInput(GateInput):
    """The GM's instruction (批示) on quality's investigation report (004:465)."""

    acknowledged: bool = Field(description="Report read, proceed")
    instruction: str = Field(default="", max_length=2000, description="Instruction")


class SignOffInput(GateInput):
    """The customer accepts or rejects the conclusion (004:473); a rejection reopens a new record."""

    accept: bool = Field(description="I accept the conclusion")
    reason: str = Field(default="", max_length=2000, description="Why not (if you reject)")


class ComplaintVisitInput(FollowUpInput):
    """The visit to a complaining customer by the technical head or the person they sent (004:411)."""

    visited_by: str = Field(min_length=1, max_length=120, description="Who went: the head or the person sent")


class GoodsFactsInput(GateInput):
    """What a return or exchange decided on a complaint needs (models/goods.py GoodsClaim), from the returns group."""

    delivered_on: date = Field(description="Delivery date")
    order_number: str = Field(min_length=1, max_length=60, description="Order number")
    quantity: int = Field(default=1, ge=1, le=10_000, description="Quantity")
    claim_reason: Literal["defect", "no_reason", "not_as_described", "transit_damage", "still_failing"] = Field(
        description="Reason for the return / exchange")
    unused: bool = Field(default=False, description="Goods unused")
    packaging_complete: bool = Field(default=True, description="Packaging, accessories, gifts, manual complete")
    purchase_voucher: str = Field(default="", max_length=500, description="Purchase voucher (reference)")
    photo: str = Field(default="", max_length=500, description="Photos of the problem (reference)")
    delivery_confirmation: str = Field(default="", max_length=500, description="Delivery confirmation (reference)")
    invoice: str = Field(default="", max_length=500, description="Invoice (reference)")


# --- returns and exchanges (spec 000-002 §3-§4, 三包) -------------------------------------------


class GoodsReviewInput(GateInput):
    """The returns group verifies the request's facts against the rules (F1:93, F1:314-316)."""

    voucher_valid: bool = Field(description="Legal purchase voucher seen, not forged (F1:316(3))")
    packaging_complete: bool = Field(description="Packaging, accessories, gifts, manual complete (F1:316(2))")
    unused: bool = Field(default=False, description="Goods unused (F1:314(1))")
    quality_problem: bool = Field(default=False, description="Non-man-made quality problem claimed (F1:315(2))")
    man_made_damage: bool = Field(default=False, description="Man-made damage / soiling (F1:316(2),(4))")
    labels_tampered: bool = Field(default=False, description="Labels, serial or seals torn or altered (F1:316(5))")
    force_majeure: bool = Field(default=False, description="Fire, flood, lightning, accident (F1:316(6))")
    transit_damage_not_refused: bool = Field(default=False, description="Transit damage not refused at delivery")
    not_intact: bool = Field(default=False, description="Returned goods not intact (F1:316(9))")
    needs_repair_instead: bool = Field(default=False, description="The fault needs a repair, not new goods")


class QualityTestInput(GateInput):
    """The quality department tests a claimed defect (F1:316(8))."""

    defect_found: bool = Field(description="A quality defect was found")
    report: str = Field(min_length=1, max_length=2000, description="Test report")


class RefusalReviewInput(GateInput):
    """A refusal is confirmed, or overridden with a recorded reason, before the customer is told."""

    override: bool = Field(description="Override the refusal and grant the request")
    reason: str = Field(min_length=1, max_length=2000, description="Reason (recorded)")


class RemedyChoiceInput(GateInput):
    """The customer chooses among the remedies the law allows (F1:309(二), 三包 ¶1-2)."""

    choice: Literal["return", "exchange", "repair"] = Field(description="Your choice")


class ReturnScheduleInput(GateInput):
    """The return date and refund method told to the customer (F1:318(四))."""

    return_date: date = Field(description="Return / pick-up date")
    refund_method: Literal["original_payment", "bank_transfer", "cash"] = Field(description="Refund method")


class GoodsReceivedInput(GateInput):
    """The returned goods arrive in the warehouse (F1:94 退货手续)."""

    received: bool = Field(description="Goods received")
    intact: bool = Field(default=True, description="Goods intact (F1:316(9))")


class RefundInput(GateInput):
    """Finance confirms the refund (F1:94 退款给客户)."""

    refunded: bool = Field(description="Refund paid")
    amount: float = Field(ge=0, le=10_000_000, description="Amount refunded (CNY)")
    reference: str = Field(min_length=1, max_length=120, description="Payment reference")


class ReplacementShippedInput(GateInput):
    """The replacement leaves the warehouse (exchange)."""

    new_serial_number: str = Field(min_length=1, max_length=80, description="Serial number of the replacement")
    shipped_on: date = Field(description="Shipping date")


# --- overseas and domestic off-site repair dispatch (spec 000-002 §6, 002:400-477) ------------------------------

class DailyReportInput(GateInput):
    """The team leader's report of one day on site: plan, progress, repair data (002:460 每天的进程、维修数据)."""

    progress: str = Field(min_length=1, max_length=4000, description="Today's progress (每天的进程)")
    repair_data: str = Field(default="", max_length=4000, description="Repair data (维修数据)")
    done: bool = Field(default=False, description="The repair is done: no more daily reports")


class DispatchVoiceInput(GateInput):
    """One required voice on the repair method (002:425-427: sales with quality, production engineering, R&D)."""

    method: Literal["on_site", "ship_back", "local_agency"] = Field(
        description="Staff on site / ship back to the factory / a local agency")


class FeeAgreementInput(GateInput):
    """What sales agreed with the customer for a paid repair (002:428): fee standard, settlement, quality."""

    fee: float = Field(ge=0, le=10_000_000, description="Fee agreed in CNY")
    settlement_method: Literal["cash", "bank_transfer", "monthly_invoice"] = Field(description="Settlement method")
    quality_responsibility: str = Field(min_length=1, max_length=2000,
                                        description="Quality responsibility after the repair")


class DispatchPlanInput(GateInput):
    """Production engineering's analysis of the defective sample and the repair plan (5.5.1, 002:445-448)."""

    sample_analysis: str = Field(min_length=1, max_length=4000, description="Defective sample analysis (with QA, R&D)")
    work_instruction: str = Field(min_length=1, max_length=4000, description="维修作业指导方案")
    team: str = Field(min_length=1, max_length=1000, description="Team list for HR (names, passports)")


class MaterialReadyInput(GateInput):
    """One material item is ready (stock picked by PMC, bought, or supplied by the customer; 5.5.2)."""

    ready: bool = Field(description="Ready")


class CarriageInput(GateInput):
    """Hand-carried or shipped, with the boarding and customs check (5.5.3-5.5.4)."""

    mode: Literal["hand_carry", "shipped"] = Field(description="Hand-carried or shipped")
    checked: bool = Field(description="Boarding / customs rules checked")


class ToolsListInput(GateInput):
    """售后维修工具/检测仪器备品清单 confirmed with the customer (5.5.5)."""

    tools: str = Field(min_length=1, max_length=4000, description="Tools and test instruments")
    confirmed_with_customer: bool = Field(description="Confirmed with the customer")


class PurchaseEtaInput(GateInput):
    """PMC's purchases arrived, or when they will (5.5.6)."""

    arrived: bool = Field(description="Everything bought has arrived")
    eta: date | None = Field(default=None, description="Expected arrival")


class VisaInput(GateInput):
    """HR has the team's visas (5.5.1)."""

    granted: bool = Field(description="Visas granted")


class DepartureInput(GateInput):
    """Departure agreed with the customer; flights and hotel booked by HR (5.5.7)."""

    departs_on: date = Field(description="Departure date")
    bookings: str = Field(min_length=1, max_length=2000, description="Flights and hotel")


class ImprovementMeasuresInput(GateInput):
    """Quality's improvement measures; the incident report when the company is at fault (5.7, 002:465-466)."""

    measures: str = Field(min_length=1, max_length=4000, description="Improvement measures")
    company_at_fault: bool = Field(description="The company is at fault")
    incident_report: str = Field(default="", max_length=8000, description="事故调查处理报告 (when at fault)")

    @model_validator(mode="after")
    def _report_when_at_fault(self) -> ImprovementMeasuresInput:
        if self.company_at_fault and not self.incident_report.strip():
            raise ValueError("the incident investigation report is required when the company is at fault (5.7)")
        return self


class CostStatementInput(GateInput):
    """Cost items A-D collected by sales (5.8, 002:467-473), in CNY."""

    a_material: float = Field(ge=0, le=100_000_000, description="A: purchased material, tools, equipment")
    b_travel: float = Field(ge=0, le=100_000_000, description="B: travel, lost time, meals and lodging")
    c_depreciation: float = Field(ge=0, le=100_000_000, description="C: depreciation of equipment and tools")
    d_service_fee: float = Field(ge=0, le=100_000_000, description="D: service fee the customer owes")


class LocalAgencyInput(GateInput):
    """A local agency able to repair (委托当地具备维修能力的机构, 002:426) did the repair: who, and its result."""

    agency: str = Field(min_length=1, max_length=300, description="The agency entrusted (name, place)")
    result: str = Field(min_length=1, max_length=4000, description="What the agency did and found")
    repaired: bool = Field(description="The agency repaired the product")


class DispatchFactsInput(GateInput, DispatchDestination):
    """Where a repair's off-site dispatch goes (4.1 营销中心/国内事业部 assess abroad or at home, 002:411): the
    dispatch's own destination fields and rules, so a bad answer is refused here, before any case is opened."""


# --- recall (召回): flows/recall.py -------------------------------------------------------------------------


class RecallInvestigationInput(GateInput):
    """Quality's investigation and assessment of the reported defect (调查评估, regulations.md)."""

    findings: str = Field(min_length=1, max_length=4000, description="Investigation and assessment findings")
    confirmed: bool = Field(description="A defect that calls for a recall is confirmed")


class RecallDecisionInput(GateInput):
    """Whether to recall, its class and its market, decided by quality and then the GM (issue 12)."""

    recall: bool = Field(description="Recall the affected units")
    recall_class: Literal["I", "II", "III"] = Field(default="III", description="Recall class (I most severe)")
    market: str = Field(default="CN", min_length=1, max_length=10, description="Market (policy recall.markets)")

    @model_validator(mode="after")
    def _known_market(self) -> RecallDecisionInput:
        # An unknown market is refused with the answer (nothing recorded), not found later by the flow.
        from aftersales.config.policy import get_policy
        from aftersales.errors import ConfigurationError

        if self.recall:
            try:
                get_policy().recall.market(self.market)
            except ConfigurationError as exc:
                raise ValueError(str(exc)) from None
        return self


class RecallPlanInput(GateInput):
    """Quality's recall plan (召回计划): the remedy per unit and how the recall is carried out."""

    plan: str = Field(min_length=1, max_length=4000, description="Recall plan")
    remedy: Literal["repair", "exchange", "return"] = Field(default="repair", description="Remedy per unit")


class RegulatorSubmissionInput(GateInput):
    """The regulator's reports (event report, investigation and assessment report, plan) submitted."""

    submitted_by: str = Field(min_length=1, max_length=120, description="Submitted by")
    submitted_on: date = Field(description="Submitted on")
    reference: str = Field(min_length=1, max_length=120, description="Regulator's reference")


class RecallAcknowledgementsInput(GateInput):
    """The aggregate wait on acknowledgements; the sweep answers it (share reached or deadline passed)."""

    acknowledged: int = Field(default=0, ge=0, description="Customers who acknowledged")
    notified: int = Field(default=0, ge=0, description="Customers notified")
    reason: str = Field(default="", max_length=200, description="Why the wait ended")


class RecallRemediesInput(GateInput):
    """Units brought in for their remedy since the last pass; each opens its child case."""

    serials: str = Field(default="", max_length=20000, description="Serial numbers, separated by spaces or commas")
    remedy: Literal["plan", "repair", "exchange", "return"] = Field(default="plan", description="Remedy")
    finished: bool = Field(default=False, description="No more units to remedy")


class RecallCompensationInput(GateInput):
    """The remedial compensation proposed (补偿); 0 means none."""

    amount: float = Field(default=0, ge=0, le=100_000_000, description="Compensation (CNY)")
    basis: str = Field(default="", max_length=2000, description="Basis of the compensation")


class HandOverInput(GateInput):
    """Recalled units handed over to the original manufacturer (F0:19)."""

    manufacturer: str = Field(min_length=1, max_length=200, description="Original manufacturer")
    units: int = Field(ge=0, description="Units handed over")
    handed_over_on: date = Field(description="Handed over on")
    reference: str = Field(default="", max_length=120, description="Delivery note / reference")


class EffectivenessInput(GateInput):
    """The effectiveness check: level A (all consignees) to E (none) and the sample re-contacted."""

    level: Literal["A", "B", "C", "D", "E"] = Field(description="Effectiveness check level (A all ... E none)")
    sample_size: int = Field(ge=0, description="Consignees re-contacted")
    sample_aware: int = Field(ge=0, description="Of those, aware of the recall")
    sample_remedied: int = Field(ge=0, description="Of those, remedied")

    @model_validator(mode="after")
    def _sample_adds_up(self) -> EffectivenessInput:
        if self.sample_aware > self.sample_size or self.sample_remedied > self.sample_size:
            raise ValueError("aware and remedied cannot exceed the sample re-contacted")
        return self


class RecallClosingInput(GateInput):
    """The closing report's own facts (the counts come from the ledger)."""

    disposal: str = Field(min_length=1, max_length=2000, description="Disposal of the recalled units")
    completed_on: date = Field(description="Completion date")
