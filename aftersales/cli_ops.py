"""`aftersales cases` and `aftersales gates`: the operations dashboard at a terminal (Rich tables, or --json)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

import typer

from aftersales.errors import AftersalesError

if TYPE_CHECKING:
    from aftersales.cases.dashboard import Filters

STATE_STYLE = {"late": "bold red", "due_soon": "yellow", "on_time": "green"}
STATE_TEXT = {"late": "late", "due_soon": "due soon", "on_time": "on time"}

Procedure = typer.Option("", "--procedure",
                         help="Only this procedure (repair, complaint, return, exchange, dispatch, recall).")
Step = typer.Option("", "--step", help="Only steps of this kind, e.g. repair.triage.")
Role = typer.Option("", "--role", help="Only steps waiting on this role.")
Person = typer.Option("", "--person", help="Only steps waiting on this person (named, or holding the role).")
Late = typer.Option(False, "--late", help="Only steps past their deadline.")
Escalated = typer.Option(False, "--escalated", help="Only steps escalated at least one rung.")
Since = typer.Option(None, "--since", help="Cases opened on or after this date (YYYY-MM-DD, company time).")
Until = typer.Option(None, "--until", help="Cases opened on or before this date.")
AsJson = typer.Option(False, "--json", help="Print JSON instead of a table.")
Limit = typer.Option(200, "--limit", min=1, max=100_000, help="At most this many rows.")


def _filters(procedure: str, step: str, role: str, person: str, late: bool, escalated: bool,
             since: datetime | None, until: datetime | None) -> Filters:
    """The options as dashboard filters; a bad one ends the command with its reason (exit 2)."""
    from aftersales.cases.dashboard import Filters
    from aftersales.runtime.db import create_schema

    create_schema()
    try:
        return Filters(procedure=procedure, step=step, role=role, person=person, late=late, escalated=escalated,
                       since=since.date() if since else None, until=until.date() if until else None).validate()
    except AftersalesError as exc:
        _fail(exc)


def _fail(exc: AftersalesError) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _minutes(delta: object) -> str:
    from aftersales.web.ops import duration_text

    return duration_text(delta)  # type: ignore[arg-type]


def _print(table: object) -> None:
    from rich.console import Console

    Console(width=200).print(table)


def cases(procedure: str = Procedure, step: str = Step, role: str = Role, person: str = Person, late: bool = Late,
          escalated: bool = Escalated, since: datetime = Since, until: datetime = Until, as_json: bool = AsJson,
          limit: int = Limit) -> None:
    """Open cases, oldest first, with the step each waits on and its SLA state (filters as on /ops)."""
    from aftersales.cases.dashboard import open_cases, sla_clock

    filters = _filters(procedure, step, role, person, late, escalated, since, until)
    rows = open_cases(filters, sla_clock(), limit=limit)
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Open cases ({len(rows)})")
    for name in ("case", "procedure", "status", "opened", "waiting on", "holder", "deadline", "SLA"):
        table.add_column(name)
    for r in rows:
        w = r.waiting
        state = w.state if w else ""
        table.add_row(r.number + (" (needs attention)" if r.needs_attention else ""), r.procedure, r.status,
                      r.opened_at.strftime("%Y-%m-%d %H:%M"), w.kind if w else "—",
                      (w.assignee_person or w.assignee_role) if w else "—",
                      w.deadline_at.strftime("%Y-%m-%d %H:%M") if w else "—",
                      f"[{STATE_STYLE[state]}]{STATE_TEXT[state]}[/]" if state else "—")
    _print(table)


def gates(procedure: str = Procedure, step: str = Step, role: str = Role, person: str = Person, late: bool = Late,
          escalated: bool = Escalated, since: datetime = Since, until: datetime = Until, as_json: bool = AsJson,
          limit: int = Limit) -> None:
    """Waiting steps, nearest deadline first: holder, age, business time left, SLA state (filters as on /ops)."""
    from aftersales.cases.dashboard import sla_clock, waiting_steps

    filters = _filters(procedure, step, role, person, late, escalated, since, until)
    page = waiting_steps(filters, sla_clock(), limit=limit)
    if as_json:
        typer.echo(json.dumps({"total": page.total, "gates": [r.as_json() for r in page.rows]}, ensure_ascii=False,
                              indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Waiting steps ({len(page.rows)} of {page.total}), times UTC")
    for name in ("gate", "case", "step", "holder", "rung", "age", "business time left", "deadline", "SLA"):
        table.add_column(name)
    for r in page.rows:
        left = f"late by {_minutes(r.late_by)}" if r.state == "late" else _minutes(r.business_left)
        table.add_row(str(r.gate_id), r.case_number, r.kind, r.assignee_person or r.assignee_role, str(r.rung),
                      _minutes(r.age), left, r.deadline_at.strftime("%Y-%m-%d %H:%M"),
                      f"[{STATE_STYLE[r.state]}]{STATE_TEXT[r.state]}[/]")
    _print(table)


