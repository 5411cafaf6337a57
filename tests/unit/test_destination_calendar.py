"""The working days of a destination abroad, from the `holidays` package, in the destination's time zone."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from aftersales.gates.series import day_times
from aftersales.sla.calendar import BusinessCalendar
from aftersales.sla.destination import DestinationCalendar, UnknownDestination, destination_calendar

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_german_christmas_and_the_weekend_are_not_working_days_there() -> None:
    berlin = DestinationCalendar("DE", "Europe/Berlin")
    assert berlin.is_working_day(date(2026, 12, 24))  # Thursday, not a public holiday in Germany
    assert not berlin.is_working_day(date(2026, 12, 25))  # Christmas Day, Friday
    assert not berlin.is_working_day(date(2026, 12, 26))  # Saturday (and the second day of Christmas)
    assert not berlin.is_working_day(date(2026, 12, 27))  # Sunday
    assert berlin.next_working_day(date(2026, 12, 24)) == date(2026, 12, 28)
    assert berlin.day_source(date(2026, 12, 25)) == "holidays-country"


def test_a_subdivision_adds_its_own_holidays() -> None:
    assert DestinationCalendar("DE", "Europe/Berlin").is_working_day(date(2026, 1, 6))
    assert not DestinationCalendar("DE", "Europe/Berlin", subdiv="BY").is_working_day(date(2026, 1, 6))  # Epiphany


def test_a_friday_saturday_weekend_is_the_destination_s_own() -> None:
    riyadh = DestinationCalendar("SA", "Asia/Riyadh")
    assert not riyadh.is_working_day(date(2026, 12, 4))  # Friday
    assert not riyadh.is_working_day(date(2026, 12, 5))  # Saturday
    assert riyadh.is_working_day(date(2026, 12, 6))  # Sunday is a working day there


def test_a_day_opens_and_ends_on_the_destination_s_clock() -> None:
    berlin = DestinationCalendar("DE", "Europe/Berlin")
    opens, remind, late = day_times(berlin, date(2026, 12, 24))
    assert opens == datetime(2026, 12, 24, 8, 30, tzinfo=BERLIN)
    assert remind == datetime(2026, 12, 24, 17, 30, tzinfo=BERLIN)
    assert late == datetime(2026, 12, 28, 8, 30, tzinfo=BERLIN)  # over Christmas and the weekend


def test_china_is_the_company_calendar_with_its_make_up_working_days() -> None:
    company = BusinessCalendar(work_start=time(8, 30), work_end=time(17, 30))
    assert destination_calendar("CN", "Asia/Shanghai", company=company) is company
    urumqi = destination_calendar("CN", "Asia/Urumqi", company=company)
    assert urumqi.is_working_day(date(2026, 2, 14))  # Saturday worked before the Spring Festival (State Council)
    assert str(urumqi.tz) == "Asia/Urumqi"


@pytest.mark.parametrize(("country", "tz", "subdiv", "says"), [
    ("XX", "Europe/Berlin", None, "no country 'XX'"),
    ("DE", "Mars/Olympus", None, "unknown time zone"),
    ("DE", "Europe/Berlin", "ZZ", "no subdivision 'ZZ'"),
])
def test_an_unknown_destination_is_refused_by_name(country: str, tz: str, subdiv: str | None, says: str) -> None:
    with pytest.raises(UnknownDestination, match=says):
        DestinationCalendar(country, tz, subdiv=subdiv)
