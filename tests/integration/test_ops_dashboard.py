"""The operations dashboard, on-time rates and acting on a waiting step, through the real app on a fresh SQLite file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from aftersales.cases import dashboard as board
from aftersales.config.settings import Settings, get_settings
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.web.app import create_app
from models import Case, CaseEvent, Escalation, Gate, GateToken, MailboxMessage, Notification
from tests.signin import sign_in

# Wednesday 2025-06-11 10:00 in Shanghai (02:00 UTC): a working day; due soon = before 14:00 (4 working hours).
NOW = datetime(2025, 6, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Every page reads this instant as now."""
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


@pytest.fixture
def ops_client(settings: Settings, frozen: datetime) -> Iterator[TestClient]:
    """The app as operations staff use it: signed in as the supervisor (chen.jing, tests/signin.py)."""
    with TestClient(create_app()) as client:
        sign_in(client)
        yield client


def make_case(number: str, procedure: str = "repair", *, opened: datetime = NOW - timedelta(days=1),
              closed: bool = False) -> int:
    with session_scope() as session:
        case = Case(number=number, procedure=procedure, status="closed" if closed else "open", customer_name="王小明",
                    customer_phone="13912345678", product_model="XQB80-A", problem_description="不排水",
                    opened_at=opened, closed_at=NOW if closed else None)
        session.add(case)
        session.flush()
        assert case.id is not None
        return case.id


def make_gate(case_id: int, *, deadline: datetime, kind: str = "repair.triage", key: str = "triage",
              role: str = "customer_service", person: str | None = None, rung: int = 0, status: str = "waiting",
              answered: datetime | None = None, input_model: str = "TriageInput") -> int:
    with session_scope() as session:
        gate = Gate(case_id=case_id, key=key, kind=kind, input_model=input_model, assignee_role=role,
                    assignee_person=person, customer_gate=role == "customer", rung=rung, status=status,
                    opened_at=deadline - timedelta(hours=2), deadline_at=deadline, answered_at=answered,
                    context={"summary": [{"label": "产品型号", "value": "XQB80-A"}]})
        session.add(gate)
        session.flush()
        assert gate.id is not None
        return gate.id


def three_gates() -> dict[str, int]:
    """A late, a due-soon and an on-time step of three repair cases."""
    late = make_gate(make_case("RP-1"), deadline=NOW - timedelta(hours=1), rung=1)
    soon = make_gate(make_case("RP-2"), deadline=NOW + timedelta(hours=3), person="li.na")
    # Thursday 10:00 Shanghai: 7.5 working hours today (10:00-17:30) and 1.5 tomorrow (08:30-10:00).
    on_time = make_gate(make_case("RP-3"), deadline=NOW + timedelta(days=1), kind="repair.plan", key="plan",
                        role="service_engineer")
    return {"late": late, "soon": soon, "on_time": on_time}


def gate(gate_id: int) -> Gate:
    with session_scope() as session:
        found = session.get(Gate, gate_id)
        assert found is not None
        return found


def events(kind: str) -> list[CaseEvent]:
    with session_scope() as session:
        return list(session.exec(select(CaseEvent).where(CaseEvent.kind == kind)).all())


def row_of(page: str, gate_id: int) -> str:
    start = page.index(f'data-gate="{gate_id}"')
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]


# --- SLA state with a controlled clock ---------------------------------------------------------------------------


def test_each_waiting_step_is_late_due_soon_or_on_time_with_its_business_time_left(settings: Settings) -> None:
    ids = three_gates()
    at = board.sla_clock(NOW)
    assert at.soon == datetime(2025, 6, 11, 6, 0, tzinfo=UTC)  # 14:00 Shanghai: 4 working hours on
    page = board.waiting_steps(board.Filters(), at)
    states = {r.gate_id: (r.state, r.business_left, r.late_by) for r in page.rows}
    assert states == {
        ids["late"]: ("late", timedelta(0), timedelta(hours=1)),
        ids["soon"]: ("due_soon", timedelta(hours=3), timedelta(0)),
        ids["on_time"]: ("on_time", timedelta(hours=9), timedelta(0)),
    }
    assert [r.gate_id for r in page.rows] == [ids["late"], ids["soon"], ids["on_time"]]  # nearest deadline first
    counts = board.overview(board.Filters(), at)
    assert (counts.waiting, counts.late, counts.due_soon) == (3, 1, 1)
    # An hour later the due-soon step is still due soon; after its deadline it is late.
    later = board.waiting_steps(board.Filters(), board.sla_clock(NOW + timedelta(hours=4))).rows
    assert [r.state for r in later] == ["late", "late", "on_time"]


