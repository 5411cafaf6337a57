"""The complaint steps as the sources order and time them (004:407-485, F1:212-213), on a real SQLite database
and SMTP sink with a controlled clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from aftersales.cases import store as cases
from aftersales.config.policy import get_policy
from aftersales.config.settings import Settings
from aftersales.gates import lifecycle, links
from aftersales.messaging.mailsink import MailSink
from aftersales.procedures.complaint import overdue_complaints, start_closing_clock
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import sweep
from models import CaseCreate, Gate, MailboxMessage
from models.case import CaseSnapshot
from models.complaint import ComplaintDetails
from models.inputs import GoodsFactsInput
from tasks.complaint import goods_claim

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Thursday 24 Sep 2026, 10:00; Fri 25 - Sun 27 Sep 2026 are the Mid-Autumn rest days (chinesecalendar).
OPENED = datetime(2026, 9, 24, 10, 0, tzinfo=SHANGHAI)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def new_complaint(category: str = "product_quality", *, overseas: bool = False) -> tuple[int, str]:
    case = cases.open_case(CaseCreate(
        procedure="complaint", customer_name="客户", customer_phone="139", customer_email="c@example.com",
        product_model="PT-3000", problem_description="维修后仍有异响", purchase_date=date(2025, 3, 1),
        complaint=ComplaintDetails(category=category, customer_demand="退款", overseas=overseas),  # type: ignore[arg-type]
    ), now=OPENED)
    assert case.id is not None and case.number is not None
    return case.id, case.number


def open_gate(case_id: int, key: str, kind: str, model: str, when: datetime, role: str | None = None) -> int:
    return lifecycle.open_gate(case_id=case_id, key=key, kind=kind, input_model=model, flow_run_id=None,
                               summary=[], assignee_role=role, now=when)


def gate(gate_id: int) -> Gate:
    with session_scope() as session:
        found = session.get(Gate, gate_id)
        assert found is not None
        return found


def answer(gate_id: int, person: str, fields: dict[str, str], when: datetime) -> None:
    link = links.issue_link(gate_id, person, now=when)
    links.answer_by_link(gate_id, link.split("?t=")[1], fields, now=when)


def test_the_closing_limit_counts_from_the_gm_offices_acceptance_not_from_the_opening(settings: Settings) -> None:
    """004:485 「处理期限自总经理室受理起国内5天国外7天内结案」."""
    case_id, number = new_complaint()
    acceptance = open_gate(case_id, "acceptance", "complaint.acceptance", "ComplaintAcceptanceInput", OPENED)
    assert gate(acceptance).assignee_role == "gm_office"
    answer(acceptance, "liu.yang", {"comment": "受理"}, at(9, 28, 9, 0))  # after the holiday weekend
    accepted = gate(acceptance).answered_at
    assert accepted == at(9, 28, 9, 0)
    close_by = start_closing_clock(number, False, accepted)
    assert datetime.fromisoformat(close_by) == at(10, 3, 9, 0)  # 5 natural days from acceptance
    assert start_closing_clock(number, False, at(9, 29, 9, 0)) == close_by, "set once: a replay keeps it"

    _, overseas = new_complaint(overseas=True)
    assert datetime.fromisoformat(start_closing_clock(overseas, True, accepted)) == at(10, 5, 9, 0)  # 7 days


def test_the_overdue_reaction_waits_for_the_limit_from_acceptance_and_tells_quality(settings: Settings) -> None:
    """004:447 quality owns 「处理时效管理及逾期反应」; the limit of 004:485 runs from acceptance."""
    case_id, number = new_complaint()
    start_closing_clock(number, False, at(9, 28, 9, 0))
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        assert overdue_complaints(at(10, 1, 12, 0)) == [], "5 days from the opening have passed, not from acceptance"
        assert overdue_complaints(at(10, 3, 9, 1)) == [case_id]
        assert overdue_complaints(at(10, 3, 10, 0)) == [], "once per case"
    told = {m.rcpt_to for m in received}
    assert "sun.li@example.com" in told  # quality (004:447)
    assert told == {"sun.li@example.com", "wang.fang@example.com", "liu.yang@example.com"}  # policy overdue_roles


def test_quality_reports_to_the_gm_within_three_days_of_the_investigation_and_climbs_when_late(
        settings: Settings) -> None:
    """004:465 「由质量管理部或有关人员于调查处理后三天内提出报告呈总经理批示」: quality is timed, not the GM."""
    case_id, _ = new_complaint()
    investigated = at(9, 28, 11, 0)  # the verification was answered: the report's gate opens
    report = open_gate(case_id, "quality_report", "complaint.quality_report", "QualityReportInput", investigated)
    assert (gate(report).assignee_role, gate(report).deadline_at) == ("quality_inspection", at(10, 1, 11, 0))
    with MailSink():
        assert sweep(at(10, 1, 10, 59), resend=False, resume=False).escalated == []
        assert sweep(at(10, 1, 11, 1), resend=False, resume=False).escalated == [report]
    assert gate(report).assignee_role == "after_sales_supervisor"  # the complaint ladder's first rung

    instruction = open_gate(case_id, "gm_report", "complaint.gm_report", "GMInstructionInput", at(10, 2, 9, 0))
    assert gate(instruction).assignee_role == "general_manager"
    with MailSink():
        assert instruction not in sweep(at(10, 20, 9, 0), resend=False, resume=False).escalated, "GM: the top"
    assert gate(instruction).rung == 0


def test_verification_goes_to_the_department_the_complaint_relates_to(settings: Settings) -> None:
    """F1:212-213: customer service forwards, the related department verifies (policy verification_roles)."""
    section = get_policy().complaint
    assert section is not None
    default = get_policy().gate("complaint.verification").role
    assert default == "technical"  # 004:435 技术部门 confirms the complaint's grounds
    assert section.verification_role("product_quality", default) == "quality_inspection"  # 004:449
    assert section.verification_role("staff_attitude", default) == "technical"  # 004:423, 004:435
    case_id, _ = new_complaint("product_quality")
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        verification = open_gate(case_id, "verification", "complaint.verification", "VerificationInput", OPENED,
                                 role=section.verification_role("product_quality", default))
        lifecycle.notify_gate(verification, now=OPENED)
    assert gate(verification).assignee_role == "quality_inspection"
    assert [m.rcpt_to for m in received] == ["sun.li@example.com"], "quality, not the customer service handler"


def test_a_goods_solution_needs_the_facts_a_return_needs_before_its_case_opens(settings: Settings) -> None:
    """Item 8: the returns group's facts are checked like the return's intake (its model and declared checks)."""
    _, number = new_complaint()
    case = cases.snapshot(number, ComplaintDetails)
    assert isinstance(case, CaseSnapshot)
    facts = GoodsFactsInput(delivered_on=date(2026, 9, 20), order_number="SO-1", claim_reason="defect",
                            purchase_voucher="DOC-1")
    claim, problems = goods_claim(case, "exchange", facts.model_copy(update={"photo": "IMG-1"}))
    assert problems == [] and claim is not None
    assert claim["order_number"] == "SO-1" and {p["kind"] for p in claim["proofs"]} == {"purchase_voucher", "photo"}
    future = facts.model_copy(update={"delivered_on": date(2999, 1, 1), "photo": "IMG-1"})
    assert goods_claim(case, "return", future)[0] is None
