"""Waits in parallel (a gate group) and recurring waits (a gate per working day) on a real database and SMTP sink,
with a controlled clock; the Prefect API is replaced by a recorder of the run's state and its resumes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from aftersales.config.settings import get_settings
from aftersales.errors import RuleViolation
from aftersales.gates import groups, lifecycle, links, resume, series
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import create_schema, session_scope
from aftersales.sla.sweep import sweep
from models import Case, Escalation, Gate, GateGroup, MailboxMessage
from tests.integration.conftest import free_port, use_database_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
RUN = "6f1c2a4e-0000-4000-8000-000000000011"
# Monday 7 Dec 2026, 09:00 in Shanghai: an ordinary working week.
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database of each engine with the schema, and a free port for the mail sink."""
    monkeypatch.setenv("AFTERSALES_SMTP_PORT", str(free_port()))
    use_database_of(request, tmp_path, monkeypatch)
    create_schema()
    yield request.param
    get_settings.cache_clear()


@dataclass
class Prefect:
    """The run as the Prefect API shows it (suspended on a pause key), and every resume asked for."""

    pause_key: str | None = None
    resumes: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def flow_run_state(self, run_id: str) -> tuple[str, str | None]:
        with self.lock:
            return ("PAUSED", self.pause_key) if self.pause_key else ("RUNNING", None)

    def resume_run(self, run_id: str, run_input: dict[str, Any] | None) -> None:
        with self.lock:
            self.resumes.append((run_id, run_input))
            self.pause_key = None  # running again


@pytest.fixture
def mail(database: str) -> Iterator[MailSink]:
    """The SMTP sink every message of the test goes to."""
    with MailSink() as sink:
        yield sink


@pytest.fixture
def prefect(monkeypatch: pytest.MonkeyPatch) -> Prefect:
    fake = Prefect()
    monkeypatch.setattr(resume, "flow_run_state", fake.flow_run_state)  # groups and series resume through it
    monkeypatch.setattr(resume, "resume_run", fake.resume_run)
    return fake


def new_case() -> int:
    """A case of a procedure no sweep watcher acts on (exchange), so the sweep's reports show only these waits."""
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", customer_email="c@example.com",
                    product_model="PT-3000", problem_description="设备停机", procedure="exchange",
                    number="EX-TEST-00001", opened_at=MONDAY)
        session.add(case)
        session.flush()
        assert case.id is not None
        return case.id


def branch(case_id: int, group_id: int, key: str, kind: str, role: str, *, deadline: datetime | None = None) -> int:
    gate_id = lifecycle.open_gate(case_id=case_id, key=key, kind=kind, input_model="FinanceAuditInput",
                                  flow_run_id=RUN, summary=[], assignee_role=role, now=MONDAY, deadline_at=deadline)
    groups.add_member(group_id, gate_id)
    lifecycle.notify_gate(gate_id, now=MONDAY)
    return gate_id


def answer(gate_id: int, person: str, fields: dict[str, Any], when: datetime) -> None:
    link = links.issue_link(gate_id, person, now=when)
    links.answer_by_link(gate_id, link.split("?t=")[1], fields, now=when)


def gate(gate_id: int) -> Gate:
    with session_scope() as session:
        found = session.get(Gate, gate_id)
        assert found is not None
        return found


APPROVED = {"approved": True, "audited_fee": 100}


