"""The project's own data on both engines it supports: SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from aftersales.cases import store as cases
from aftersales.cases.view import case_view
from aftersales.config.settings import get_settings
from aftersales.gates import lifecycle, links
from aftersales.gates.tokens import LinkRefused
from aftersales.runtime.db import create_schema, session_scope
from models import CaseCreate, CaseEvent, Gate
from tests.integration.conftest import use_database_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Settings pointing at a fresh database of each engine, schema created."""
    use_database_of(request, tmp_path, monkeypatch)
    create_schema()
    yield request.param
    get_settings.cache_clear()


def a_case() -> CaseCreate:
    return CaseCreate(customer_name="客户", customer_phone="13900000000", customer_email="c@example.com",
                      product_model="PT-3000", problem_description="无法开机", purchase_date=date(2025, 1, 2))


def test_cases_get_unique_numbers_and_read_back_with_aware_times(database: str) -> None:
    first, second = cases.open_case(a_case()), cases.open_case(a_case())
    assert first.number != second.number and first.number and first.number.startswith("RP-")
    view = case_view(first.number)
    assert datetime.fromisoformat(view["opened_at"]).tzinfo is not None
    assert [h["kind"] for h in view["history"]] == ["opened"]


def test_a_gate_opens_once_per_key_with_its_policy_deadline(database: str) -> None:
    case = cases.open_case(a_case())
    assert case.id is not None
    monday_9 = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    summary = [{"label": "产品型号", "value": "PT-3000"}]
    gate_id = lifecycle.open_gate(case_id=case.id, key="triage", kind="repair.triage", input_model="TriageInput",
                              flow_run_id=None, summary=summary, now=monday_9)
    again = lifecycle.open_gate(case_id=case.id, key="triage", kind="repair.triage", input_model="TriageInput",
                            flow_run_id=None, summary=summary, now=monday_9 + timedelta(hours=1))
    assert again == gate_id
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None
    assert gate.deadline_at == monday_9 + timedelta(hours=2)  # F2:285: 2 natural hours
    assert gate.remind_at == monday_9 + timedelta(minutes=90)


def test_a_link_answers_once_even_when_submitted_twice_at_the_same_moment(database: str) -> None:
    case = cases.open_case(a_case())
    assert case.id is not None
    gate_id = lifecycle.open_gate(case_id=case.id, key="triage", kind="repair.triage", input_model="TriageInput",
                              flow_run_id=None, summary=[])
    link = links.issue_link(gate_id, "li.na")
    token = link.split("?t=", 1)[1]
    outcomes: list[str] = []

    def submit() -> None:
        try:
            links.answer_by_link(gate_id, token, {"urgent": True})
            outcomes.append("answered")
        except LinkRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("answered") == 1, outcomes
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        answered = session.exec(select(CaseEvent).where(CaseEvent.kind == "gate_answered")).all()
    assert gate is not None and gate.status == "answered" and gate.answer and gate.answer["urgent"] is True
    assert gate.answered_by == "李娜 (li.na)" and gate.answered_via == "link"
    assert len(answered) == 1


def test_history_lines_are_recorded_once_per_key(database: str) -> None:
    case = cases.open_case(a_case())
    assert case.id is not None
    assert cases.record_event(case.id, "step-1", "progress", "first") is True
    assert cases.record_event(case.id, "step-1", "progress", "replayed") is False
    assert [h["summary"] for h in case_view(case.number or "")["history"]][-1] == "first"
