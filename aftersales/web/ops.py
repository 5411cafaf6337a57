"""Operations pages: the dashboard, on-time rates (chart and CSV), and acting on a case's waiting step.

Sign-in and roles come from their own module: every route here is for operations roles only.
"""

from __future__ import annotations

from datetime import date, timedelta
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as FastAPIPath
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from aftersales.cases import dashboard as board
from aftersales.config.policy import get_policy
from aftersales.config.staff import CUSTOMER, Person, get_staff
from aftersales.errors import NotFound, RuleViolation
from aftersales.gates import handover
from aftersales.messaging.labels import label
from aftersales.procedures.registry import procedures
from aftersales.runtime import clock
from aftersales.sla.deadlines import local_text
from aftersales.sla.recovery import attention_cases
from aftersales.web.auth import operations_staff
from aftersales.web.forms import form_fields, invalid_fields, read_form
from aftersales.web.pages import render
from models.inputs import GATE_INPUTS

router = APIRouter(include_in_schema=False, dependencies=[Depends(operations_staff)])
DatabaseId = Annotated[int, FastAPIPath(ge=1, le=2**63 - 1)]
MAX_DAYS = 366 * 5  # the longest period or look-back a page accepts
ESCALATIONS_SHOWN = 50  # the newest; the case pages have them all


