"""HTML pages: a gate answered from its link, operations overview, case page, printable forms, demo inbox."""

from __future__ import annotations

import html
import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as FastAPIPath
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from sqlmodel import col, select

from aftersales.access.mode import demo_mode
from aftersales.cases import store as cases
from aftersales.cases.view import case_view
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.config.staff import CUSTOMER, Person, get_staff
from aftersales.errors import AftersalesError, NotFound
from aftersales.gates import links, tokens
from aftersales.gates.quorum import votes
from aftersales.gates.tokens import LinkRefused
from aftersales.messaging.labels import label
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import local_text
from aftersales.sla.recovery import retry_case
from aftersales.web.auth import Caller, current_staff, may_read_case, operations_staff, viewer
from aftersales.web.forms import form_fields, invalid_fields, read_form
from models import Case, Gate, MailboxMessage
from models.inputs import GATE_INPUTS

router = APIRouter(include_in_schema=False)
# An id the database can hold (a larger number would overflow the driver: 422, not 500).
DatabaseId = Annotated[int, FastAPIPath(ge=1, le=2**63 - 1)]
REFUSAL_STATUS = {"forged": 403, "other_gate": 403, "expired": 410, "used": 409, "closed": 409}


@lru_cache(maxsize=2)
def _env(templates_dir: str) -> Environment:
    env = Environment(loader=FileSystemLoader([f"{templates_dir}/web", f"{templates_dir}/forms"]),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined)
    env.globals["label"] = label
    env.globals["local"] = _local_time
    env.globals["viewer"] = viewer
    env.globals["demo_mode"] = _demo_mode
    env.globals["flow_run_url"] = flow_run_url
    return env


def _demo_mode() -> bool:
    """For the navigation: whether to show the inbox link (never fails: error pages render with it)."""
    try:
        return demo_mode()
    except Exception:  # noqa: BLE001 - a broken staff file has its own error page
        return False


