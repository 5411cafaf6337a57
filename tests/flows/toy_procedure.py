"""A procedure that lives only in the tests: it proves a procedure arrives as its own module set.

Declared here (facts model, intake check, policy defaults, gate input, flow), registered through
AFTERSALES_PROCEDURE_MODULES, deployed by the test: no platform module names it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from aftersales.procedures.registry import Problem, Procedure, register
from models.case import CaseSnapshot
from models.inputs import GateInput
from models.requests import CaseRef
from tasks.gates import ask
from tasks.records import attach_flow_run, close_case, load_case, record_step


class Wish(BaseModel):
    """The typed facts of a toy case: the request block `wish`."""

    text: str = Field(min_length=1, max_length=200)
    size: int = Field(ge=1, le=10)


class GrantInput(GateInput):
    """Customer service grants or refuses the wish."""

    granted: bool = Field(description="Granted")


def no_forbidden_wish(request: Any, wish: Wish | None) -> list[Problem]:
    """An intake check that needs no field type: a rule of the procedure itself."""
    return [(["wish", "text"], "that wish is forbidden")] if wish is not None and wish.text == "forbidden" else []


@flow(name="toy", persist_result=True)
def toy(ref: CaseRef) -> str:
    """Open, one gate, close."""
    case: CaseSnapshot[Wish] = load_case(ref.case_number, Wish)
    attach_flow_run(case.number)
    record_step(case.id, "wished", "registered", f"wish {case.facts.text!r} of size {case.facts.size}")
    answer = ask(case, "grant", "toy.grant", GrantInput, [{"label": "wish", "value": case.facts.text}])
    return close_case(case.number, "granted" if answer.granted else "refused", "toy case closed")


TOY = register(Procedure(
    name="toy", prefix="TY", flow="tests/flows/toy_procedure.py:toy", deployment="toy/toy", policy_section="toy",
    facts_key="wish", facts_model=Wish, intake_checks=(no_forbidden_wish,),
    policy_defaults={"toy": {"sla": {"grant": {"amount": 4, "unit": "working_hours"}}},
                     "gates": {"toy.grant": {"role": "customer_service", "deadline": "grant"}}},
))
