"""Intake: the checks a new case must pass beyond its types, then registration and the start of its flow."""

from __future__ import annotations

from aftersales.cases.launch import start_flow
from aftersales.cases.store import open_case
from aftersales.errors import RuleViolation
from aftersales.procedures import registry
from aftersales.procedures.registry import Problem
from models import Case, CaseCreate


class IntakeRefused(RuleViolation):
    """A request that may not be stored, with each problem's field path and message."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(loc)}: {msg}" for loc, msg in problems))
        self.problems = problems


def request_problems(request: CaseCreate) -> list[Problem]:
    """What is wrong with a request beyond its types (the procedure's own checks); empty when it may be stored."""
    procedure = registry.get(request.procedure)
    facts = request.typed_facts()
    return [problem for check in procedure.intake_checks for problem in check(request, facts)]


def register_case(request: CaseCreate, *, start: bool = True, opened_by: str | None = None
                  ) -> tuple[Case, str | None]:
    """Store the case (IntakeRefused and nothing stored when a check fails) and start its flow run."""
    problems = request_problems(request)
    if problems:
        raise IntakeRefused(problems)
    case = open_case(request, opened_by=opened_by)
    assert case.number is not None
    return case, start_flow(case.number) if start else None