def flow_run_url(flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run (settings: prefect_ui_url)."""
    return f"{get_settings().effective_prefect_ui_url}/runs/flow-run/{flow_run_id}" if flow_run_id else None


def _local_time(value: datetime | str | None) -> str:
    """A stored (UTC) time as people read it: the company's time zone."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return local_text(moment, get_policy())


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from templates/web (or templates/forms for printable forms)."""
    page = _env(str(get_settings().templates_dir)).get_template(name).render(**context)
    return HTMLResponse(page, status_code=status)


def _language(person_id: str, case: Case) -> str:
    if person_id == CUSTOMER:
        return case.language
    try:
        return get_staff().person(person_id).language
    except NotFound:
        return case.language


def _refusal(exc: LinkRefused, language: str = "zh") -> HTMLResponse:
    return render("refused.html", REFUSAL_STATUS.get(exc.reason, 403), reason=exc.reason, message=str(exc),
                  lang=language)


def _gate_page(gate: Gate, case: Case, person_id: str, token: str, *, errors: dict[str, str] | None = None,
               values: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    lang = _language(person_id, case)
    staff_view = person_id != CUSTOMER
    policy = get_policy()
    return render(
        "gate.html", status, lang=lang, gate=gate, case=case, token=token, staff_view=staff_view,
        title=label("gates", gate.kind, lang), procedure=label("procedures", case.procedure, lang),
        summary=gate.context.get("summary", []), deadline=local_text(gate.deadline_at, policy),
        fields=form_fields(GATE_INPUTS[gate.input_model], lang), errors=errors or {}, values=values or {},
    )


def _link_language(token: str) -> str:
    """The reader's language when the link is genuine (used, expired...), else Chinese."""
    settings = get_settings()
    try:
        claims = tokens.verify(settings.signing_key(), token, 10 * 365 * 24 * 3600)
        if claims.person_id == CUSTOMER:
            with session_scope() as session:
                gate = session.get(Gate, claims.gate_id)
                case = session.get(Case, gate.case_id) if gate else None
            return case.language if case else "zh"
        return get_staff().person(claims.person_id).language
    except (LinkRefused, NotFound):
        return "zh"


@router.get("/gates/{gate_id}", response_class=HTMLResponse)
def gate_page(gate_id: DatabaseId, t: str = "") -> HTMLResponse:
    """The page a link opens: case summary and the gate's form, or a clear refusal."""
    try:
        gate, case, row = links.check_link(gate_id, t)
    except LinkRefused as exc:
        return _refusal(exc, _link_language(t))
    return _gate_page(gate, case, row.person_id, t)


@router.post("/gates/{gate_id}", response_class=HTMLResponse)
async def gate_submit(gate_id: DatabaseId, request: Request, t: str = Form("")) -> HTMLResponse:
    """Record the answer and resume the flow once; invalid input shows the form again and changes nothing."""
    form = {k: str(v) for k, v in (await request.form()).items() if k != "t"}
    try:
        gate, case, row = links.check_link(gate_id, t)
    except LinkRefused as exc:
        return _refusal(exc, _link_language(t))
    try:
        answer = read_form(GATE_INPUTS[gate.input_model], form)
        links.parse_answer(gate, answer)
    except ValidationError as exc:
        return _gate_page(gate, case, row.person_id, t, errors=invalid_fields(exc), values=form, status=422)
    try:
        # Blocking work (database, Prefect API, waiting for the suspension) runs off the event loop.
        done = await run_in_threadpool(links.answer_by_link, gate_id, t, answer)
    except LinkRefused as exc:
        return _refusal(exc, _language(row.person_id, case))
    lang = _language(row.person_id, case)
    quorum = get_policy().gate(gate.kind).quorum
    vote = None
    if quorum and done.status == "waiting":  # a vote counted, the decision still open
        vote = {"cast": len(votes(gate_id)), "quorum": quorum}
    return render("done.html", lang=lang, gate=done, case=case, title=label("gates", gate.kind, lang), vote=vote)


@router.get("/cases/{number}", response_class=HTMLResponse)
def case_page(number: str, person: Person = Depends(current_staff)) -> HTMLResponse:
    """A case's state and complete history, to operations and to the staff who hold or held one of its steps."""
    try:
        may_read_case(number, Caller(person=person))
        view = case_view(number)
    except NotFound:
        return render("refused.html", 404, reason="not_found", message=f"No case {number}.", lang="en")
    return render("case.html", view=view, retried=None)


@router.post("/cases/{number}/retry", response_class=HTMLResponse)
def case_retry(number: str, person: Person = Depends(operations_staff)) -> HTMLResponse:
    """Operations run a case's flow again after fixing why it could not run; the history names who."""
    try:
        done = retry_case(number, f"{person.name} ({person.id}, case page)")
    except NotFound:
        return render("refused.html", 404, reason="not_found", message=f"No case {number}.", lang="en")
    except AftersalesError as exc:
        return render("case.html", 409, view=case_view(number), retried=str(exc))
    return render("case.html", view=case_view(number), retried=done)


DISPATCH_FORMS = ("MATERIAL-LIST", "TOOLS-LIST", "COST-STATEMENT", "INCIDENT-REPORT")


@router.get("/cases/{number}/forms/{code}", response_class=HTMLResponse)
def printable_form(number: str, code: str, lang: str = "zh", person: Person = Depends(current_staff)) -> HTMLResponse:
    """Printable 返修申请单 FORM-MA-076 / 返修品维修记录表 FORM-MA-077 filled from the case, a dispatch's four forms,
    and a recall's reports (RECALL-EVENT, RECALL-ASSESSMENT, RECALL-PLAN, RECALL-CLOSE; ?lang=en for English)."""
    from aftersales.recall.forms import RECALL_FORMS, form_context

    templates = {"FORM-MA-076": "form_ma_076.html", "FORM-MA-077": "form_ma_077.html",
                 **dict.fromkeys(RECALL_FORMS, "recall_report.html")}
    templates |= dict.fromkeys(DISPATCH_FORMS, "dispatch_forms.html")  # a dispatch's four forms (WI 5.5-5.8)
    if code not in templates:
        return render("refused.html", 404, reason="not_found", message=f"No form {code}.", lang="en")
    try:
        may_read_case(number, Caller(person=person))
        view = case_view(number)
    except NotFound:
        return render("refused.html", 404, reason="not_found", message=f"No case {number}.", lang="en")
    with session_scope() as session:
        case = cases.get_case(session, number)
    printed = local_text(clock.now(), get_policy())
    if code in RECALL_FORMS:
        return render(templates[code], view=view, case=case, printed=printed,
                      **form_context(code, view, "en" if lang == "en" else "zh"))
    answers = {g["key"]: g["answer"] for g in view["gates"] if g["status"] == "answered"}
    return render(templates[code], view=view, case=case, record=view["data"].get("repair_record") or {},
                  printed=printed, code=code, answers=answers)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(to: str = "", person: Person = Depends(current_staff)) -> HTMLResponse:
    """The demo mail sink: every message the product sent, newest first; only in demo mode."""
    if not demo_mode():
        return _no_inbox()
    with session_scope() as session:
        query = select(MailboxMessage).order_by(col(MailboxMessage.id).desc()).limit(200)
        if to:
            query = query.where(col(MailboxMessage.rcpt_to).contains(to, autoescape=True))
        messages = session.exec(query).all()
    return render("inbox.html", messages=messages, to=to)


@router.get("/inbox/{message_id}", response_class=HTMLResponse)
def inbox_message(message_id: DatabaseId, person: Person = Depends(current_staff)) -> HTMLResponse:
    """One received message, its links clickable; only in demo mode."""
    if not demo_mode():
        return _no_inbox()
    with session_scope() as session:
        message = session.get(MailboxMessage, message_id)
    if message is None:
        return render("refused.html", 404, reason="not_found", message=f"No message {message_id}.", lang="en")
    return render("message.html", message=message, body=linkify(message.text))


def _no_inbox() -> HTMLResponse:
    # Real destinations are configured: the messages (and their live links) went to the people, not here.
    return render("refused.html", 404, reason="not_found", lang="en",
                  message="The inbox exists only in demo mode (every message to the embedded mail sink).")


def linkify(text: str) -> str:
    """Escape a plain-text mail and turn its http(s) URLs into links (matched before escaping)."""
    parts = []
    last = 0
    for match in re.finditer(r"https?://[^\s<>\"')]+", text):
        url = match.group(0).rstrip(".,;:!?")
        parts.append(html.escape(text[last:match.start()]))
        parts.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        last = match.start() + len(url)
    parts.append(html.escape(text[last:]))
    return "".join(parts)
