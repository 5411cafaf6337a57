"""Recall pages: a customer acknowledges a notice from its link; staff read the recall's ledger (HTML, CSV)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from aftersales.config.staff import Person
from aftersales.errors import NotFound
from aftersales.gates.tokens import LinkRefused
from aftersales.recall import acks
from aftersales.recall.ledger import ledger, ledger_csv
from aftersales.rules.recall import STATES
from aftersales.web.auth import Caller, current_staff, may_read_case, operations_staff
from aftersales.web.language import accepted_language
from aftersales.web.pages import render

router = APIRouter(include_in_schema=False)
RecallNumber = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
REFUSED = {"forged": 403, "expired": 410}


def _lang(request: Request) -> str:
    return accepted_language(request.headers.get("accept-language", ""))


@router.get("/recall/ack", response_class=HTMLResponse)
def ack_page(request: Request, t: str = "") -> HTMLResponse:
    """The link in a recall notice: a button that acknowledges (a GET changes nothing: mail scanners open links)."""
    lang = _lang(request)
    try:
        claims = acks.read_link(t)
    except LinkRefused as exc:
        return render("refused.html", REFUSED.get(exc.reason, 403), reason=exc.reason, message=str(exc), lang=lang)
    return render("recall_ack.html", lang=lang, recall=claims.recall, token=t, done=None)


@router.post("/recall/ack", response_class=HTMLResponse)
def ack(request: Request, t: Annotated[str, Form(max_length=2000)] = "") -> HTMLResponse:
    """Record the acknowledgement: one row update; the recall flow counts them, nothing is resumed."""
    lang = _lang(request)
    try:
        done = acks.acknowledge(t)
    except LinkRefused as exc:
        return render("refused.html", REFUSED.get(exc.reason, 403), reason=exc.reason, message=str(exc), lang=lang)
    except NotFound as exc:
        return render("refused.html", 404, reason="not_found", message=str(exc), lang=lang)
    return render("recall_ack.html", lang=lang, recall=done.recall, token="", done=done)


@router.get("/recalls/{recall}", response_class=HTMLResponse, dependencies=[Depends(operations_staff)])
def recall_page(request: Request, recall: RecallNumber) -> HTMLResponse:
    """The recall's ledger: units by state and batch, completion, notices in trouble."""
    book = ledger(recall)
    if not book.whole.total and not book.outbox:
        raise NotFound(f"no recall {recall!r}")
    return render("recall.html", lang=_lang(request), book=book, states=STATES)


@router.get("/recalls/{recall}/ledger.csv", dependencies=[Depends(operations_staff)])
def recall_csv(recall: RecallNumber) -> Response:
    """The ledger as CSV (one line per batch and one for the whole recall)."""
    book = ledger(recall)
    if not book.whole.total:
        raise NotFound(f"no recall {recall!r}")
    return Response(ledger_csv(book), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="recall-{recall}-ledger.csv"'})


class QualitySafetyReport(BaseModel):
    """A quality-safety report raised on a case (F1:200): the hazard and the units it may concern."""

    model_config = ConfigDict(extra="forbid")
    hazard: str = Field(min_length=1, max_length=2000)
    manufacturer: str = Field(default="", max_length=200)
    selection: dict[str, Any]


@router.post("/api/cases/{number}/quality-safety-report", status_code=201, include_in_schema=True)
def quality_safety_report(number: str, report: QualitySafetyReport,
                          person: Person = Depends(current_staff)) -> JSONResponse:
    """Open the recall linked to this case (once) and start it; 422 with the reason and nothing opened when the
    selection is unusable or finds no registered unit. For staff who may read the case (who hold or held one of
    its steps, or operations)."""
    may_read_case(number, Caller(person=person))
    from pydantic import ValidationError

    from aftersales.recall.case import report_quality_safety

    try:
        child = report_quality_safety(number, report.hazard, report.selection, report.manufacturer)
    except (ValidationError, ValueError) as exc:
        return JSONResponse(status_code=422, content={"detail": [{"loc": ["body", "selection"],
                                                                  "type": "value_error", "msg": str(exc)}]})
    return JSONResponse(status_code=201, content={"number": child.number, "procedure": "recall",
                                                  "url": f"/api/cases/{child.number}"})