def test_a_case_waits_on_three_branches_and_goes_on_once_all_are_answered(mail: MailSink, prefect: Prefect) -> None:
    case_id = new_case()
    group_id = groups.open_group(case_id=case_id, key="before_departure", flow_run_id=RUN,
                                 members=["materials", "tools", "visas"], now=MONDAY)
    materials = branch(case_id, group_id, "materials", "repair.finance_audit", "warehouse",
                       deadline=MONDAY + timedelta(days=3))
    tools = branch(case_id, group_id, "tools", "repair.finance_audit", "production_engineering",
                   deadline=MONDAY + timedelta(days=3))
    visas = branch(case_id, group_id, "visas", "repair.finance_audit", "hr_admin",
                   deadline=MONDAY + timedelta(hours=4))
    prefect.pause_key = groups.group_pause_key("before_departure") + "-0"
    answer(materials, "wu.lei", APPROVED, MONDAY + timedelta(hours=1))
    # The visas are late: that branch alone escalates up its own ladder; the others keep their holders.
    report = sweep(MONDAY + timedelta(hours=5), resend=False, resume=False)
    assert report.escalated == [visas]
    assert {g: gate(g).rung for g in (materials, tools, visas)} == {materials: 0, tools: 0, visas: 1}
    answer(visas, "wang.fang", APPROVED, MONDAY + timedelta(hours=6))
    assert prefect.resumes == [] and not groups.is_joined(group_id)  # the tools are still out
    answer(tools, "zhou.qiang", {"approved": False, "audited_fee": 0, "comment": "no torque wrench"},
           MONDAY + timedelta(hours=7))
    assert prefect.resumes == [(RUN, {"group": "before_departure"})]  # one resume for the whole group
    answers = groups.member_answers(group_id)
    assert list(answers) == ["materials", "tools", "visas"]
    assert answers["tools"] is not None and answers["tools"]["comment"] == "no torque wrench"
    assert groups.retry_groups(MONDAY + timedelta(hours=8)) == []  # the sweep's retry resumes nothing twice


def test_an_answer_while_later_branches_are_still_being_opened_does_not_join_the_group(
        mail: MailSink, prefect: Prefect) -> None:
    case_id = new_case()
    group_id = groups.open_group(case_id=case_id, key="before_departure", flow_run_id=RUN,
                                 members=["materials", "tools"], now=MONDAY)
    materials = branch(case_id, group_id, "materials", "repair.finance_audit", "warehouse")
    prefect.pause_key = groups.group_pause_key("before_departure") + "-0"
    answer(materials, "wu.lei", APPROVED, MONDAY + timedelta(minutes=1))  # the flow has not opened "tools" yet
    assert not groups.is_joined(group_id) and prefect.resumes == []
    assert groups.retry_groups(MONDAY + timedelta(minutes=2)) == [], "nor does the sweep's safety net"
    tools = branch(case_id, group_id, "tools", "repair.finance_audit", "production_engineering")
    answer(tools, "zhou.qiang", APPROVED, MONDAY + timedelta(minutes=3))
    assert groups.is_joined(group_id) and prefect.resumes == [(RUN, {"group": "before_departure"})]


def test_a_named_subset_joins_without_the_other_branches(mail: MailSink, prefect: Prefect) -> None:
    case_id = new_case()
    group_id = groups.open_group(case_id=case_id, key="decision", flow_run_id=RUN, join=["quality", "rnd"],
                                 members=["quality", "rnd", "sales"], now=MONDAY)
    quality = branch(case_id, group_id, "quality", "repair.finance_audit", "quality_qa")
    rnd = branch(case_id, group_id, "rnd", "repair.finance_audit", "rnd")
    sales = branch(case_id, group_id, "sales", "repair.finance_audit", "sales_rep")
    prefect.pause_key = groups.group_pause_key("decision") + "-0"
    answer(quality, "sun.li", APPROVED, MONDAY + timedelta(hours=1))
    assert prefect.resumes == []
    answer(rnd, "zhou.qiang", APPROVED, MONDAY + timedelta(hours=2))
    assert groups.is_joined(group_id) and len(prefect.resumes) == 1
    assert groups.member_answers(group_id)["sales"] is None
    assert gate(sales).status == "waiting"  # its owner is still asked and chased


