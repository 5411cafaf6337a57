"""The `aftersales` command: run the product, open and read cases, run the sweep."""

from __future__ import annotations

import getpass
import json
import logging
import os
import secrets
import signal
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from aftersales.errors import (
    AftersalesError,
    ConfigurationError,
    IntegrationError,
    is_database_failure,
    is_unavailable,
    one_line,
)


class _Commands(TyperGroup):
    """Every command: an unavailable outside system (IntegrationError, database, network) is one line, exit 1;
    a ConfigurationError no command handled is one line naming file and key, exit 2; never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if is_unavailable(exc):
                typer.secho(f"error: {_unavailable(exc)}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1) from None
            if isinstance(exc, ConfigurationError):
                typer.secho(f"error: {one_line(exc, 1000)}", fg=typer.colors.RED, err=True)
                raise typer.Exit(2) from None
            raise


def _unavailable(exc: BaseException) -> str:
    """One line on what is unavailable; the database URL without its password."""
    if is_database_failure(exc):
        from sqlalchemy.engine import make_url

        from aftersales.config.settings import get_settings

        try:
            url = make_url(get_settings().effective_database_url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - the URL is a courtesy; the failure is the message
            url = "the database"
        return f"database unavailable ({url}): {one_line(exc)}"
    if isinstance(exc, IntegrationError):
        return one_line(exc)
    return f"outside service unavailable: {type(exc).__name__}: {one_line(exc)}"


# `aftersales up` starts a worker that died again, at most this many times in this many seconds (then it stops).
WORKER_RESTARTS, WORKER_RESTART_WINDOW = 5, 600.0

app = typer.Typer(help="After-sales procedures as monitored, escalating workflows.", no_args_is_help=True,
                  add_completion=False, cls=_Commands)

DEMO_CASE: dict[str, Any] = {
    "procedure": "repair",
    "customer_name": "王先生",
    "customer_phone": "13800000000",
    "customer_email": "demo.customer@example.com",
    "customer_address": "上海市浦东新区演示路 1 号",
    "product_model": "PT-3000 理疗仪",
    "serial_number": "SN-DEMO-0001",
    "purchase_date": (date.today() - timedelta(days=400)).isoformat(),
    "problem_description": "开机后屏幕无显示,指示灯闪烁。",
    "channel": "hotline",
    "language": "zh",
}


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def up(
    data_dir: Path = typer.Option(None, help="Runtime files (default: .aftersales in the checkout)."),
    prefect_port: int = typer.Option(4200, help="Port of the local Prefect server and UI."),
    web_port: int = typer.Option(8000, help="Port of the web app (gate pages, operations, inbox)."),
    smtp_port: int = typer.Option(1025, help="Port of the local mail sink."),
    demo: bool = typer.Option(True, help="Open a demo repair case once everything runs."),
    workers: int = typer.Option(1, min=1, help="Workers on the process pool (README \"Production\")."),
    postgres_data: bool = typer.Option(False, help="Keep the project's data in the embedded PostgreSQL, not SQLite."),
    fork_runs: bool = typer.Option(True, help="Fork flow runs from a process that has imported Prefect and the "
                                              "flows (faster steps), not a new interpreter per run."),
) -> None:
    """Run the product on embedded defaults in the foreground; Ctrl-C stops everything it started."""
    from aftersales.config.settings import get_settings
    from aftersales.runtime.stack import Stack, StackConfig

    logging.basicConfig(level=logging.WARNING)
    # Ctrl-C and SIGTERM both stop everything, even when a parent shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The demo case is opened over the API like any other: with an intake key that lives as long as this run.
    demo_key = secrets.token_urlsafe(32)
    keys = ",".join(part for part in (os.environ.get("AFTERSALES_INTAKE_API_KEYS", ""), f"hotline:{demo_key}") if part)
    config = StackConfig(data_dir=data_dir or get_settings().data_dir, prefect_port=prefect_port,
                         web_port=web_port, smtp_port=smtp_port, workers=workers, postgres_data=postgres_data,
                         fork_runs=fork_runs,
                         extra_env={"AFTERSALES_INTAKE_API_KEYS": keys} if demo else {})
    stack = Stack(config, progress=lambda m: typer.echo(f"· {m}"))
    try:
        stack.start()
        typer.secho("\nAll parts are running.", fg=typer.colors.GREEN)
        typer.echo(f"  Operations (open cases, deadlines):  {config.web_url}/ops")
        typer.echo(f"  Inbox (demo mode only, links):       {config.web_url}/inbox")
        typer.echo(f"  Prefect UI (flow runs, resume form): http://127.0.0.1:{prefect_port}")
        typer.echo(f"  API docs:                            {config.web_url}/docs")
        typer.echo(f"  Logs:                                {stack.logs}")
        try:  # demo mode (every message to the mail sink): everyone gets the demo password, printed here
            typer.echo(stack.run_cli(["staff", "demo-passwords"]).rstrip())
        except IntegrationError:  # real destinations configured: no demo password
            typer.echo("Sign in with the password set by `aftersales staff set-password STAFF_ID` (or OpenID Connect).")
        if demo:
            number = _open_demo_case(config.web_url, demo_key)
            typer.echo(f"\nDemo repair case {number} opened: {config.web_url}/cases/{number}")
            typer.echo(f"Its first message (to customer service 李娜) arrives in {config.web_url}/inbox within "
                       "a few seconds: open it and follow the link to answer the step.")
        typer.echo("\nPress Ctrl-C to stop everything.")
        restarts: list[float] = []  # when workers were started again (a bound on a worker that keeps dying)
        while True:
            for name, proc in list(stack.children.items()):
                if proc.poll() is None:
                    continue
                log_file = stack.logs / (name + ".log")
                # A worker holds no case (its runs go on, cases wait on the server): start it again, as a service
                # manager would, unless it keeps dying.
                restarts = [at for at in restarts if at > time.monotonic() - WORKER_RESTART_WINDOW]
                if name.startswith("worker") and len(restarts) < WORKER_RESTARTS:
                    typer.secho(f"{name} stopped unexpectedly (code {proc.returncode}; see {log_file}): "
                                "starting it again", fg=typer.colors.YELLOW, err=True)
                    restarts.append(time.monotonic())
                    stack.start_worker(int(name.removeprefix("worker").removeprefix("-") or 1))
                    continue
                raise AftersalesError(f"{name} stopped unexpectedly (code {proc.returncode}); see {log_file}")
            time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping …")
    except AftersalesError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    finally:  # whatever ended us; if we are killed outright, the stack's watcher stops what we started
        stack.stop()
    typer.echo("stopped.")


def _open_demo_case(web_url: str, key: str) -> str:
    response = httpx.post(f"{web_url}/api/cases", json=DEMO_CASE, timeout=60,
                          headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    return str(response.json()["number"])


@app.command("open")
def open_case(
    file: Path = typer.Argument(..., help="JSON file with the registration fields (spec §1.3); '-' reads stdin."),
    start: bool = typer.Option(True, help="Start the procedure's flow on the Prefect server."),
) -> None:
    """Register a case from JSON and start its procedure; prints the case number."""
    from aftersales.cases.intake import IntakeRefused, register_case
    from aftersales.runtime.db import create_schema
    from models import CaseCreate

    try:
        raw = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        request = CaseCreate.model_validate(json.loads(raw))
    except FileNotFoundError:
        _fail(f"no such file: {file}", 2)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {exc}", 2)
    except json.JSONDecodeError as exc:
        _fail(f"{file} is not valid JSON: {exc}", 2)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid case, nothing stored: {problems}", 2)
    create_schema()
    try:
        case, run_id = register_case(request, start=start)
    except IntakeRefused as exc:
        _fail(f"invalid case, nothing stored: {exc}", 2)
    typer.echo(case.number)
    if start and run_id is None:
        typer.secho("warning: the Prefect server did not answer; the next sweep (within a minute) starts the case",
                    err=True, fg=typer.colors.YELLOW)


@app.command()
def show(number: str, as_json: bool = typer.Option(False, "--json", help="Print the full record as JSON.")) -> None:
    """Show a case: state, what it waits on, deadlines and history."""
    from aftersales.cases.view import case_view
    from aftersales.runtime.db import create_schema

    try:
        create_schema()
        view = case_view(number)
    except IntegrationError:
        raise  # one line, exit 1 (_Commands)
    except AftersalesError as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(view, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"{view['number']}  {view['procedure']}  {view['status']}  opened {view['opened_at'][:16]}")
    if view["needs_attention"]:
        typer.secho(f"  NEEDS ATTENTION since {view['needs_attention']['at'][:16]} UTC (flow run "
                    f"{view['flow_run_id']}): {view['needs_attention']['error']}; `aftersales retry {number}`",
                    fg=typer.colors.RED)
    for gate in view["waiting_gates"]:
        typer.echo(f"  waiting: {gate['kind']} on {gate['assignee_person'] or gate['assignee_role']} "
                   f"(rung {gate['rung']}) until {gate['deadline_at'][:16]} UTC")
    for line in view["history"]:
        typer.echo(f"  {line['at'][:16]}  {line['kind']:<14} {line['summary']}")


@app.command()
def retry(number: str) -> None:
    """Run a case's flow again (a case that needs attention, once its cause is fixed); recorded in its history."""
    from aftersales.runtime.db import create_schema
    from aftersales.sla.recovery import retry_case

    try:
        create_schema()
        done = retry_case(number, f"{getpass.getuser()} (aftersales retry)")
    except IntegrationError:
        raise  # one line, exit 1 (_Commands)
    except AftersalesError as exc:
        _fail(str(exc), 2)
    typer.echo(f"{number}: {done}")


