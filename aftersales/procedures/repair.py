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
from aftersales.gates.lifecycle import notify_gate, open_gate
from aftersales.procedures.registry import Procedure, register
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import due, local_text
from models import Case, CaseEvent, Gate

# The steps during which the repair itself is under way (on site / send-in, or the factory-return chain): a case
# waiting on one of them past the limit is "not repaired" in the sense of 004:355.
WORK_GATES = ("repair.execution", "repair.warehouse_receipt", "repair.repair_record", "repair.ageing",
              "repair.qa_test")
SPARE_UNIT_KEY = "spare_unit"


def spare_unit_gates(at: datetime) -> list[int]:
    """Open the spare-unit question once per repair still in work after the limit (004:355), on either path.

    004:355: not fixed within 12 h of the report -> a free spare unit (备用机(件)) within 24 h. The question goes
    to the service engineer (customer service per the ladder) as a gate with no flow run: the flow is suspended
    on its own work gate meanwhile, and the answer (lent? serial? why not?) is kept on the case without resuming
    anything (gates/resume.py record_detached_answer). Reminders and escalation work on it like on any gate.
    """
    policy = get_policy()
    limit = policy.repair.sla.get("spare_unit_after")
    provide_within = policy.repair.sla.get("spare_unit_provided")
    if limit is None:
        return []
    # A few queries for all repairs in work, not a few per gate per minute (benchmarks/README.md).
    with session_scope() as session:
        case_ids = set(session.exec(select(Gate.case_id).where(Gate.status == "waiting",
                                                                col(Gate.kind).in_(WORK_GATES))).all())
        if not case_ids:
            return []
        # The history line is written last, so a sweep cut short after opening the gate sends its request next time.
        asked_before = set(session.exec(select(CaseEvent.case_id).where(
            col(CaseEvent.case_id).in_(case_ids), CaseEvent.key == SPARE_UNIT_KEY)).all())
        in_work = session.exec(select(Case).where(col(Case.id).in_(case_ids - asked_before),
                                                  col(Case.closed_at).is_(None))).all()
    opened: list[int] = []
    for case in in_work:
        assert case.id is not None
        if at < due(policy, case.opened_at, limit):
            continue
        deadline = due(policy, case.opened_at, provide_within) if provide_within is not None else None
        summary = [{"label": "product_model", "value": case.product_model},
                   {"label": "serial_number", "value": case.serial_number or "-"},
                   {"label": "problem_description", "value": case.problem_description},
                   {"label": "reported", "value": local_text(case.opened_at, policy)},
                   {"label": "not repaired after", "value": f"{limit.amount:g} {limit.unit} (004:355)"}]
        gate_id = open_gate(case_id=case.id, key=SPARE_UNIT_KEY, kind="repair.spare_unit",
                            input_model="SpareUnitInput", flow_run_id=None, summary=summary, now=at,
                            deadline_at=deadline)
        notify_gate(gate_id, "request", now=at)
        record_event(case.id, SPARE_UNIT_KEY, "spare_unit",
                     f"not repaired {limit.amount:g} {limit.unit} after the report: spare unit asked of the "
                     "service engineer (004:355)", at=at, data={"gate_id": gate_id})
        opened.append(case.id)
    return opened


def repair_clocks(case: Case) -> list[tuple[str, datetime, datetime, str]]:
    """The resolution clock: 3 working days from the request over all the repair's steps (F1:164, F2:184); none
    when the policy gives each step a fresh resolution time."""
    policy = get_policy()
    limit = policy.repair.sla.get("resolution")
    if policy.repair.resolution_counted_from != "request" or limit is None:
        return []
    reported = datetime.fromisoformat(case.data.get("reported_at") or case.opened_at.isoformat())
    return [("resolution", reported, due(policy, reported, limit), limit.unit)]


REPAIR = register(Procedure(
    name="repair", prefix="RP", flow="flows/repair.py:repair", deployment="repair/repair", policy_section="repair",
    watchers=(spare_unit_gates,), clocks=repair_clocks,
    description="Repair (报修/送修/上门维修, factory-return 返修 with FORM-MA-076/077): spec §2.5, §2.12",
))