def test_the_dashboard_colours_each_row_by_its_sla_state(ops_client: TestClient) -> None:
    ids = three_gates()
    page = ops_client.get("/ops")
    assert page.status_code == 200
    assert 'class="late"' in row_of(page.text, ids["late"]) and "已超时 overdue 1h 0m" in row_of(page.text, ids["late"])
    assert 'class="due_soon"' in row_of(page.text, ids["soon"]) and "3h 0m" in row_of(page.text, ids["soon"])
    assert 'class="on_time"' in row_of(page.text, ids["on_time"]) and "9h 0m" in row_of(page.text, ids["on_time"])
    assert "等待中 waiting: <b>3</b>" in page.text and "即将到期 due soon: <b>1</b>" in page.text


def test_counts_by_step_by_assignee_and_by_role(settings: Settings) -> None:
    three_gates()
    idle = make_case("CP-9", "complaint")
    closed = make_case("RP-8", closed=True)
    make_gate(closed, deadline=NOW - timedelta(days=3))  # a closed case's leftover step is not counted
    counts = board.overview(board.Filters(), board.sla_clock(NOW))
    steps = {(t.procedure, t.key): (t.total, t.late, t.due_soon, t.on_time) for t in counts.steps}
    assert steps == {("repair", "repair.triage"): (2, 1, 1, 0), ("repair", "repair.plan"): (1, 0, 0, 1),
                     ("complaint", ""): (1, 0, 0, 1)} and idle
    people = {t.key: (t.total, t.late) for t in counts.people}
    assert people == {"li.na": (1, 0), "role:customer_service": (1, 1), "role:service_engineer": (1, 0)}
    roles = {t.key: (t.total, t.late, t.due_soon) for t in counts.roles}
    assert roles == {"customer_service": (2, 1, 1), "service_engineer": (1, 0, 0)}
    assert counts.idle == 1


# --- filters in the URL ------------------------------------------------------------------------------------------


def test_filters_narrow_every_list_and_stay_in_the_url(ops_client: TestClient) -> None:
    ids = three_gates()
    other = make_gate(make_case("CP-1", "complaint"), deadline=NOW - timedelta(hours=5),
                      kind="complaint.first_response", key="first_response", role="customer_service")
    page = ops_client.get("/ops", params={"procedure": "repair", "late": "1"})
    assert page.status_code == 200
    text = page.text
    assert f'data-gate="{ids["late"]}"' in text
    assert f'data-gate="{other}"' not in text and f'data-gate="{ids["soon"]}"' not in text
    assert '<option value="repair" selected>' in text and 'name="late" value="1" checked' in text
    # Group links keep the filters and add their own.
    links = [parse_qs(urlsplit(href).query) for href in _hrefs(text) if href.startswith("/ops?")]
    assert {"procedure": ["repair"], "late": ["1"], "role": ["customer_service"]} in links
    assert all(q.get("late") == ["1"] for q in links if "offset" not in q)


def _hrefs(text: str) -> list[str]:
    import html
    import re

    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]


@pytest.mark.parametrize(("params", "expected"), [
    ({"person": "li.na"}, {"soon", "late"}),  # named on it, or holding the role while nobody is named
    ({"role": "service_engineer"}, {"on_time"}),
    ({"step": "repair.triage"}, {"late", "soon"}),
    ({"escalated": "1"}, {"late"}),
    ({"since": "2025-06-10", "until": "2025-06-10"}, {"late", "soon", "on_time"}),
    ({"since": "2025-06-11"}, set()),
])
def test_each_filter(ops_client: TestClient, params: dict[str, str], expected: set[str]) -> None:
    ids = three_gates()
    text = ops_client.get("/ops", params=params).text
    shown = {name for name, gate_id in ids.items() if f'data-gate="{gate_id}"' in text}
    assert shown == expected


