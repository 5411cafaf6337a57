"""Off-site repair dispatch (外出维修: overseas 5.5, domestic 5.6): declaration; spec §6, 002:400-477.

Flow: flows/dispatch.py · facts: models/dispatch.py · gate inputs: models/inputs.py (dispatch block) ·
waits in parallel and daily reports: aftersales/gates/groups.py, aftersales/gates/series.py ·
texts: templates/notices/*.yaml `dispatch.*` · policy: policy.yaml `dispatch:` and gates `dispatch.*` ·
deployment: prefect.yaml `dispatch`.
"""

from __future__ import annotations

from typing import Any

from aftersales.procedures.registry import Problem, Procedure, register
from models.dispatch import DispatchDetails


def facts_required(request: Any, facts: DispatchDetails | None) -> list[Problem]:
    """A dispatch cannot run without where it goes: the `dispatch` block is required."""
    return [(["dispatch"], "a dispatch needs its dispatch block (site, overseas, country, time zone)")] \
        if facts is None else []


DISPATCH = register(Procedure(
    name="dispatch", prefix="DS", flow="flows/dispatch.py:dispatch", deployment="dispatch/dispatch",
    policy_section="dispatch", facts_key="dispatch", facts_model=DispatchDetails, intake_checks=(facts_required,),
    report_roles=("after_sales_manager",),
    description="Overseas and domestic off-site repair dispatch (外出维修): spec §6, 002:400-477",
))