@app.command()
def sweep() -> None:
    """Run one escalation sweep now (the scheduled deployment does this every minute)."""
    from aftersales.sla.sweep import sweep as run_sweep

    try:
        report = run_sweep()
    except IntegrationError:
        raise  # one line, exit 1 (_Commands)
    except AftersalesError as exc:
        _fail(str(exc), 2)
    typer.echo(f"reminded {len(report.reminded)}, escalated {len(report.escalated)}, resumed {len(report.resumed)}, "
               f"re-sent {report.resent}, recovered {len(report.recovered)}, needs attention "
               f"{len(report.attention)}, errors {len(report.errors)}")
    for error in report.errors:
        typer.echo(f"  {error}", err=True)


@app.command()
def reserve() -> None:
    """Check the standing reserve of passport-holding repair staff (F2:420-421) and tell HR what is new."""
    from aftersales.procedures.dispatch import check_standing_reserve

    try:
        report = check_standing_reserve()
    except AftersalesError as exc:
        _fail(str(exc), 2)
    for gap in report.short:
        typer.echo(f"short: {gap.department} has {gap.have} passport holders, needs {gap.need}")
    for soon in report.expiring:
        typer.echo(f"expiring: {soon.name} ({soon.department}) passport valid until {soon.expires.isoformat()}")
    typer.echo(f"{len(report.short)} short, {len(report.expiring)} expiring, {report.told} messages sent")