@pytest.mark.parametrize(("params", "message"), [
    ({"person": "nobody"}, "no person &#39;nobody&#39;"),
    ({"since": "yesterday"}, "since: &#39;yesterday&#39; is not a date"),
    ({"since": "2025-06-12", "until": "2025-06-01"}, "ends (2025-06-01) before it starts"),
    ({"procedure": "teleport"}, "no procedure &#39;teleport&#39;"),
])
def test_a_bad_filter_is_a_400_page_saying_why(ops_client: TestClient, params: dict[str, str], message: str) -> None:
    page = ops_client.get("/ops", params=params)
    assert page.status_code == 400 and message in page.text


def test_escalations_of_the_last_days_failed_messages_and_cases_needing_attention(ops_client: TestClient) -> None:
    ids = three_gates()
    case_id = gate(ids["late"]).case_id
    with session_scope() as session:
        session.add(Escalation(gate_id=ids["late"], case_id=case_id, from_role="customer_service",
                               to_role="after_sales_supervisor", rung=1, reason="deadline passed", at=NOW))
        session.add(Escalation(gate_id=ids["late"], case_id=case_id, from_role="customer_service",
                               to_role="after_sales_supervisor", rung=1, reason="an old one",
                               at=NOW - timedelta(days=9)))
        session.add(Notification(key="n1", case_id=case_id, template="gate_request", recipient="li.na",
                                 channel="mailto", destination="mailto://li.na@example.com", attempts=3,
                                 status="failed", last_error="Connection refused"))
        attention = session.get(Case, gate(ids["soon"]).case_id)
        assert attention is not None
        attention.needs_attention_at, attention.attention_error = NOW, "crashed 3 times"
        session.add(attention)
    text = ops_client.get("/ops").text
    assert "deadline passed" in text and "an old one" not in text
    assert "售后服务管理师 / 督查员" in text  # the rung's role
    assert "1 message failed to send" in text and "Connection refused" in text
    assert "crashed 3 times" in text and "1 case needs attention" in text
    assert "an old one" in ops_client.get("/ops", params={"days": "10"}).text


# --- on-time rates -----------------------------------------------------------------------------------------------


def known_history() -> None:
    """Repair triage: 3 answered on time, 1 late, 1 missed (still waiting past its deadline); complaint: 1 of 2."""
    day = NOW - timedelta(days=3)
    for i, answered_after in enumerate([-2, -1, -0.5, 1]):
        make_gate(make_case(f"RP-H{i}", closed=True), deadline=day, answered=day + timedelta(hours=answered_after),
                  status="answered")
    make_gate(make_case("RP-H9"), deadline=day)  # late without an answer
    make_gate(make_case("RP-H8"), deadline=NOW + timedelta(days=2))  # still in time: not counted
    make_gate(make_case("RP-OLD", closed=True), deadline=NOW - timedelta(days=60),
              answered=NOW - timedelta(days=61), status="answered")  # outside the period
    for i, answered_after in enumerate([-3, 2]):
        make_gate(make_case(f"CP-H{i}", "complaint", closed=True), deadline=day, kind="complaint.first_response",
                  key="first_response", answered=day + timedelta(hours=answered_after), status="answered")


def test_on_time_rates_per_procedure_and_step_on_known_data(settings: Settings) -> None:
    known_history()
    per_procedure, per_step = board.on_time_rates(date(2025, 6, 1), date(2025, 6, 11), now=NOW)
    assert [(r.procedure, r.counted, r.on_time, r.late) for r in per_procedure] == [
        ("complaint", 2, 1, 1), ("repair", 5, 3, 2)]
    assert [(r.step, r.rate) for r in per_step] == [("complaint.first_response", 0.5), ("repair.triage", 0.6)]
    only = board.on_time_rates(date(2025, 6, 1), date(2025, 6, 11), now=NOW, procedure="complaint")[0]
    assert [r.procedure for r in only] == ["complaint"]


