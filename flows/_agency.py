"""A repair entrusted to a local agency (委托当地具备维修能力的机构, 002:426): shared by repair and dispatch."""

from __future__ import annotations

from typing import Any

from models.case import CaseSnapshot
from models.inputs import LocalAgencyInput
from tasks.gates import ask
from tasks.records import record_step, set_case


def entrust_local_agency(case: CaseSnapshot[Any], key: str, kind: str,
                         summary: list[dict[str, str]]) -> LocalAgencyInput:
    """Ask who the agency was and what it did; the case keeps both (its record names who repaired it)."""
    agency = ask(case, key, kind, LocalAgencyInput, summary)
    outcome = "repaired" if agency.repaired else "not repaired"
    record_step(case.id, key, "local_agency", f"local agency {agency.agency}: {outcome} — {agency.result}",
                data=agency.model_dump(mode="json"))
    set_case(case.number, data={"local_agency": {"agency": agency.agency, "result": agency.result,
                                                 "repaired": agency.repaired}})
    return agency
