"""The repair procedure (报修/送修/上门维修, factory-return 返修): declaration and what the sweep watches for it.

Flow: flows/repair.py · gate inputs: models/inputs.py (Triage…Acceptance) · rules: aftersales/rules/repair.py,
warranty.py · texts: templates/notices/*.yaml `repair.*`, templates/forms/form_ma_07*.html ·
policy: policy.yaml `repair:` and gates `repair.*` · deployment: prefect.yaml `repair`.
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
from aftersales.sla.deadlines import due, local_text
from models import Case, CaseEvent, Gate


def spare_unit_alerts(at: datetime) -> list[int]:
    """Offer a spare unit once when a repair is still not done after the policy's time (PRODUCT.md: 12 h)."""
    policy = get_policy()
    limit = policy.repair.sla.get("spare_unit_after")
    if limit is None:
        return []
    # Three queries for all repairs in work, not a few per gate per minute (benchmarks/README.md).
    with session_scope() as session:
        case_ids = set(session.exec(select(Gate.case_id).where(Gate.status == "waiting",
                                                                Gate.kind == "repair.execution")).all())
        if not case_ids:
            return []
        in_work = session.exec(select(Case).where(col(Case.id).in_(case_ids))).all()
        alerted_before = set(session.exec(select(CaseEvent.case_id).where(
            col(CaseEvent.case_id).in_(case_ids), CaseEvent.key == "spare_unit")).all())
    alerted: list[int] = []
    for case in in_work:
        assert case.id is not None
        if case.id in alerted_before:
            continue
        due_at = due(policy, case.opened_at, limit)
        if at < due_at or not record_event(case.id, "spare_unit", "spare_unit",
                                           f"not repaired {limit.amount:g} {limit.unit} after the report: "
                                           "offer the customer a spare unit", at=at):
            continue
        notice(case.id, f"case:{case.id}:spare_unit", role_recipients(["service_engineer", "customer_service"]),
               case.number, "repair.spare_unit", {"product_model": case.product_model,
                                                  "due": local_text(due_at, policy)})
        alerted.append(case.id)
    return alerted


REPAIR = register(Procedure(
    name="repair", prefix="RP", flow="flows/repair.py:repair", deployment="repair/repair", policy_section="repair",
    watchers=(spare_unit_alerts,),
    description="Repair (报修/送修/上门维修, factory-return 返修 with FORM-MA-076/077): spec §2.5, §2.12",
))