def test_the_on_time_page_has_a_chart_the_definition_and_a_csv_of_the_same_figures(ops_client: TestClient) -> None:
    known_history()
    page = ops_client.get("/ops/on-time", params={"from": "2025-06-01", "to": "2025-06-11"})
    assert page.status_code == 200
    assert page.text.count("<svg") == 2 and "60.0% (3/5)" in page.text and "<script" not in page.text
    assert "answered before its deadline" in page.text
    assert 'href="/ops/on-time.csv?from=2025-06-01&amp;to=2025-06-11"' in page.text
    export = ops_client.get("/ops/on-time.csv", params={"from": "2025-06-01", "to": "2025-06-11"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["scope"], r["procedure"], r["step"], r["counted"], r["on_time"], r["late"], r["on_time_rate"])
            for r in rows] == [
        ("procedure", "complaint", "", "2", "1", "1", "0.5000"),
        ("procedure", "repair", "", "5", "3", "2", "0.6000"),
        ("step", "complaint", "complaint.first_response", "2", "1", "1", "0.5000"),
        ("step", "repair", "repair.triage", "5", "3", "2", "0.6000"),
    ]
    assert ops_client.get("/ops/on-time.csv", params={"from": "2025-06-12", "to": "2025-06-01"}).status_code == 400


# --- the case page -----------------------------------------------------------------------------------------------


def test_the_case_page_links_its_prefect_flow_run_and_the_actions_on_its_waiting_step(
        ops_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = three_gates()
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.number == "RP-1")).one()
        case.flow_run_id = "1b7e2c1e-0000-4000-8000-000000000001"
        session.add(case)
    monkeypatch.setenv("AFTERSALES_PREFECT_UI_URL", "https://prefect.example.com/")
    get_settings.cache_clear()
    page = ops_client.get("/cases/RP-1").text
    assert 'href="https://prefect.example.com/runs/flow-run/1b7e2c1e-0000-4000-8000-000000000001"' in page
    assert f'href="/cases/RP-1/gates/{ids["late"]}/act"' in page
    monkeypatch.delenv("AFTERSALES_PREFECT_UI_URL")
    get_settings.cache_clear()
    assert get_settings().effective_prefect_ui_url == "http://127.0.0.1:4200"  # the API's server by default


# --- reassign ----------------------------------------------------------------------------------------------------


def test_reassigning_records_the_reason_changes_the_holder_and_sends_a_fresh_link(ops_client: TestClient) -> None:
    ids = three_gates()
    gate_id = ids["late"]
    from aftersales.gates.links import issue_link

    earlier_link = issue_link(gate_id, "li.na", now=NOW)
    with MailSink():
        answer = ops_client.post(f"/cases/RP-1/gates/{gate_id}/reassign",
                                 data={"person": "zhang.wei", "reason": "李娜休假 on leave"})
    assert answer.status_code == 200, answer.text
    assert "Handed to 张伟 (zhang.wei)" in answer.text
    assert gate(gate_id).assignee_person == "zhang.wei" and gate(gate_id).status == "waiting"
    [line] = events("reassigned")
    assert line.actor == "陈静 (chen.jing)" and "李娜休假 on leave" in line.summary
    assert line.data["reason"] == "李娜休假 on leave" and line.data["to_person"] == "zhang.wei"
    with session_scope() as session:
        mails = session.exec(select(MailboxMessage)).all()
    assert [m.rcpt_to for m in mails] == ["zhang.wei@example.com"]
    assert f"/gates/{gate_id}?t=" in mails[0].text
    # The earlier holder's link no longer answers the step.
    from aftersales.gates import links, tokens

    token = parse_qs(urlsplit(earlier_link).query)["t"][0]
    with pytest.raises(tokens.LinkRefused):
        links.check_link(gate_id, token, now=NOW + timedelta(seconds=1))
    history = ops_client.get("/cases/RP-1").text
    assert "李娜休假 on leave" in history


