"""Complaint handling with escalation (投诉/客户抱怨): declaration, closing-limit watch, report audience.

Flow: flows/complaint.py · facts: models/complaint.py (客户抱怨处理表) · gate inputs: models/inputs.py ·
statistics: aftersales/rules/complaint_stats.py, aftersales/cases/reports.py, flows/complaint_report.py ·
texts: templates/notices/*.yaml `complaint.*`, templates/messages/*/complaint_report.* ·
policy: policy.yaml `complaint:` and gates `complaint.*` · deployments: prefect.yaml `complaint`, `complaint-report`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from aftersales.cases import store as cases
from aftersales.cases.store import record_event
from aftersales.config.policy import get_policy
from aftersales.errors import ConfigurationError
from aftersales.messaging.notices import notice
from aftersales.messaging.recipients import role_recipients
from aftersales.procedures.registry import Procedure, register
from aftersales.runtime.db import session_scope
from aftersales.sla.clocks import case_clocks
from aftersales.sla.deadlines import due, local_text
from models import Case
from models.complaint import ComplaintDetails

# Quality decides responsibility (004:467) and the GM hears of it: both read the monthly report (004:475).
REPORT_ROLES = ("after_sales_manager", "quality_inspection", "general_manager")


def start_closing_clock(number: str, overseas: bool, accepted_at: datetime) -> str:
    """The closing limit from the GM's office's acceptance (004:485 「自总经理室受理起国内5天国外7天内结案」),
    stored once on the case; returns the ISO deadline."""
    policy = get_policy()
    if policy.complaint is None:
        raise ConfigurationError("policy.yaml: complaint: the section is missing")
    with session_scope() as session:
        existing = cases.get_case(session, number).data.get("close_by")
    if existing:
        return str(existing)
    limit = policy.complaint.close_within_overseas if overseas else policy.complaint.close_within_domestic
    close_by = due(policy, accepted_at, limit).isoformat()
    cases.update_case(number, data={"close_by": close_by, "accepted_at": accepted_at.isoformat(),
                                    "close_unit": limit.unit})
    return close_by


def complaint_clocks(case: Case) -> list[tuple[str, datetime, datetime, str]]:
    """The closing limit once the GM's office accepted the complaint (004:485); it stands still while the
    customer is asked (e.g. to sign the conclusion, 004:473), see aftersales.sla.clocks."""
    close_by, accepted = case.data.get("close_by"), case.data.get("accepted_at")
    if not close_by or not accepted:
        return []
    unit = case.data.get("close_unit") or "natural_days"
    return [("closing", datetime.fromisoformat(accepted), datetime.fromisoformat(close_by), unit)]


def overdue_complaints(at: datetime) -> list[int]:
    """Complaints past their 5/7-day closing limit (004:485), once per case: the overdue reaction that 004:447
    gives quality (「处理时效管理及逾期反应」); the sources do not say what it is, so the roles of
    `complaint.overdue_roles` are told."""
    policy = get_policy()
    roles = list(policy.complaint.overdue_roles) if policy.complaint is not None else list(REPORT_ROLES)
    with session_scope() as session:
        open_complaints = session.exec(select(Case).where(Case.procedure == "complaint",
                                                          col(Case.closed_at).is_(None))).all()
    late: list[int] = []
    for case in open_complaints:
        if not case.data.get("close_by") or case.id is None or at <= datetime.fromisoformat(case.data["close_by"]):
            continue  # the limit moves only later with pauses: not past it, not late
        closing = case_clocks(case, at).get("closing")
        if closing is None or closing.is_paused or at <= closing.deadline:
            continue  # waiting on the customer stops the clock (policy clocks.pause_while_waiting_on_customer)
        close_text = local_text(closing.deadline, policy)
        if not record_event(case.id, "overdue", "overdue", f"not closed by {close_text} (004:485)", at=at):
            continue
        notice(case.id, f"case:{case.id}:overdue", role_recipients(roles), case.number,
               "complaint.overdue", {"close_by": close_text})
        late.append(case.id)
    return late


COMPLAINT = register(Procedure(
    name="complaint", prefix="CP", flow="flows/complaint.py:complaint", deployment="complaint/complaint",
    policy_section="complaint", facts_key="complaint", facts_model=ComplaintDetails,
    watchers=(overdue_complaints,), report_roles=REPORT_ROLES, clocks=complaint_clocks,
    description="Complaint handling with escalation (投诉/客户抱怨处理表): spec §5, 004:407-485",
))
