"""Complaint handling with escalation (投诉/客户抱怨): declaration, closing-limit watch, report audience.

Flow: flows/complaint.py · facts: models/complaint.py (客户抱怨处理表) · gate inputs: models/inputs.py ·
statistics: aftersales/rules/complaint_stats.py, aftersales/cases/reports.py, flows/complaint_report.py ·
texts: templates/notices/*.yaml `complaint.*`, templates/messages/*/complaint_report.* ·
policy: policy.yaml `complaint:` and gates `complaint.*` · deployments: prefect.yaml `complaint`, `complaint-report`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from aftersales.cases.store import record_event
from aftersales.config.policy import get_policy
from aftersales.messaging.notices import notice
from aftersales.messaging.recipients import role_recipients
from aftersales.procedures.registry import Procedure, register
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import local_text
from models import Case
from models.complaint import ComplaintDetails

# Quality decides responsibility (004:467) and the GM hears of it: both read the monthly report (004:475).
REPORT_ROLES = ("after_sales_manager", "quality_inspection", "general_manager")


def overdue_complaints(at: datetime) -> list[int]:
    """Complaints past their 5/7-day closing limit (004:485): the overdue reaction (004:447), once per case."""
    policy = get_policy()
    with session_scope() as session:
        open_complaints = session.exec(select(Case).where(Case.procedure == "complaint",
                                                          col(Case.closed_at).is_(None))).all()
    late: list[int] = []
    for case in open_complaints:
        close_by = case.data.get("close_by")
        if not close_by or at <= datetime.fromisoformat(close_by) or case.id is None:
            continue
        close_text = local_text(datetime.fromisoformat(close_by), policy)
        if not record_event(case.id, "overdue", "overdue", f"not closed by {close_text} (004:485)", at=at):
            continue
        notice(case.id, f"case:{case.id}:overdue", role_recipients(list(REPORT_ROLES)), case.number,
               "complaint.overdue", {"close_by": close_text})
        late.append(case.id)
    return late


COMPLAINT = register(Procedure(
    name="complaint", prefix="CP", flow="flows/complaint.py:complaint", deployment="complaint/complaint",
    policy_section="complaint", facts_key="complaint", facts_model=ComplaintDetails,
    watchers=(overdue_complaints,), report_roles=REPORT_ROLES,
    description="Complaint handling with escalation (投诉/客户抱怨处理表): spec §5, 004:407-485",
))
