"""The standing reserve check against a staff directory that falls short: HR is told by e-mail, once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from aftersales.config.settings import PROJECT_ROOT, Settings, get_settings
from aftersales.messaging.mailsink import MailSink
from aftersales.procedures.dispatch import check_standing_reserve
from aftersales.runtime.db import session_scope
from models import MailboxMessage

TODAY = date(2026, 12, 1)


def directory_short_of_engineers(tmp_path: Path) -> Path:
    """The shipped directory (周强 in production engineering, 孙丽 in quality, both with passports) plus 4 more
    engineers (5 of 6), 2 more in quality (one passport ends in 60 days) and 3 in R&D hardware."""
    data = yaml.safe_load((PROJECT_ROOT / "staff.yaml").read_text(encoding="utf-8"))
    reserve = [("production_engineering", 4, "2030-01-01"), ("quality", 1, "2030-01-01"),
               ("quality", 1, "2027-01-30"), ("rnd_hardware", 3, "2030-01-01")]
    for department, count, expires in reserve:
        for n in range(count):
            data["people"].append({"id": f"{department}-{expires}-{n}".replace("_", "-"),
                                   "name": f"{department} {expires} {n}", "roles": ["technical"],
                                   "notify": ["sink:reserve@example.com"], "department": department,
                                   "passport_expires": expires})
    path = tmp_path / "staff.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_hr_is_told_once_when_a_department_falls_short_and_a_passport_expires_soon(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_STAFF_FILE", str(directory_short_of_engineers(tmp_path)))
    get_settings.cache_clear()
    with MailSink():
        report = check_standing_reserve(TODAY)
        again = check_standing_reserve(TODAY)
    assert [(s.department, s.have, s.need) for s in report.short] == [("production_engineering", 5, 6)]
    assert [(e.department, e.expires) for e in report.expiring] == [("quality", date(2027, 1, 30))]
    assert report.told == 2 and again.told == 0  # each finding once
    with session_scope() as session:
        mails = session.exec(select(MailboxMessage)).all()
    assert {m.rcpt_to for m in mails} == {"anna.schmidt@example.com"}  # HR (行政人力中心, F2:420)
    assert any("production_engineering: 5 of 6" in m.text for m in mails)
    assert any("2027-01-30" in m.text for m in mails)
