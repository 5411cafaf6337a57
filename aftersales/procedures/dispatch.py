"""Off-site repair dispatch (外出维修: overseas 5.5, domestic 5.6): declaration; spec §6, 002:400-477.

Flow: flows/dispatch.py · facts: models/dispatch.py · gate inputs: models/inputs.py (dispatch block) ·
waits in parallel and daily reports: aftersales/gates/groups.py, aftersales/gates/series.py ·
texts: templates/notices/*.yaml `dispatch.*` · policy: policy.yaml `dispatch:` and gates `dispatch.*` ·
deployment: prefect.yaml `dispatch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from aftersales.config.policy import get_policy
from aftersales.config.staff import get_staff
from aftersales.messaging.notices import notice
from aftersales.messaging.recipients import role_recipients
from aftersales.procedures.registry import Problem, Procedure, register
from aftersales.rules.reserve import Expiry, Shortfall, check_reserve
from aftersales.runtime import clock
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


@dataclass
class ReserveReport:
    """What one check of the standing reserve found and whom it told."""

    short: list[Shortfall] = field(default_factory=list)
    expiring: list[Expiry] = field(default_factory=list)
    told: int = 0


def check_standing_reserve(today: date | None = None) -> ReserveReport:
    """Check the passport-holding reserve (F2:420-421) against the staff directory and tell HR, once per finding:
    a department short (again when its count changes), a reserve passport expiring within the warning period."""
    section = getattr(get_policy(), "dispatch", None) or {}
    minimums = {str(k): int(v) for k, v in (section.get("reserve") or {}).items()}
    warning_days = int(section.get("passport_warning_days", 90))
    day = today or clock.now().astimezone(ZoneInfo(get_policy().calendar.timezone)).date()
    short, expiring = check_reserve(get_staff().people, minimums, day, warning_days)
    report = ReserveReport(short, expiring)
    hr = role_recipients(["hr_admin"])
    for gap in short:
        report.told += notice(None, f"reserve:short:{gap.department}:{gap.have}:{gap.need}", hr, None,
                              "dispatch.reserve_short", {"problems": f"{gap.department}: {gap.have} of {gap.need}"})
    for soon in expiring:
        report.told += notice(None, f"reserve:passport:{soon.person_id}:{soon.expires.isoformat()}", hr, None,
                              "dispatch.passport_expiring", {"name": soon.name, "department": soon.department,
                                                             "expires": soon.expires.isoformat()})
    return report
