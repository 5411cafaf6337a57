"""Tasks of the complaint procedure: its closing clock (004:485)."""

from __future__ import annotations

from prefect import task

from aftersales.cases import store as cases
from aftersales.config.policy import get_policy
from aftersales.errors import ConfigurationError
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import due
from tasks.records import RETRY


@task(**RETRY)  # type: ignore[call-overload]
def set_close_deadline(number: str, overseas: bool) -> str:
    """Start the closing clock at acceptance: 5 days domestic, 7 overseas (004:485); returns the deadline."""
    policy = get_policy()
    if policy.complaint is None:
        raise ConfigurationError("policy.yaml: complaint: the section is missing")
    with session_scope() as session:
        case = cases.get_case(session, number)
        existing = case.data.get("close_by")
    if existing:
        return str(existing)
    limit = policy.complaint.close_within_overseas if overseas else policy.complaint.close_within_domestic
    close_by = due(policy, case.opened_at, limit).isoformat()
    cases.update_case(number, data={"close_by": close_by})
    return close_by
