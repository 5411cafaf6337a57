"""The product-unit register: importing the sales records (all rows or none) and linking cases to units."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from aftersales.runtime import clock
from aftersales.runtime.db import get_engine
from models.case import DEFAULT_LANGUAGE, Language
from models.recall import ProductUnit
from models.safe_input import printable
from models.types import plausible_date

COLUMNS = ("serial", "batch", "product_model", "customer_ref", "customer_name", "customer_email", "customer_phone",
           "language", "sale_date")
REQUIRED = ("serial", "batch", "product_model", "customer_ref", "sale_date")
CHUNK = 1000  # rows written per statement; progress is reported after each
MAX_ROWS_REPORTED = 200  # a refusal names at most this many problems (a wholly wrong file would list them all)

Progress = Callable[[int, int], None]


class UnitRow(BaseModel):
    """One row of the sales records, validated (the register's columns)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    serial: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    batch: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    product_model: str = Field(min_length=1, max_length=80)
    customer_ref: str = Field(min_length=1, max_length=80)
    customer_name: str = Field(default="", max_length=120)
    customer_email: EmailStr | None = None
    customer_phone: str | None = Field(default=None, max_length=40)
    language: Language = DEFAULT_LANGUAGE
    sale_date: date

    @field_validator("customer_email", "customer_phone", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("language", mode="before")
    @classmethod
    def _blank_is_chinese(cls, value: Any) -> Any:
        return "zh" if isinstance(value, str) and not value.strip() else value

    @field_validator("sale_date")
    @classmethod
    def _sale_date_plausible(cls, value: date) -> date:
        plausible_date(value, "sale date")
        return value

    @field_validator("product_model", "customer_ref", "customer_name", "customer_phone")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and printable(value) != value:
            raise ValueError("contains control characters")
        return value


@dataclass(frozen=True)
class RowProblem:
    """Why one row (numbered as in the file, the header being row 1) was refused."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


class ImportRefused(ValueError):
    """The file was refused as a whole: nothing was imported. `problems` lists every bad row."""

    def __init__(self, problems: Sequence[RowProblem], total_bad: int) -> None:
        self.problems = list(problems)
        self.total_bad = total_bad
        more = f" (first {len(problems)} shown)" if total_bad > len(problems) else ""
        super().__init__(f"{total_bad} problem(s){more}; nothing imported")


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    source: str = ""
    problems: list[RowProblem] = field(default_factory=list)


def read_rows(text: str) -> tuple[list[UnitRow], list[RowProblem], int]:
    """Every row validated: the good rows, the problems (at most MAX_ROWS_REPORTED) and how many there were."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    problems: list[RowProblem] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown or not header:
        detail = "; ".join(part for part in (
            f"missing column(s) {', '.join(missing)}" if missing else "",
            f"unknown column(s) {', '.join(printable(c) for c in unknown)}" if unknown else "") if part)
        raise ImportRefused([RowProblem(1, "header", detail or "the file has no header")], 1)
    reader.fieldnames = header
    rows: list[UnitRow] = []
    seen: dict[str, int] = {}
    total_bad = 0
    for number, raw in enumerate(reader, start=2):
        if None in raw:  # more cells than the header has columns
            total_bad += 1
            _keep(problems, RowProblem(number, "row", f"{len(raw[None])} cell(s) more than the header"))  # type: ignore[index]
            continue
        try:
            row = UnitRow.model_validate({k: v for k, v in raw.items() if v is not None})
        except ValidationError as exc:
            for err in exc.errors():
                total_bad += 1
                where = ".".join(str(p) for p in err["loc"]) or "row"
                _keep(problems, RowProblem(number, where, printable(err["msg"])))
            continue
        if row.serial in seen:
            total_bad += 1
            again = f"{row.serial} appears again (first on row {seen[row.serial]})"
            _keep(problems, RowProblem(number, "serial", again))
            continue
        seen[row.serial] = number
        rows.append(row)
    return rows, problems, total_bad


def _keep(problems: list[RowProblem], problem: RowProblem) -> None:
    if len(problems) < MAX_ROWS_REPORTED:
        problems.append(problem)


def import_units(path: Path, *, source: str | None = None, progress: Progress | None = None) -> ImportReport:
    """Import a sales-records CSV into the register, upserting by serial, in one transaction.

    Every row is validated first; any bad row refuses the whole file (ImportRefused, nothing written). A
    re-import of the same file changes nothing (rows compared field by field). Raises ImportRefused.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused([RowProblem(1, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})")], 1) from exc
    rows, problems, total_bad = read_rows(text)
    if total_bad:
        raise ImportRefused(problems, total_bad)
    return write_units(rows, source=source or path.name, progress=progress)


def write_units(rows: Sequence[UnitRow], *, source: str, progress: Progress | None = None) -> ImportReport:
    """Upsert validated rows by serial, all in one transaction (a failure part-way writes nothing)."""
    report = ImportReport(rows=len(rows), source=source)
    table: Table = ProductUnit.__table__  # type: ignore[attr-defined]
    now = clock.now()
    fields = [c for c in COLUMNS if c != "serial"]
    with get_engine().begin() as conn:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            known = _known(conn, table, [r.serial for r in chunk])
            values = []
            for row in chunk:
                data = row.model_dump()
                old = known.get(row.serial)
                if old is None:
                    report.added += 1
                elif all(old[f] == data[f] for f in fields):
                    report.unchanged += 1
                    continue
                else:
                    report.updated += 1
                values.append({**data, "source": source, "imported_at": now, "updated_at": now})
            if values:
                _upsert(conn, table, values, fields)
            if progress is not None:
                progress(min(start + CHUNK, len(rows)), len(rows))
    return report


def _known(conn: Connection, table: Table, serials: list[str]) -> dict[str, dict[str, Any]]:
    columns = [table.c[c] for c in COLUMNS]
    found = conn.execute(select(*columns).where(table.c.serial.in_(serials))).mappings()
    return {row["serial"]: dict(row) for row in found}


def _upsert(conn: Connection, table: Table, values: list[dict[str, Any]], fields: Iterable[str]) -> None:
    # Imported here: the PostgreSQL dialect costs ~0.1 s, and every flow-run process imports this module (through
    # the case store) without ever registering units.
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(table).values(values)
    changes = {f: stmt.excluded[f] for f in (*fields, "source", "updated_at")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["serial"], set_=changes))


def link_case(session: Session, serial: str | None, case_number: str) -> bool:
    """Note on the registered unit that a case concerns it (the register follows the cases); False if unknown."""
    if not serial:
        return False
    table: Table = ProductUnit.__table__  # type: ignore[attr-defined]
    result = session.execute(update(table).where(table.c.serial == serial.strip())
                             .values(last_case=case_number, updated_at=clock.now()))
    return bool(result.rowcount)  # type: ignore[attr-defined]