@app.command("check-config")
def check_config() -> None:
    """Validate the policy, staff and calendar files and say what they contain."""
    from aftersales.config.policy import get_policy
    from aftersales.config.settings import get_settings
    from aftersales.config.staff import get_staff

    settings = get_settings()
    try:
        policy = get_policy()
        staff = get_staff()
        for key, role in policy.role_references():
            if role == "customer":
                continue
            if role not in staff.roles:
                raise ConfigurationError(f"unknown role {role!r} (not in {settings.staff_file})",
                                         file=settings.policy_file, key=key)
            staff.holders(role)
    except IntegrationError:
        raise  # one line, exit 1 (_Commands)
    except AftersalesError as exc:
        _fail(str(exc), 2)
    _check_procedures(policy)
    calendar = _policy_calendar(policy)
    typer.echo(f"policy {settings.policy_file}: {len(policy.gates)} gates, ladders {sorted(policy.ladders)}")
    typer.echo(f"staff {settings.staff_file}: {len(staff.people)} people, {len(staff.roles)} roles")
    typer.echo(f"calendar: {_calendar_layers(policy, calendar)}")
    _warn_estimated_deadlines(policy)


def _check_procedures(policy: Any) -> None:
    """The registered procedures against the policy and prefect.yaml; exit 2 naming each disagreement."""
    import yaml

    from aftersales.config.settings import PROJECT_ROOT
    from aftersales.procedures.registry import configuration_problems, procedures

    deployments = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8")).get("deployments", [])
    problems = configuration_problems(policy, deployments)
    for where, problem in problems:
        typer.secho(f"error: {where}: {problem}", err=True, fg=typer.colors.RED)
    if problems:
        raise typer.Exit(2)
    typer.echo("procedures: " + ", ".join(f"{p.name} ({p.prefix}, {p.deployment})" for p in procedures()))