def snapshot(gate_id: int) -> tuple[Any, ...]:
    with session_scope() as session:
        g = session.get(Gate, gate_id)
        assert g is not None
        return (g.assignee_person, g.status, g.answer, g.answered_by,
                len(session.exec(select(CaseEvent)).all()), len(session.exec(select(Notification)).all()),
                len(session.exec(select(GateToken).where(col(GateToken.used_at).is_not(None))).all()))


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"person": "zhang.wei", "reason": "   "}, 422, "a reason is required"),
    ({"person": "nobody", "reason": "why"}, 422, "no person &#39;nobody&#39;"),
    ({"person": "li.na", "reason": "why"}, 422, "already holds this step"),
])
def test_reassigning_without_a_reason_to_an_unknown_person_changes_nothing(
        ops_client: TestClient, form: dict[str, str], status: int, message: str) -> None:
    gate_id = three_gates()["soon"]
    before = snapshot(gate_id)
    answer = ops_client.post(f"/cases/RP-2/gates/{gate_id}/reassign", data=form)
    assert answer.status_code == status and message in answer.text
    assert snapshot(gate_id) == before


def test_an_answered_step_cannot_be_reassigned_or_answered_again(ops_client: TestClient) -> None:
    case_id = make_case("RP-5")
    gate_id = make_gate(case_id, deadline=NOW, status="answered", answered=NOW)
    before = snapshot(gate_id)
    moved = ops_client.post(f"/cases/RP-5/gates/{gate_id}/reassign",
                            data={"person": "zhang.wei", "reason": "why"})
    assert moved.status_code == 409 and "answered, not waiting" in moved.text
    again = ops_client.post(f"/cases/RP-5/gates/{gate_id}/answer",
                            data={"for_person": "li.na", "reason": "why"})
    assert again.status_code == 409 and "answered, not waiting" in again.text
    assert snapshot(gate_id) == before
    assert ops_client.post(f"/cases/RP-404/gates/{gate_id}/reassign", data={}).status_code == 404


# --- answer on behalf --------------------------------------------------------------------------------------------

TRIAGE = {"urgent": "false", "complexity": "general", "man_made_damage": "false", "warranty": "auto",
          "remote_possible": "true"}


def test_answering_on_behalf_records_who_acted_for_whom_and_why(ops_client: TestClient) -> None:
    gate_id = three_gates()["late"]  # waits on the role customer_service: 李娜 holds it
    page = ops_client.get(f"/cases/RP-1/gates/{gate_id}/act")
    assert page.status_code == 200 and 'name="for_person"' in page.text and 'name="complexity"' in page.text
    answer = ops_client.post(f"/cases/RP-1/gates/{gate_id}/answer",
                             data={**TRIAGE, "for_person": "li.na", "reason": "answered by phone"})
    assert answer.status_code == 200, answer.text
    done = gate(gate_id)
    assert done.status == "answered" and done.answered_via == "on_behalf" and done.answered_person == "li.na"
    assert done.answered_by == "陈静 (chen.jing) on behalf of 李娜 (li.na)"
    assert done.answer is not None and done.answer["complexity"] == "general"
    [line] = events("on_behalf")
    assert line.data == {"gate_id": gate_id, "for_person": "li.na", "reason": "answered by phone"}
    [answered] = events("gate_answered")
    assert "answered by phone" in answered.summary and answered.actor.startswith("陈静 (chen.jing) on behalf of")
    assert done.resumed_at is not None  # no flow waits on this test gate: its answer is kept on the case


