"""JSON API: open a case (which starts its procedure's flow) and read its state and history."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aftersales.cases.intake import IntakeRefused, register_case
from aftersales.cases.view import case_view
from models import CaseCreate

router = APIRouter(prefix="/api", tags=["cases"])
log = logging.getLogger("aftersales.api")


@router.post("/cases", status_code=201)
def open_case(request: CaseCreate) -> JSONResponse:
    """Register a case from the §1.3 fields and start its flow; invalid input gets 422 and stores nothing."""
    try:
        case, started = register_case(request)
    except IntakeRefused as exc:
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["body", *loc], "type": "value_error", "msg": msg} for loc, msg in exc.problems]})
    body: dict[str, Any] = {"number": case.number, "procedure": case.procedure, "status": case.status,
                            "flow_run_id": started, "flow_started": started is not None,
                            "url": f"/api/cases/{case.number}"}
    return JSONResponse(status_code=201, content=body)


@router.get("/cases/{number}")
def read_case(number: str) -> dict[str, Any]:
    """State, current gate, deadlines and the full history of a case."""
    return case_view(number)
