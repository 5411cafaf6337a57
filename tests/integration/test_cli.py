"""The `aftersales` command (Typer CliRunner) on a fresh SQLite file, with Prefect unreachable."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from aftersales.cli import app
from aftersales.config.settings import PROJECT_ROOT, Settings, get_settings
from aftersales.runtime.db import session_scope
from models import Case, CaseEvent, Gate
from tests.integration.conftest import REPAIR_CASE

runner = CliRunner()

CASE: dict[str, Any] = REPAIR_CASE
NUMBER = re.compile(r"RP-\d{8}-\d{5}")




@pytest.fixture
def env(settings: Settings, no_prefect: str) -> Settings:
    return settings


def stored() -> tuple[int, int]:
    """How many cases and history lines the database holds."""
    with session_scope() as session:
        cases = session.exec(select(func.count()).select_from(Case)).one()
        events = session.exec(select(func.count()).select_from(CaseEvent)).one()
    return int(cases), int(events)


def write_case(tmp_path: Path, data: Any, name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def open_case(tmp_path: Path) -> str:
    result = runner.invoke(app, ["open", str(write_case(tmp_path, CASE)), "--no-start"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_open_prints_the_number_and_stores_the_case(env: Settings, tmp_path: Path) -> None:
    result = runner.invoke(app, ["open", str(write_case(tmp_path, CASE)), "--no-start"])
    assert result.exit_code == 0, result.output
    number = result.stdout.strip()
    assert NUMBER.fullmatch(number), result.stdout
    assert result.stderr == ""  # --no-start: no warning about Prefect
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
    assert case.customer_name == CASE["customer_name"] and case.status == "open" and case.flow_run_id is None
    assert stored() == (1, 1)  # the case and its "opened" line; no flow start was tried


def test_open_reads_stdin(env: Settings) -> None:
    result = runner.invoke(app, ["open", "-", "--no-start"], input=json.dumps(CASE, ensure_ascii=False))
    assert result.exit_code == 0, result.output
    assert NUMBER.fullmatch(result.stdout.strip())
    assert stored()[0] == 1


def test_open_without_prefect_stores_the_case_and_warns(env: Settings, tmp_path: Path) -> None:
    started = time.monotonic()
    result = runner.invoke(app, ["open", str(write_case(tmp_path, CASE))])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 15, f"open waited {elapsed:.1f} s on an unreachable Prefect"
    assert NUMBER.fullmatch(result.stdout.strip())
    assert "did not answer" in result.stderr
    assert stored() == (1, 2)  # "opened" and the flow_start_failed notice


def test_show_prints_the_case_and_json(env: Settings, tmp_path: Path) -> None:
    number = open_case(tmp_path)

    shown = runner.invoke(app, ["show", number])
    assert shown.exit_code == 0, shown.output
    first = shown.stdout.splitlines()[0]
    assert number in first and "repair" in first and "open" in first
    assert "opened" in shown.stdout

    as_json = runner.invoke(app, ["show", number, "--json"])
    assert as_json.exit_code == 0, as_json.output
    view = json.loads(as_json.stdout)
    assert view["number"] == number
    assert view["status"] == "open"
    assert view["current_gate"] is None
    assert [line["kind"] for line in view["history"]] == ["opened"]


def test_show_unknown_case_exits_2(env: Settings) -> None:
    result = runner.invoke(app, ["show", "RP-19990101-99999"])
    assert result.exit_code == 2
    assert "RP-19990101-99999" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(None, "no such file", id="missing-file"),
        pytest.param("{not json", "not valid JSON", id="invalid-json"),
        pytest.param({**CASE, "customer_email": "not-an-email"}, "customer_email", id="bad-email"),
        pytest.param({k: v for k, v in CASE.items() if k != "customer_name"}, "customer_name", id="missing-name"),
        pytest.param({**CASE, "purchase_date": (date.today() + timedelta(days=3)).isoformat()}, "purchase_date",
                     id="future-purchase"),
        pytest.param({**CASE, "language": "fr"}, "language", id="unknown-language"),
        pytest.param({**CASE, "procedure": "teleport"}, "unknown procedure", id="procedure-not-registered"),
    ],
)
def test_open_rejects_bad_input_with_exit_2_and_stores_nothing(
    env: Settings, tmp_path: Path, content: Any, expected: str
) -> None:
    path = tmp_path / "missing.json" if content is None else write_case(tmp_path, content)
    result = runner.invoke(app, ["open", str(path), "--no-start"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and expected in result.stderr, result.stderr
    assert result.stdout == ""
    assert stored() == (0, 0)


def test_check_config_reports_the_gates(env: Settings) -> None:
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 0, result.output
    assert re.search(r"\d+ gates", result.stdout), result.stdout
    assert re.search(r"\d+ people, \d+ roles", result.stdout), result.stdout


def add_waiting_gate(case_number: str, deadline_at: datetime, key: str = "triage") -> None:
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.number == case_number)).one()
        assert case.id is not None
        session.add(Gate(case_id=case.id, key=key, kind="repair.triage", input_model="TriageInput",
                         assignee_role="customer_service", deadline_at=deadline_at))


def test_check_config_warns_while_a_waiting_deadline_rests_on_an_estimated_year(env: Settings, tmp_path: Path) -> None:
    number = open_case(tmp_path)
    add_waiting_gate(number, datetime(2026, 12, 30, 9, 30, tzinfo=UTC))
    quiet = runner.invoke(app, ["check-config"])
    assert quiet.exit_code == 0, quiet.output
    assert "warning" not in quiet.stderr and "estimate" not in quiet.stderr, quiet.stderr
    assert "chinesecalendar" in quiet.stdout and "holidays estimate" in quiet.stdout, quiet.stdout

    add_waiting_gate(number, datetime(2027, 1, 5, 9, 30, tzinfo=UTC), key="plan")
    warned = runner.invoke(app, ["check-config"])
    assert warned.exit_code == 0, warned.output
    assert "warning: 1 waiting step(s) have deadlines in 2027" in warned.stderr, warned.stderr
    # ... and it says how to add the official schedule: the override file with an example year.
    assert "calendar.overrides_file" in warned.stderr
    assert "years: [2027]" in warned.stderr and "- {from: 2027-02-05, to: 2027-02-11}" in warned.stderr


def test_calendar_lists_new_year_and_spring_festival_2027_with_their_source(env: Settings) -> None:
    result = runner.invoke(app, ["calendar", "2027"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "ESTIMATE" in lines[0], lines[0]
    new_year = next(line for line in lines if line.strip().startswith("2027-01-01"))
    assert "New Year" in new_year and new_year.rstrip().endswith("holidays-estimate"), new_year
    festival = [line for line in lines if "Spring Festival" in line]
    assert festival and all(line.rstrip().endswith("holidays-estimate") for line in festival), festival
    assert "Make-up working days" in result.stdout

    as_json = runner.invoke(app, ["calendar", "2027", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["year"] == 2027 and data["source"] == "holidays-estimate" and data["estimated"] is True
    rest = {day["date"]: day for day in data["holidays"]}
    assert rest["2027-01-01"] == {"date": "2027-01-01", "weekday": "Fri", "name": "New Year's Day",
                                  "source": "holidays-estimate"}
    assert "Spring Festival" in rest["2027-02-08"]["name"]
    assert data["workdays"] == []


def test_calendar_of_a_published_year_shows_make_up_days(env: Settings) -> None:
    data = json.loads(runner.invoke(app, ["calendar", "2026", "--json"]).stdout)
    assert data["source"] == "chinesecalendar" and data["estimated"] is False
    assert {"date": "2026-02-14", "weekday": "Sat", "name": "Spring Festival", "source": "chinesecalendar"} \
        in data["workdays"]


@pytest.mark.parametrize("year", ["2101", "0"])
def test_calendar_of_a_year_out_of_range_exits_2(env: Settings, year: str) -> None:
    result = runner.invoke(app, ["calendar", year])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and year in result.stderr, result.stderr
    assert result.stdout == ""


BROKEN = [
    pytest.param("gates: [unclosed\n", "not valid YAML", id="invalid-yaml"),
    pytest.param(None, "policy file not found", id="missing-file"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_check_config_names_an_unreadable_policy(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | None, expected: str
) -> None:
    policy = tmp_path / "policy.yaml"
    if text is not None:
        policy.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AFTERSALES_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and str(policy) in result.stderr, result.stderr


def test_check_config_names_the_invalid_policy_value(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    shutil.copy(PROJECT_ROOT / "policy.yaml", policy)
    text = policy.read_text(encoding="utf-8")
    broken, count = re.subn(r"(?m)^(\s*months:\s*)\d+", r"\g<1>-1", text, count=1)
    assert count == 1, "the shipped policy has no warranty months to break"
    policy.write_text(broken, encoding="utf-8")
    monkeypatch.setenv("AFTERSALES_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 2, result.output
    assert "not a valid policy" in result.stderr and "warranty.months" in result.stderr, result.stderr


def test_sweep_on_an_empty_database_does_nothing(env: Settings) -> None:
    result = runner.invoke(app, ["sweep"])
    assert result.exit_code == 0, result.output
    assert "reminded 0" in result.stdout
    assert "escalated 0" in result.stdout and "errors 0" in result.stdout
    assert stored() == (0, 0)


# ---- outside failures and configuration errors: one line, no traceback --------------------------------------


def test_show_with_an_unreachable_database_prints_one_line_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.conftest import free_port

    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"postgresql://u:secret@127.0.0.1:{free_port()}/x")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["show", "RP-19990101-99999"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: database unavailable (postgresql://u:***@127.0.0.1:"), lines[0]
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_an_integration_error_prints_its_first_line_and_exits_1(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.errors import IntegrationError
    from aftersales.sla import sweep as sweep_module

    def unreachable() -> None:
        raise IntegrationError("Prefect API unreachable: connection refused\n  (details of the attempt)")

    monkeypatch.setattr(sweep_module, "sweep", unreachable)
    result = runner.invoke(app, ["sweep"])
    assert result.exit_code == 1, result.output
    assert result.stderr == "error: Prefect API unreachable: connection refused\n"


def test_check_config_names_the_file_and_key_of_an_unknown_role(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    text = (PROJECT_ROOT / "policy.yaml").read_text(encoding="utf-8")
    broken, count = re.subn(r"(?m)^(  repair\.triage:\n    role: )\S+", r"\g<1>astronaut", text)
    assert count == 1, "the shipped policy has no repair.triage role to break"
    policy.write_text(broken, encoding="utf-8")
    monkeypatch.setenv("AFTERSALES_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    result = runner.invoke(app, ["check-config"])
    assert result.exit_code == 2, result.output
    assert f"error: {policy}: gates.repair.triage.role: unknown role 'astronaut'" in result.stderr, result.stderr
