"""Product recall (召回) and remedial compensation: declaration, intake checks, what the sweep watches.

Flow: flows/recall.py · facts: models/recall_case.py · gate inputs: models/inputs.py (Recall*) · the work outside
gates: aftersales/recall/ (case.py, fanout.py, acks.py, clocks.py, ledger.py) · texts: templates/notices/*.yaml
`recall.*`, templates/forms/recall_*.html · policy: policy.yaml `recall:` and gates `recall.*` · deployment:
prefect.yaml `recall`.
"""

from __future__ import annotations

from typing import Any

from aftersales.procedures.registry import Problem, Procedure, register
from aftersales.recall.case import (
    acknowledgement_waits,
    progress_reports,
    regulatory_clocks,
    remedies_followed,
    status_reports,
)
from models.recall_case import RecallFacts

REPORT_ROLES = ("quality_inspection", "general_manager")


def selection_finds_units(request: Any, facts: Any) -> list[Problem]:
    """A recall must concern registered units of its product: an empty selection is refused at intake."""
    from sqlalchemy import func, select

    from aftersales.recall.outbox import UNITS
    from aftersales.runtime.db import get_engine

    if not isinstance(facts, RecallFacts):
        return []
    selection = facts.selection
    if selection.product_model is None:
        selection = selection.model_copy(update={"product_model": request.product_model})
    with get_engine().connect() as conn:
        found = conn.execute(select(func.count()).select_from(UNITS).where(selection.where())).scalar_one()
    if not found:
        return [(["facts", "selection"], f"no registered unit of {request.product_model} matches the selection "
                                         "(import the sales records first: aftersales units import)")]
    return []


RECALL = register(Procedure(
    name="recall", prefix="RC", flow="flows/recall.py:recall", deployment="recall/recall",
    policy_section="recall", facts_key="recall", facts_model=RecallFacts,
    intake_checks=(selection_finds_units,),
    watchers=(acknowledgement_waits, regulatory_clocks, progress_reports, remedies_followed, status_reports),
    report_roles=REPORT_ROLES,
    description="Product recall and remedial compensation (召回): issue 12, spec §7, regulations.md",
))