def _policy_calendar(policy: Any) -> Any:
    """The policy's business calendar, or exit 2 naming a bad override file."""
    from aftersales.sla.deadlines import calendar_for

    try:
        return calendar_for(policy)
    except (OSError, ValueError) as exc:
        _fail(f"calendar.overrides_file: {exc}", 2)


def _calendar_layers(policy: Any, calendar: Any) -> str:
    """The calendar's layers in the order they decide a day, with the years each covers."""
    from aftersales.sla.calendar import chinesecalendar_years, holidays_years

    covered = ", ".join(str(year) for year in sorted(calendar.overrides.years)) or "no full year"
    file = policy.calendar.overrides_file
    overrides = f"overrides {file} ({covered})" if file else "no override file"
    cc_first, cc_last = chinesecalendar_years()
    hd_first, hd_last = holidays_years()
    fallback = "on" if calendar.fallback_weekends else "off"
    return (f"{overrides}; chinesecalendar {cc_first}-{cc_last}; holidays estimate {hd_first}-{hd_last}; "
            f"weekend fallback {fallback}")


def _warn_estimated_deadlines(policy: Any) -> None:
    """Warn (stderr) while waiting gates have deadlines in a year with no published holiday schedule."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import select

    from aftersales.messaging.labels import label
    from aftersales.runtime.db import get_engine, session_scope
    from aftersales.sla.deadlines import estimated_deadlines
    from models import Gate

    try:
        if not inspect(get_engine()).has_table(Gate.__tablename__):
            return  # no database yet: nothing is open
        with session_scope() as session:
            deadlines = session.exec(select(Gate.deadline_at).where(Gate.status == "waiting")).all()
    except SQLAlchemyError as exc:
        typer.secho(f"warning: open deadlines not checked, the database did not answer: {exc}", err=True,
                    fg=typer.colors.YELLOW)
        return
    estimated = estimated_deadlines(policy, deadlines)
    if not estimated:
        return
    years = ", ".join(str(year) for year in estimated)
    warning = label("calendar", "estimated_warning", "en").format(count=sum(estimated.values()), years=years)
    typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    typer.echo(label("calendar", "how_to_fix", "en"), err=True)
    for line in label("calendar", "override_example", "en").splitlines():
        typer.echo(f"    {line}", err=True)
    typer.echo(label("calendar", "example_note", "en"), err=True)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@app.command("calendar")
def calendar_year(
    year: int = typer.Argument(..., help="The year, e.g. 2027."),
    as_json: bool = typer.Option(False, "--json", help="Print the days as JSON."),
) -> None:
    """A year's holidays on weekdays and make-up working days, each with the source that decided it."""
    from aftersales.config.policy import get_policy
    from aftersales.messaging.labels import label
    from aftersales.sla.calendar import ESTIMATED_SOURCES

    try:
        policy = get_policy()
    except AftersalesError as exc:
        _fail(str(exc), 2)
    calendar = _policy_calendar(policy)
    if not 1 <= year <= 9999:
        _fail(f"year {year} is out of range: give a year from 1 to 9999, e.g. 2027", 2)
    if not calendar.covers(year):
        _fail(f"no calendar data for year {year} ({_calendar_layers(policy, calendar)}). To list it, add "
              f"its schedule to the file named by calendar.overrides_file (years: [{year}]).", 2)
    try:
        source = calendar.year_source(year)
        days = calendar.year_days(year)
    except AftersalesError as exc:
        _fail(str(exc), 2)

    def entry(day: Any) -> dict[str, Any]:
        return {"date": day.day.isoformat(), "weekday": WEEKDAYS[day.day.weekday()], "name": day.name,
                "source": day.source}

    rest = [entry(day) for day in days if not day.working]
    work = [entry(day) for day in days if day.working]
    if as_json:
        typer.echo(json.dumps({"year": year, "source": source, "estimated": source in ESTIMATED_SOURCES,
                               "holidays": rest, "workdays": work}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{year}: {label('calendar_sources', source, 'en')}")
    for heading, listed in (("rest_days", rest), ("make_up_days", work)):
        typer.echo(f"\n{label('calendar', heading, 'en')}:")
        if not listed:
            typer.echo(f"  {label('calendar', 'none', 'en')}")
        for item in listed:
            typer.echo(f"  {item['date']} {item['weekday']}  {item['name'] or '-':<46} {item['source']}")


db_app = typer.Typer(help="The project's database: schema migrations (Alembic, aftersales/runtime/migrations).",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")

# The operations dashboard at a terminal (aftersales/cli_ops.py).
from aftersales import cli_ops  # noqa: E402

app.command("cases")(cli_ops.cases)
app.command("gates")(cli_ops.gates)


def _database_label() -> str:
    """The configured database URL with its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from aftersales.config.settings import get_settings

    url = get_settings().effective_database_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "AFTERSALES_DATABASE_URL (not a database URL)"


def _database_errors() -> tuple[type[Exception], ...]:
    """What reaching or migrating the database raises: unreachable, bad URL, missing driver, unknown revision."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    return SQLAlchemyError, CommandError, OSError, ImportError


def _database_failure(exc: Exception) -> str:
    """One line saying why the database could not be used."""
    from sqlalchemy.exc import DBAPIError

    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    return f"{type(reason).__name__}: {lines[0]}" if lines else type(reason).__name__


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest migration; does nothing when it is there already.

    A database made by an earlier build (tables but no alembic_version) is first stamped with the revision its
    columns match. `aftersales up`, the mail sink and the CLI run this themselves.
    """
    from aftersales.runtime.db import upgrade_schema

    label = _database_label()
    try:
        done = upgrade_schema()
    except _database_errors() as exc:
        _fail(f"cannot upgrade the database {label}: {_database_failure(exc)}")
    if done.adopted is not None:
        typer.echo(f"adopted the tables of an earlier build as revision {done.adopted}")
    if done.changed:
        typer.echo(f"upgraded {label} from {done.adopted or done.before or 'an empty database'} to {done.after}")
    else:
        typer.echo(f"{label} is at {done.after} (head); nothing to do")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision (and whether it is the newest)."""
    from aftersales.runtime.db import current_revision, get_engine, head_revision, legacy_revision

    label = _database_label()
    try:
        revision = current_revision()
        legacy = None
        if revision is None:
            with get_engine().connect() as conn:
                legacy = legacy_revision(conn)
    except _database_errors() as exc:
        _fail(f"cannot read the database {label}: {_database_failure(exc)}")
    head = head_revision()
    if revision == head:
        typer.echo(f"{revision} (head)")
    elif revision is not None:
        typer.echo(f"{revision} (head is {head}: run `aftersales db upgrade`)")
    elif legacy is not None:
        typer.echo(f"none (tables of an earlier build matching {legacy}: `aftersales db upgrade` adopts them)")
    else:
        typer.echo("none (empty database: run `aftersales db upgrade`)")


automations_app = typer.Typer(help="Prefect automations on the cases' events (Prefect UI → Automations).",
                              no_args_is_help=True)
app.add_typer(automations_app, name="automations")


@automations_app.command("example")
def automations_example() -> None:
    """Create the example automation "a complaint reached the GM" (once: running it again leaves one)."""
    from aftersales.cases import prefect_view

    name = prefect_view.ensure_gm_complaint_automation()
    typer.echo(f"automation {name!r} is on the Prefect server (Prefect UI → Automations)")


@automations_app.command("recovery")
def automations_recovery() -> None:
    """Create the recovery automations `aftersales up` creates (after `prefect deploy --all`; idempotent)."""
    from aftersales.config.policy import get_policy
    from aftersales.procedures import registry
    from aftersales.runtime.prefect import ensure_recovery_automations

    recovery = get_policy().recovery
    names = ensure_recovery_automations(recovery.heartbeat_seconds, recovery.pending_minutes * 60,
                                        sweep_deployment="escalation-sweep/escalation-sweep",
                                        case_deployments=[p.deployment for p in registry.procedures()])
    typer.echo(f"recovery automations on the Prefect server: {', '.join(names)}")


staff_app = typer.Typer(help="Staff sign-in: local passwords (the embedded default; OpenID Connect needs none).",
                        no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@staff_app.command("set-password")
def staff_set_password(
    staff_id: str = typer.Argument(..., help="The person's id in the staff directory (staff.yaml)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin (one line)."),
) -> None:
    """Set a person's sign-in password (asked twice), stored as an argon2 hash in the project database."""
    from aftersales.access.passwords import set_password
    from aftersales.runtime.db import create_schema

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"new password for {staff_id}: ")
        if getpass.getpass("again: ") != password:
            _fail("the two passwords differ; nothing changed", 2)
    create_schema()
    try:
        set_password(staff_id, password)
    except AftersalesError as exc:
        _fail(f"{exc}; nothing changed", 2)
    typer.echo(f"password of {staff_id} set")


@staff_app.command("demo-passwords", hidden=True)
def staff_demo_passwords() -> None:
    """Demo mode only (`aftersales up`): give everyone without a password the demo password, and print it."""
    from aftersales.access.mode import demo_mode
    from aftersales.access.passwords import check_password, people_with_password, set_password
    from aftersales.config.policy import get_policy
    from aftersales.config.settings import get_settings
    from aftersales.config.staff import get_staff
    from aftersales.runtime.db import create_schema

    if not demo_mode():
        _fail("not in demo mode (real message destinations are configured): set passwords with "
              "`aftersales staff set-password STAFF_ID`", 2)
    create_schema()
    path = get_settings().private_data_dir() / "demo-password"
    if not path.exists():  # kept, so the password printed at the last start still works
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(9))
    password = path.read_text().strip()
    staff = get_staff()
    have = people_with_password()
    for person in staff.people:
        if person.id not in have:
            set_password(person.id, password)
    own = sorted(pid for pid in have if not check_password(pid, password))
    operations = [p for p in staff.people if set(p.roles) & set(get_policy().access.operations)]
    typer.echo("Sign in (demo): " + ", ".join(f"{p.id} ({p.name})" for p in operations) + " see operations; "
               f"everyone in staff.yaml can sign in to their cases. Password: {password}")
    if own:
        typer.echo(f"  ({', '.join(own)} keep the password set with `aftersales staff set-password`)")



def _add_recall_commands() -> None:
    from aftersales.recall.cli import units_app

    app.add_typer(units_app, name="units")


_add_recall_commands()


if __name__ == "__main__":
    app()
