"""JSON API: open a case (which starts its procedure's flow) and read its state and history."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from aftersales.cases.intake import IntakeRefused, register_case
from aftersales.cases.view import case_view
from aftersales.web.auth import Caller, api_caller, intake_rate_limited, may_read_case
from models import CaseCreate

router = APIRouter(prefix="/api", tags=["cases"])
log = logging.getLogger("aftersales.api")


@router.post("/cases", status_code=201)
def open_case(request: CaseCreate, http: Request, caller: Caller = Depends(api_caller)) -> JSONResponse:
    """Register a case from the §1.3 fields and start its flow; invalid input gets 422 and stores nothing.

    An intake key opens cases of its own channel only; keys and addresses are rate limited (429, Retry-After).
    """
    limited = intake_rate_limited(http, caller)
    if limited is not None:
        return limited
    if caller.key is not None and request.channel != caller.key.channel:
        return JSONResponse(status_code=403, content={"detail": f"this intake key opens cases of channel "
                                                                f"{caller.key.channel!r}, not {request.channel!r}"})
    try:
        case, started = register_case(request, opened_by=caller.opened_by)
    except IntakeRefused as exc:
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["body", *loc], "type": "value_error", "msg": msg} for loc, msg in exc.problems]})
    body: dict[str, Any] = {"number": case.number, "procedure": case.procedure, "status": case.status,
                            "flow_run_id": started, "flow_started": started is not None,
                            "url": f"/api/cases/{case.number}"}
    return JSONResponse(status_code=201, content=body)


@router.get("/cases/{number}")
def read_case(number: str, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    """State, current gate, deadlines and the full history of a case (to its key, its staff and operations)."""
    may_read_case(number, caller)
    return case_view(number)
