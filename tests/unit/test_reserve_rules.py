"""The standing reserve of passport-holding repair staff (F2:420-421): who counts and who is reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from aftersales.rules.reserve import Expiry, Shortfall, check_reserve

TODAY = date(2026, 12, 1)
STANDARD = {"production_engineering": 6, "quality": 3, "rnd_hardware": 3}


@dataclass
class P:
    id: str
    name: str
    department: str | None
    passport_expires: date | None


def staff(department: str, count: int, expires: date = date(2030, 1, 1)) -> list[P]:
    return [P(f"{department}.{n}", f"{department} {n}", department, expires) for n in range(count)]


def test_a_full_reserve_reports_nothing() -> None:
    people = staff("production_engineering", 6) + staff("quality", 3) + staff("rnd_hardware", 3)
    assert check_reserve(people, STANDARD, TODAY, 90) == ([], [])


def test_people_without_a_valid_passport_do_not_count() -> None:
    people = (staff("production_engineering", 5) + [P("pe.x", "X", "production_engineering", None)]
              + staff("quality", 2) + [P("q.old", "Old", "quality", date(2026, 12, 1))]  # expired today
              + staff("rnd_hardware", 3) + [P("other", "O", "sales", date(2030, 1, 1))])
    short, expiring = check_reserve(people, STANDARD, TODAY, 90)
    assert short == [Shortfall("production_engineering", 5, 6), Shortfall("quality", 2, 3)]
    assert expiring == []


def test_a_passport_expiring_within_ninety_days_still_counts_and_is_reported() -> None:
    people = staff("production_engineering", 6) + staff("quality", 3) + staff("rnd_hardware", 2) + [
        P("r.soon", "Soon", "rnd_hardware", date(2027, 3, 1)), P("r.later", "Later", "rnd_hardware", date(2027, 3, 2))]
    short, expiring = check_reserve(people, STANDARD, TODAY, 90)
    assert short == []
    assert expiring == [Expiry("r.soon", "Soon", "rnd_hardware", date(2027, 3, 1))]  # 90 days ahead, not 91
