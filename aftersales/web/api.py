"""JSON API: open a case (which starts its procedure's flow) and read its state and history."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aftersales.cases import store as cases
from aftersales.cases.intake import request_problems
from aftersales.runtime.prefect import AVAILABLE_PROCEDURES, start_flow
from models import CaseCreate

router = APIRouter(prefix="/api", tags=["cases"])
log = logging.getLogger("aftersales.api")

SUPPORTED = AVAILABLE_PROCEDURES


@router.post("/cases", status_code=201)
def open_case(request: CaseCreate) -> JSONResponse:
    """Register a case from the §1.3 fields and start its flow; invalid input gets 422 and stores nothing."""
    if request.procedure not in SUPPORTED:
        return JSONResponse(status_code=422, content={"detail": [{
            "loc": ["body", "procedure"], "type": "not_supported",
            "msg": f"procedure {request.procedure!r} is not available yet; available: {sorted(SUPPORTED)}"}]})
    problems = request_problems(request)
    if problems:
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["body", *loc], "type": "value_error", "msg": msg} for loc, msg in problems]})
    case = cases.open_case(request)
    assert case.number is not None
    started = start_flow(case.number, case.procedure)
    body: dict[str, Any] = {"number": case.number, "procedure": case.procedure, "status": case.status,
                            "flow_run_id": started, "flow_started": started is not None,
                            "url": f"/api/cases/{case.number}"}
    return JSONResponse(status_code=201, content=body)


@router.get("/cases/{number}")
def read_case(number: str) -> dict[str, Any]:
    """State, current gate, deadlines and the full history of a case."""
    return cases.case_view(number)
