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

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import select

from aftersales.config.policy import get_policy
from aftersales.config.staff import get_staff
from aftersales.errors import ConfigurationError
from aftersales.messaging.delivery import already_sent
from aftersales.messaging.notices import notice
from aftersales.messaging.recipients import role_recipients
from aftersales.procedures.registry import Problem, Procedure, register
from aftersales.rules.reserve import Expiry, Shortfall, check_reserve
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Case
from models.dispatch import DispatchDetails


def facts_required(request: Any, facts: DispatchDetails | None) -> list[Problem]:
    """A dispatch cannot run without where it goes (the `dispatch` block), and the case it serves, when named,
    must be a repair or a complaint that exists (a dispatch opened from it is linked to it)."""
    if facts is None:
        return [(["dispatch"], "a dispatch needs its dispatch block (site, overseas, country, time zone)")]
    if facts.from_case is None:
        return []
    with session_scope() as session:
        served = session.exec(select(Case).where(Case.number == facts.from_case)).first()
    if served is None or served.procedure not in ("repair", "complaint"):
        return [(["dispatch", "from_case"], "no repair or complaint case with this number")]
    return []


DISPATCH = register(Procedure(
    name="dispatch", prefix="DS", flow="flows/dispatch.py:dispatch", deployment="dispatch/dispatch",
    policy_section="dispatch", facts_key="dispatch", facts_model=DispatchDetails, intake_checks=(facts_required,),
    report_roles=("after_sales_manager",),
    description="Overseas and domestic off-site repair dispatch (外出维修): spec §6, 002:400-477",
))


class ReservePolicy(BaseModel):
    """policy.yaml `dispatch.reserve` and `dispatch.passport_warning_days`."""

    reserve: dict[str, int] = Field(default_factory=dict, description="Passport holders needed per department")
    passport_warning_days: int = Field(default=90, ge=0, le=3650)


@dataclass
class ReserveReport:
    """What one check of the standing reserve found and whom it told."""

    short: list[Shortfall] = field(default_factory=list)
    expiring: list[Expiry] = field(default_factory=list)
    told: int = 0


def check_standing_reserve(today: date | None = None) -> ReserveReport:
    """Check the passport-holding reserve (F2:420-421) against the staff directory and tell HR, once per finding:
    a department short (again when its count changes), a reserve passport expiring within the warning period."""
    try:
        settings = ReservePolicy.model_validate(get_policy().section("dispatch").model_extra or {})
    except ValidationError as exc:
        raise ConfigurationError.from_validation(exc, file="policy.yaml", what="dispatch section") from exc
    minimums, warning_days = settings.reserve, settings.passport_warning_days
    day = today or clock.now().astimezone(ZoneInfo(get_policy().calendar.timezone)).date()
    short, expiring = check_reserve(get_staff().people, minimums, day, warning_days)
    report = ReserveReport(short, expiring)
    hr = role_recipients(["hr_admin"])
    findings = [(f"reserve:short:{gap.department}:{gap.have}:{gap.need}", "dispatch.reserve_short",
                 {"problems": f"{gap.department}: {gap.have} of {gap.need}"}) for gap in short]
    findings += [(f"reserve:passport:{soon.person_id}:{soon.expires.isoformat()}", "dispatch.passport_expiring",
                  {"name": soon.name, "department": soon.department, "expires": soon.expires.isoformat()})
                 for soon in expiring]
    for key, text, context in findings:
        if all(already_sent(f"{key}:{person.person_id}") for person in hr):
            continue  # told already (a shortfall again only when its count changes)
        report.told += notice(None, key, hr, None, text, context)
    return report