def test_two_last_answers_at_the_same_moment_resume_the_run_exactly_once(mail: MailSink, prefect: Prefect) -> None:
    case_id = new_case()
    group_id = groups.open_group(case_id=case_id, key="branches", flow_run_id=RUN, now=MONDAY)
    first = branch(case_id, group_id, "a", "repair.finance_audit", "finance")
    second = branch(case_id, group_id, "b", "repair.finance_audit", "finance")
    prefect.pause_key = groups.group_pause_key("branches") + "-0"
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def answer_now(gate_id: int) -> None:
        try:
            barrier.wait()
            answer(gate_id, "zhao.min", APPROVED, MONDAY + timedelta(hours=1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=answer_now, args=(g,)) for g in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    groups.retry_groups(MONDAY + timedelta(hours=2))  # the sweep's safety net joins what a lost race left
    assert len(prefect.resumes) == 1
    with session_scope() as session:
        group = session.get(GateGroup, group_id)
        assert group is not None and group.status == "joined" and group.resumed_at is not None


def test_a_join_naming_a_key_that_is_no_member_is_refused_and_nothing_is_stored(database: str) -> None:
    case_id = new_case()
    with pytest.raises(RuleViolation, match="not members: visa"):
        groups.open_group(case_id=case_id, key="x", flow_run_id=RUN, join=["visa"], members=["tools"])
    with session_scope() as session:
        assert session.exec(select(GateGroup)).all() == []


def test_daily_reports_follow_the_destination_s_working_days_and_a_missed_day_escalates_once(
        mail: MailSink, prefect: Prefect) -> None:
    case_id = new_case()
    # Germany: Thursday 24 Dec 2026 is worked; Fri 25 (Christmas), Sat 26, Sun 27 are not; Mon 28 is.
    series_id = series.open_series(case_id=case_id, key="daily_report", kind="repair.finance_audit",
                                   input_model="DailyReportInput", flow_run_id=RUN, country="DE",
                                   timezone="Europe/Berlin", first_day=date(2026, 12, 24),
                                   assignee_role="production_engineering", now=MONDAY)
    prefect.pause_key = series.series_pause_key("daily_report") + "-0"

    def berlin(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)

    def day_gate(day: str) -> Gate:
        with session_scope() as session:
            found = session.exec(select(Gate).where(Gate.key == f"daily_report@{day}")).first()
            assert found is not None
            return found

    assert sweep(berlin(24, 8, 0), resend=False, resume=False).days_opened == []  # the day has not begun
    (thursday,) = sweep(berlin(24, 9), resend=False, resume=False).days_opened
    answer(thursday, "zhou.qiang", {"progress": "spindle dismantled"}, berlin(24, 16))
    assert prefect.resumes == []  # a day's report resumes nothing
    # Over Christmas and the weekend: no gate, so nothing to miss; Monday opens the 28th only.
    (monday,) = sweep(berlin(28, 9), resend=False, resume=False).days_opened
    assert gate(monday).key == "daily_report@2026-12-28"
    assert sweep(berlin(28, 17, 31), resend=False, resume=False).reminded == [monday]
    late = sweep(berlin(29, 8, 31), resend=False, resume=False)  # Monday's report never came
    assert late.escalated == [monday] and len(late.days_opened) == 1
    again = sweep(berlin(29, 9, 30), resend=False, resume=False)
    assert again.escalated == [] and again.days_opened == []  # once, not at every sweep
    tuesday = day_gate("2026-12-29").id
    assert tuesday is not None
    answer(tuesday, "zhou.qiang", {"progress": "bearing replaced, test run passed", "done": True},
           berlin(29, 15))
    assert prefect.resumes == [(RUN, {"series": "daily_report"})]
    assert series.is_ended(series_id)
    assert [(r["day"], r["status"]) for r in series.reports(series_id)] == [
        ("2026-12-24", "answered"), ("2026-12-28", "ended"), ("2026-12-29", "answered")]
    with session_scope() as session:
        escalations = session.exec(select(Escalation).where(col(Escalation.gate_id) == monday)).all()
        told = session.exec(select(MailboxMessage)).all()
    assert len(escalations) == 1
    assert any("2026-12-28" in m.text for m in told)
    assert sweep(berlin(30, 9), resend=False, resume=False).days_opened == []  # ended: no more days


def test_a_series_whose_report_cannot_end_it_is_refused(database: str) -> None:
    case_id = new_case()
    with pytest.raises(RuleViolation, match="no boolean field 'done'"):
        series.open_series(case_id=case_id, key="daily", kind="repair.finance_audit",
                           input_model="FinanceAuditInput", flow_run_id=None, country="DE",
                           timezone="Europe/Berlin", first_day=date(2026, 12, 24))