def duration_text(delta: timedelta) -> str:
    """'2d 3h 5m' / '3h 5m'."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours}h {mins}m" if days else f"{hours}h {mins}m"


def _date(name: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RuleViolation(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "on", "yes")


def read_filters(request: Request) -> board.Filters:
    """The dashboard filters from the URL query; RuleViolation/NotFound name what is wrong."""
    q = request.query_params
    return board.Filters(
        procedure=q.get("procedure", "").strip(), step=q.get("step", "").strip(), role=q.get("role", "").strip(),
        person=q.get("person", "").strip(), late=_flag(q.get("late", "")), escalated=_flag(q.get("escalated", "")),
        since=_date("since", q.get("since", "").strip()), until=_date("until", q.get("until", "").strip()),
    ).validate()


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuleViolation(f"{name}: {raw[:40]!r} is not a whole number") from None
    if not low <= value <= high:
        raise RuleViolation(f"{name}: {value} is outside {low}-{high}")
    return value


def _choices() -> dict[str, Any]:
    """What the filter form offers: procedures, steps, roles, people."""
    staff = get_staff()
    return {
        "procedures": [(p.name, label("procedures", p.name, "zh")) for p in procedures()],
        "steps": sorted((kind, label("gates", kind, "zh")) for kind in get_policy().gates),
        "roles": sorted(staff.roles.items()),
        "people": [(p.id, p.name) for p in staff.people],
    }


def _bad_filters(exc: Exception) -> HTMLResponse:
    return render("ops/dashboard.html", 400, error=str(exc), filters=board.Filters(), choices=_choices(),
                  **_empty_board())


def _empty_board() -> dict[str, Any]:
    return {"steps": [], "people": [], "roles": [], "page": board.Page(), "idle": [], "escalations": [], "failed": [],
            "failed_total": 0, "attention": [], "estimated": {}, "days": get_policy().dashboard.escalation_days,
            "staff": get_staff(), "duration": duration_text, "clock": None, "summary": {}, "prev": None,
            "next": None}


@router.get("/ops", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """Open cases by step, waiting steps by holder and role coloured by SLA state, escalations, failures."""
    try:
        filters = read_filters(request)
        days = _int(request, "days", get_policy().dashboard.escalation_days, 1, MAX_DAYS)
        offset = _int(request, "offset", 0, 0, 10**9)
    except (RuleViolation, NotFound) as exc:
        return _bad_filters(exc)
    policy = get_policy()
    at = board.sla_clock(clock.now(), policy)
    counts = board.overview(filters, at)
    page = board.waiting_steps(filters, at, offset=offset, total=counts.waiting)
    failed, failed_total = board.failed_messages()
    summary = {"waiting": counts.waiting, "late": counts.late, "due_soon": counts.due_soon, "idle": counts.idle}
    prev = filters.query(offset=max(0, offset - page.limit), days=days) if offset else None
    nxt = filters.query(offset=offset + page.limit, days=days) if offset + page.limit < page.total else None
    estimated = _estimated(policy)
    return render("ops/dashboard.html", error=None, filters=filters, choices=_choices(), steps=counts.steps,
                  people=counts.people, roles=counts.roles, page=page,
                  idle=board.idle_cases(filters, at) if counts.idle else [],
                  escalations=board.recent_escalations(days, at, filters, limit=ESCALATIONS_SHOWN),
                  failed=failed, failed_total=failed_total, attention=attention_cases(), estimated=estimated,
                  days=days, staff=get_staff(), duration=duration_text, clock=at, summary=summary, prev=prev,
                  next=nxt)


def _estimated(policy: Any) -> dict[int, int]:
    """Waiting deadlines in years whose working days are only an estimate (see the calendar's layers)."""
    from aftersales.sla.deadlines import calendar_for

    per_year = board.waiting_deadline_years(policy)
    return {year: per_year[year] for year in calendar_for(policy).estimated_years(per_year)}


def _period(request: Request) -> tuple[date, date, str]:
    """The on-time page's period (default: the last 30 days to today, company dates) and procedure."""
    policy = get_policy()
    today = date.fromisoformat(local_text(clock.now(), policy)[:10])
    end = _date("to", request.query_params.get("to", "").strip()) or today
    start = _date("from", request.query_params.get("from", "").strip()) or end - timedelta(days=29)
    if end < start:
        raise RuleViolation(f"the period ends ({end}) before it starts ({start})")
    if (end - start).days > MAX_DAYS:
        raise RuleViolation(f"the period is longer than {MAX_DAYS} days")
    procedure = request.query_params.get("procedure", "").strip()
    if procedure and procedure not in {p.name for p in procedures()}:
        raise NotFound(f"no procedure {procedure!r}")
    return start, end, procedure


@router.get("/ops/on-time", response_class=HTMLResponse)
def on_time(request: Request) -> HTMLResponse:
    """On-time rate per procedure and per step over a period, with a chart and the CSV of the same figures."""
    try:
        start, end, procedure = _period(request)
    except (RuleViolation, NotFound) as exc:
        return render("ops/on_time.html", 400, error=str(exc), start=None, end=None, procedure="",
                      per_procedure=[], per_step=[], chart_procedures="", chart_steps="", csv_query="",
                      definition=board.ON_TIME_DEFINITION, choices=_choices())
    per_procedure, per_step = board.on_time_rates(start, end, now=clock.now(), procedure=procedure)
    query = board.urlencode([("from", start.isoformat()), ("to", end.isoformat())]
                            + ([("procedure", procedure)] if procedure else []))
    return render("ops/on_time.html", error=None, start=start, end=end, procedure=procedure,
                  per_procedure=per_procedure, per_step=per_step,
                  chart_procedures=bar_chart([(label("procedures", r.procedure, "zh"), r) for r in per_procedure],
                                             "On-time rate per procedure"),
                  chart_steps=bar_chart([(label("gates", r.step, "zh"), r) for r in per_step],
                                        "On-time rate per step"),
                  csv_query=query, definition=board.ON_TIME_DEFINITION, choices=_choices())


@router.get("/ops/on-time.csv")
def on_time_csv(request: Request) -> Response:
    """The on-time figures of the page as CSV (UTF-8)."""
    try:
        start, end, procedure = _period(request)
    except (RuleViolation, NotFound) as exc:
        return Response(f"error: {exc}\n", status_code=400, media_type="text/plain; charset=utf-8")
    per_procedure, per_step = board.on_time_rates(start, end, now=clock.now(), procedure=procedure)
    body = board.rates_csv(per_procedure, per_step, start, end)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="on-time-{start}-{end}.csv"'})


def bar_chart(bars: list[tuple[str, board.Rate]], title: str) -> Markup:
    """A horizontal bar chart of on-time rates as inline SVG (no script, no outside file)."""
    if not bars:
        return Markup("")
    row, label_w, bar_w, pad = 26, 230, 420, 8
    height = pad * 2 + row * len(bars) + 20
    width = label_w + bar_w + 150
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for pct in (0, 50, 100):
        x = label_w + bar_w * pct / 100
        parts.append(f'<line x1="{x:.0f}" y1="{pad}" x2="{x:.0f}" y2="{height - 20}" stroke="#d0d7de"/>'
                     f'<text x="{x:.0f}" y="{height - 6}" font-size="11" text-anchor="middle" fill="#656d76">'
                     f'{pct}%</text>')
    for i, (name, rate) in enumerate(bars):
        y = pad + i * row
        w = bar_w * rate.rate
        colour = "#1a7f37" if rate.rate >= 0.9 else "#bf8700" if rate.rate >= 0.7 else "#cf222e"
        parts.append(f'<text x="{label_w - 6}" y="{y + 17}" font-size="12" text-anchor="end">{escape(name[:28])}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{colour}">'
                     f'<title>{escape(name)}: {rate.on_time}/{rate.counted}</title></rect>'
                     f'<text x="{label_w + bar_w + 6}" y="{y + 17}" font-size="12">{rate.rate * 100:.1f}% '
                     f'({rate.on_time}/{rate.counted})</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# --- acting on a waiting step (operations roles only) -------------------------------------------------------------


def operator(person: Person = Depends(operations_staff)) -> str:
    """Who acts: the signed-in operations person (their staff id is what the history records)."""
    return person.id


Operator = Annotated[str, Depends(operator)]


def _act_page(number: str, gate_id: int, *, status: int = 200, error: str | None = None,
              errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
              done: str | None = None) -> HTMLResponse:
    try:
        gate, case = handover.waiting_gate(number, gate_id)
    except NotFound as exc:
        return render("refused.html", 404, reason="not_found", message=str(exc), lang="en")
    except RuleViolation as exc:
        return render("ops/act.html", 409 if status == 200 else status, gate=None, case=None, number=number,
                      error=error or str(exc), done=done, fields=[], errors={}, values={}, people=[], holders=[])
    staff = get_staff()
    if gate.customer_gate:
        holders = [(CUSTOMER, f"客户 customer {case.customer_name}")]
    elif gate.assignee_person:
        holders = [(gate.assignee_person, staff.person(gate.assignee_person).name)]
    else:
        holders = [(p.id, p.name) for p in staff.people if gate.assignee_role in p.roles]
    policy = get_policy()
    return render("ops/act.html", status, gate=gate, case=case, number=number, error=error, done=done,
                  title=label("gates", gate.kind, "zh"), deadline=local_text(gate.deadline_at, policy),
                  fields=form_fields(GATE_INPUTS[gate.input_model], "zh"), errors=errors or {}, values=values or {},
                  people=[(p.id, p.name, staff.role_label(p.roles[0])) for p in staff.people], holders=holders,
                  quorum=bool(policy.gate(gate.kind).quorum), summary=gate.context.get("summary", []))


@router.get("/cases/{number}/gates/{gate_id}/act", response_class=HTMLResponse)
def act_page(number: str, gate_id: DatabaseId) -> HTMLResponse:
    """Forms to hand a waiting step to another person or to answer it on someone's behalf."""
    return _act_page(number, gate_id)


@router.post("/cases/{number}/gates/{gate_id}/reassign", response_class=HTMLResponse)
def reassign(number: str, gate_id: DatabaseId, actor: Operator, person: str = Form(""),
             reason: str = Form("")) -> HTMLResponse:
    """Hand a waiting step to another person, with a recorded reason; the new holder gets a fresh link."""
    values = {"person": person, "reason": reason}
    try:
        done = handover.reassign(number, gate_id, person.strip(), reason, actor=actor)
    except NotFound as exc:
        return _act_page(number, gate_id, status=422, error=str(exc), values=values)
    except RuleViolation as exc:
        return _act_page(number, gate_id, status=409 if "waiting" in str(exc) or "meanwhile" in str(exc) else 422,
                         error=str(exc), values=values)
    holder = get_staff().person(person.strip())
    return render("ops/act.html", gate=None, case=None, number=number, error=None, fields=[], errors={}, values={},
                  people=[], holders=[],
                  done=f"已转交 Handed to {holder.name} ({holder.id}); {done.sent} message(s) sent with a fresh link.")


@router.post("/cases/{number}/gates/{gate_id}/answer", response_class=HTMLResponse)
async def answer(number: str, gate_id: DatabaseId, request: Request, actor: Operator) -> HTMLResponse:
    """Answer a waiting step on its holder's behalf, with a recorded reason; resumes the flow like a link."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    meta = {k: form.pop(k, "") for k in ("for_person", "reason")}
    values = {**form, **meta}
    try:
        gate, _ = handover.waiting_gate(number, gate_id)
        raw = read_form(GATE_INPUTS[gate.input_model], form)
        done = await run_in_threadpool(handover.answer_on_behalf, number, gate_id, meta["for_person"].strip(),
                                       meta["reason"], raw, actor=actor)
    except ValidationError as exc:
        return _act_page(number, gate_id, status=422, errors=invalid_fields(exc), values=values,
                         error="答复有误 The answer has errors: see the fields below.")
    except NotFound as exc:
        return _act_page(number, gate_id, status=422, error=str(exc), values=values)
    except RuleViolation as exc:
        return _act_page(number, gate_id, status=409 if "waiting" in str(exc) or "meanwhile" in str(exc) else 422,
                         error=str(exc), values=values)
    return render("ops/act.html", gate=None, case=None, number=number, error=None, fields=[], errors={}, values={},
                  people=[], holders=[], done=f"已代为答复 Answered: {done.answered_by}.")
