"""The product-unit register: sales records imported all or nothing, upserted by serial, followed by cases."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from aftersales.cases import store
from aftersales.cli import app
from aftersales.config.settings import Settings
from aftersales.runtime.db import session_scope
from models import CaseCreate, ProductUnit
from tests.integration.conftest import REPAIR_CASE

runner = CliRunner()
HEADER = "serial,batch,product_model,customer_ref,customer_name,customer_email,customer_phone,language,sale_date\n"
SOLD = (date.today() - timedelta(days=100)).isoformat()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good_rows(n: int, *, batch: str = "L2026-07", name: str = "王小明") -> list[str]:
    return [f"SN-{i:05d},{batch},XQB80-A,C{i:05d},{name},c{i}@example.com,1390000{i:04d},zh,{SOLD}" for i in range(n)]


def units() -> dict[str, ProductUnit]:
    with session_scope() as session:
        return {u.serial: u for u in session.exec(select(ProductUnit)).all()}


def test_a_good_file_is_imported_with_every_field_and_progress_on_stderr(settings: Settings, tmp_path: Path) -> None:
    file = write(tmp_path / "sales.csv", good_rows(12_000))
    result = runner.invoke(app, ["units", "import", str(file)])
    assert result.exit_code == 0, result.output
    assert "imported 12000 rows from sales.csv: 12000 new, 0 updated, 0 unchanged" in result.stdout
    assert "12000/12000 rows written" in result.stderr
    found = units()
    assert len(found) == 12_000
    unit = found["SN-00042"]
    assert (unit.batch, unit.product_model, unit.customer_ref, unit.customer_email, unit.sale_date, unit.source) == (
        "L2026-07", "XQB80-A", "C00042", "c42@example.com", date.fromisoformat(SOLD), "sales.csv")


def test_a_bad_file_is_refused_row_by_row_and_nothing_is_imported(settings: Settings, tmp_path: Path) -> None:
    lines = good_rows(3000)
    lines[9] = f"SN-X1,L1,XQB80-A,C1,李,not-an-email,,zh,{SOLD}"                    # row 11
    lines[1999] = "SN-X2,L1,XQB80-A,C1,李,,,fr,2999-01-01"                        # row 2001: two problems
    lines[2999] = lines[0]                                                        # row 3001: serial again
    file = write(tmp_path / "bad.csv", lines)
    result = runner.invoke(app, ["units", "import", str(file)])
    assert result.exit_code == 1
    assert "refused bad.csv: 4 problem(s); nothing imported" in result.stderr
    assert "row 11: customer_email:" in result.stderr
    assert "row 2001: language:" in result.stderr
    assert "row 2001: sale_date: Value error, sale date lies in the future" in result.stderr
    assert "row 3001: serial: SN-00000 appears again (first on row 2)" in result.stderr
    assert units() == {}


def test_a_file_with_a_missing_column_is_refused_before_any_row(settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "nobatch.csv"
    file.write_text("serial,product_model,customer_ref,sale_date\nSN-1,XQB80-A,C1,2025-01-01\n", encoding="utf-8")
    result = runner.invoke(app, ["units", "import", str(file)])
    assert result.exit_code == 1
    assert "row 1: header: missing column(s) batch" in result.stderr
    assert units() == {}


def test_a_re_import_changes_nothing_and_a_corrected_file_updates_by_serial(settings: Settings,
                                                                           tmp_path: Path) -> None:
    file = write(tmp_path / "sales.csv", good_rows(50))
    assert runner.invoke(app, ["units", "import", str(file)]).exit_code == 0
    again = runner.invoke(app, ["units", "import", str(file)])
    assert "50 rows from sales.csv: 0 new, 0 updated, 50 unchanged" in again.stdout
    corrected = good_rows(60)
    corrected[3] = corrected[3].replace("L2026-07", "L2026-08")
    write(tmp_path / "sales-v2.csv", corrected)
    result = runner.invoke(app, ["units", "import", str(tmp_path / "sales-v2.csv")])
    assert "60 rows from sales-v2.csv: 10 new, 1 updated, 49 unchanged" in result.stdout
    found = units()
    assert len(found) == 60
    assert (found["SN-00003"].batch, found["SN-00003"].source) == ("L2026-08", "sales-v2.csv")
    assert found["SN-00004"].source == "sales.csv"


def test_a_case_about_a_registered_unit_is_noted_on_the_unit(settings: Settings, tmp_path: Path) -> None:
    write(tmp_path / "sales.csv", good_rows(3))
    assert runner.invoke(app, ["units", "import", str(tmp_path / "sales.csv")]).exit_code == 0
    case = store.open_case(CaseCreate.model_validate({**REPAIR_CASE, "serial_number": "SN-00001"}))
    other = store.open_case(CaseCreate.model_validate({**REPAIR_CASE, "serial_number": "SN-UNKNOWN"}))
    found = units()
    assert found["SN-00001"].last_case == case.number
    assert found["SN-00002"].last_case is None
    assert other.number and len(found) == 3  # a unit not in the register is not invented
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(ProductUnit)).one() == 3


@pytest.mark.parametrize("content", [b"\xff\xfe\x00bad", b""])
def test_an_unreadable_or_empty_file_is_refused(settings: Settings, tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "odd.csv"
    file.write_bytes(content)
    result = runner.invoke(app, ["units", "import", str(file)])
    assert result.exit_code == 1
    assert "nothing imported" in result.stderr