@pytest.mark.parametrize(("form", "status", "message"), [
    ({**TRIAGE, "for_person": "li.na", "reason": ""}, 422, "a reason is required"),
    ({**TRIAGE, "for_person": "ghost", "reason": "why"}, 422, "no person &#39;ghost&#39;"),
    ({**TRIAGE, "for_person": "zhang.wei", "reason": "why"}, 422,
     "does not hold this step"),
    ({**TRIAGE, "complexity": "galactic", "for_person": "li.na", "reason": "why"}, 422,
     "The answer has errors"),
])
def test_answering_on_behalf_refuses_bad_input_and_changes_nothing(
        ops_client: TestClient, form: dict[str, str], status: int, message: str) -> None:
    gate_id = three_gates()["late"]
    before = snapshot(gate_id)
    answer = ops_client.post(f"/cases/RP-1/gates/{gate_id}/answer", data=form)
    assert answer.status_code == status and message in answer.text
    assert snapshot(gate_id) == before


# --- the command line --------------------------------------------------------------------------------------------


def test_aftersales_gates_late_lists_the_late_steps_as_json_and_as_a_table(settings: Settings,
                                                                           frozen: datetime) -> None:
    from typer.testing import CliRunner

    from aftersales.cli import app

    ids = three_gates()
    done = CliRunner().invoke(app, ["gates", "--late", "--json"])
    assert done.exit_code == 0, done.output
    listed = json.loads(done.stdout)
    assert listed["total"] == 1 and [g["gate_id"] for g in listed["gates"]] == [ids["late"]]
    assert listed["gates"][0]["state"] == "late" and listed["gates"][0]["late_by_minutes"] == 60
    table = CliRunner().invoke(app, ["gates", "--person", "li.na"])
    assert table.exit_code == 0, table.output
    assert "RP-1" in table.stdout and "RP-2" in table.stdout and "RP-3" not in table.stdout
    assert "late" in table.stdout and "due soon" in table.stdout and "3h 0m" in table.stdout


def test_aftersales_cases_lists_open_cases_with_their_step_and_the_same_filters(settings: Settings,
                                                                                frozen: datetime) -> None:
    from typer.testing import CliRunner

    from aftersales.cli import app

    three_gates()
    make_case("CP-7", "complaint")
    everything = json.loads(CliRunner().invoke(app, ["cases", "--json"]).stdout)
    assert {c["number"]: (c["waiting"] or {}).get("state") for c in everything} == {
        "RP-1": "late", "RP-2": "due_soon", "RP-3": "on_time", "CP-7": None}
    narrowed = CliRunner().invoke(app, ["cases", "--procedure", "repair", "--escalated"])
    assert narrowed.exit_code == 0 and "RP-1" in narrowed.stdout and "RP-2" not in narrowed.stdout
    dated = json.loads(CliRunner().invoke(app, ["cases", "--since", "2025-06-11", "--json"]).stdout)
    assert dated == []
    wrong = CliRunner().invoke(app, ["gates", "--person", "nobody"])
    assert wrong.exit_code == 2 and "no person 'nobody'" in wrong.output


# --- both engines ------------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_db(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database of each engine, migrated to head."""
    from aftersales.runtime.db import create_schema
    from tests.integration.conftest import use_database_of

    use_database_of(request, tmp_path, monkeypatch)
    create_schema()
    yield request.param
    get_settings.cache_clear()


def test_the_dashboard_queries_give_the_same_figures_on_sqlite_and_postgresql(engine_db: str) -> None:
    ids = three_gates()
    known_history()
    at = board.sla_clock(NOW)
    counts = board.overview(board.Filters(person="li.na"), at)
    assert (counts.waiting, counts.late, counts.due_soon) == (4, 2, 1)  # RP-1, RP-2, RP-H8 and the missed RP-H9
    assert [r.gate_id for r in board.waiting_steps(board.Filters(escalated=True), at).rows] == [ids["late"]]
    assert [c.number for c in board.open_cases(board.Filters(late=True), at)] == ["RP-1", "RP-H9"]
    per_procedure, _ = board.on_time_rates(date(2025, 6, 1), date(2025, 6, 11), now=NOW)
    # RP-1 of three_gates() counts too: its deadline passed in the period without an answer.
    assert [(r.procedure, r.counted, r.on_time) for r in per_procedure] == [("complaint", 2, 1), ("repair", 6, 3)]
