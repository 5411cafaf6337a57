"""Unit tests for the business calendar against real Chinese holiday data (chinesecalendar 1.11, holidays)."""

from __future__ import annotations

import logging
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
import pytest

from aftersales.config.policy import Duration, load_policy
from aftersales.config.settings import PROJECT_ROOT
from aftersales.errors import ConfigurationError
from aftersales.sla.calendar import (
    BusinessCalendar,
    CalendarDataMissing,
    CalendarDay,
    CalendarOverrides,
    load_overrides,
)
from aftersales.sla.deadlines import due, estimated_deadlines

SH = ZoneInfo("Asia/Shanghai")
LOGGER = "aftersales.sla.calendar"


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar()


def write(tmp_path: Path, text: str, name: str = "calendar.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


OVERRIDES_2027 = """\
# years this file fully covers
years: [2027]
holidays:
  - 2027-01-01
  - {from: 2027-02-06, to: 2027-02-12}
workdays:
  - 2027-02-20
"""


# ---- working days from the statutory calendar ------------------------------------------------


def test_national_day_week_is_not_working(cal: BusinessCalendar) -> None:
    for d in days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2025, 10, 9))


def test_national_day_2025_make_up_sunday_and_saturday_are_working(cal: BusinessCalendar) -> None:
    assert date(2025, 9, 28).weekday() == 6 and cal.is_working_day(date(2025, 9, 28))
    assert date(2025, 10, 11).weekday() == 5 and cal.is_working_day(date(2025, 10, 11))
    # The weekend days next to them stay rest days.
    assert not cal.is_working_day(date(2025, 9, 27))
    assert not cal.is_working_day(date(2025, 10, 12))


def test_spring_festival_2026_follows_package_data(cal: BusinessCalendar) -> None:
    # Package 1.11.0: rest Sun 15 Feb - Mon 23 Feb 2026, make-up Saturdays 14 Feb and 28 Feb.
    for d in days(date(2026, 2, 15), date(2026, 2, 23)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.is_working_day(date(2026, 2, 28))
    assert cal.is_working_day(date(2026, 2, 13))
    assert cal.is_working_day(date(2026, 2, 24))
    for d in days(date(2026, 2, 1), date(2026, 2, 28)):
        assert cal.is_working_day(d) == chinese_calendar.is_workday(d), d


def test_national_day_2026_follows_package_data(cal: BusinessCalendar) -> None:
    # Package 1.11.0: rest 1-7 Oct 2026, make-up Sun 20 Sep and Sat 10 Oct; Mid-autumn 25-27 Sep.
    for d in days(date(2026, 10, 1), date(2026, 10, 7)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2026, 10, 8))
    assert cal.is_working_day(date(2026, 9, 20))
    assert cal.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 9, 25))  # a Friday, Mid-autumn Festival


def test_next_working_day_skips_national_day_week(cal: BusinessCalendar) -> None:
    assert cal.next_working_day(date(2025, 9, 30)) == date(2025, 10, 9)
    assert cal.next_working_day(date(2025, 10, 10)) == date(2025, 10, 11)  # make-up Saturday
    assert cal.next_working_day(date(2026, 2, 13)) == date(2026, 2, 14)  # make-up Saturday


def test_is_working_day_rejects_datetime(cal: BusinessCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_working_day(at(2025, 10, 9, 10))


# ---- add_working_days ----------------------------------------------------------------------------


def test_working_days_across_a_normal_weekend(cal: BusinessCalendar) -> None:
    friday = at(2025, 11, 14, 15)
    assert cal.add_working_days(friday, 1) == at(2025, 11, 17, 17, 30)
    assert cal.add_working_days(friday, 3) == at(2025, 11, 19, 17, 30)


def test_add_working_days_from_friday_afternoon_lands_on_make_up_sunday(cal: BusinessCalendar) -> None:
    friday = at(2025, 9, 26, 16)
    assert cal.add_working_days(friday, 1) == at(2025, 9, 28, 17, 30)  # make-up Sunday
    assert cal.add_working_days(friday, 3) == at(2025, 9, 30, 17, 30)
    assert cal.add_working_days(friday, 4) == at(2025, 10, 9, 17, 30)  # after the holiday week


def test_add_working_days_start_before_hours_counts_that_day(cal: BusinessCalendar) -> None:
    assert cal.add_working_days(at(2025, 11, 17, 7), 1) == at(2025, 11, 17, 17, 30)
    assert cal.add_working_days(at(2025, 11, 17, 8, 30), 1) == at(2025, 11, 17, 17, 30)
    assert cal.add_working_days(at(2025, 11, 17, 8, 31), 1) == at(2025, 11, 18, 17, 30)
    assert cal.add_working_days(at(2025, 11, 17, 20), 1) == at(2025, 11, 18, 17, 30)


def test_add_working_days_from_rest_day_starts_on_next_working_day(cal: BusinessCalendar) -> None:
    assert cal.add_working_days(at(2025, 10, 1, 7), 1) == at(2025, 10, 9, 17, 30)
    assert cal.add_working_days(at(2025, 11, 15, 7), 2) == at(2025, 11, 18, 17, 30)


def test_add_working_days_zero_and_negative(cal: BusinessCalendar) -> None:
    start = at(2025, 11, 14, 15)
    assert cal.add_working_days(start, 0) == start
    with pytest.raises(ValueError):
        cal.add_working_days(start, -1)


# ---- add_working_hours --------------------------------------------------------------------------


def test_working_hours_from_friday_afternoon_continue_on_monday(cal: BusinessCalendar) -> None:
    assert cal.add_working_hours(at(2025, 11, 14, 16, 30), 2) == at(2025, 11, 17, 9, 30)


def test_working_hours_across_national_day_holiday(cal: BusinessCalendar) -> None:
    assert cal.add_working_hours(at(2025, 9, 30, 16, 30), 2) == at(2025, 10, 9, 9, 30)


def test_working_hours_across_spring_festival_2026(cal: BusinessCalendar) -> None:
    # Sat 14 Feb is a make-up day, then nine rest days until Tue 24 Feb.
    assert cal.add_working_hours(at(2026, 2, 14, 17), 1) == at(2026, 2, 24, 9)


def test_make_up_saturday_counts_for_working_hours(cal: BusinessCalendar) -> None:
    assert cal.add_working_hours(at(2025, 10, 10, 17), 1) == at(2025, 10, 11, 9)


def test_working_hours_start_before_and_after_hours(cal: BusinessCalendar) -> None:
    assert cal.add_working_hours(at(2025, 11, 17, 6), 1) == at(2025, 11, 17, 9, 30)
    assert cal.add_working_hours(at(2025, 11, 17, 20), 1) == at(2025, 11, 18, 9, 30)
    assert cal.add_working_hours(at(2025, 11, 15, 12), 1) == at(2025, 11, 17, 9, 30)  # Saturday


def test_working_hours_ending_exactly_at_work_end_stay_on_that_day(cal: BusinessCalendar) -> None:
    assert cal.add_working_hours(at(2025, 11, 17, 15, 30), 2) == at(2025, 11, 17, 17, 30)


def test_working_hours_spanning_several_days(cal: BusinessCalendar) -> None:
    monday = at(2025, 11, 17, 8, 30)
    assert cal.add_working_hours(monday, 18) == at(2025, 11, 18, 17, 30)
    assert cal.add_working_hours(monday, 19) == at(2025, 11, 19, 9, 30)
    assert cal.add_working_hours(monday, 0.25) == at(2025, 11, 17, 8, 45)


def test_working_hours_rejects_negative(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_working_hours(at(2025, 11, 17, 10), -1)


def test_other_timezone_input_gives_result_in_calendar_tz(cal: BusinessCalendar) -> None:
    start_utc = datetime(2025, 11, 17, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    result = cal.add_working_hours(start_utc, 1)
    assert result == at(2025, 11, 17, 9, 30)
    assert result.tzinfo == SH


def test_custom_working_hours() -> None:
    cal = BusinessCalendar(work_start=time(9), work_end=time(18))
    assert cal.add_working_hours(at(2025, 11, 14, 17), 2) == at(2025, 11, 17, 10)
    assert cal.add_working_days(at(2025, 11, 14, 17), 1) == at(2025, 11, 17, 18)
    with pytest.raises(ValueError):
        BusinessCalendar(work_start=time(18), work_end=time(9))


# ---- natural time -------------------------------------------------------------------------------


def test_natural_time_ignores_holidays(cal: BusinessCalendar) -> None:
    start = at(2025, 9, 30, 10)
    assert cal.add_natural_hours(start, 48) == at(2025, 10, 2, 10)
    assert cal.add_natural_hours(start, 1.5) == at(2025, 9, 30, 11, 30)
    assert cal.add_natural_days(start, 3) == at(2025, 10, 3, 10)
    assert cal.add_natural_days(datetime(2025, 9, 30, 2, tzinfo=UTC), 1) == at(2025, 10, 1, 10)


# ---- working_time_between ------------------------------------------------------------------------


def test_working_time_between_across_weekend(cal: BusinessCalendar) -> None:
    assert cal.working_time_between(at(2025, 11, 14, 16), at(2025, 11, 17, 10)) == timedelta(hours=3)


def test_working_time_between_across_national_day(cal: BusinessCalendar) -> None:
    assert cal.working_time_between(at(2025, 9, 30, 17), at(2025, 10, 9, 9)) == timedelta(hours=1)


def test_working_time_between_within_one_day_and_reversed(cal: BusinessCalendar) -> None:
    assert cal.working_time_between(at(2025, 11, 17, 7), at(2025, 11, 17, 20)) == timedelta(hours=9)
    assert cal.working_time_between(at(2025, 11, 17, 12), at(2025, 11, 17, 10)) == timedelta()
    assert cal.working_time_between(at(2025, 11, 15, 9), at(2025, 11, 16, 17)) == timedelta()


@pytest.mark.parametrize("hours", [0.5, 2, 9, 10, 37.25, 100])
def test_working_time_between_inverts_add_working_hours(cal: BusinessCalendar, hours: float) -> None:
    start = at(2025, 9, 26, 16, 10)
    end = cal.add_working_hours(start, hours)
    assert cal.working_time_between(start, end) == timedelta(hours=hours)


# ---- working time / quiet hours ------------------------------------------------------------------


def test_is_working_time(cal: BusinessCalendar) -> None:
    assert cal.is_working_time(at(2025, 11, 17, 8, 30))
    assert cal.is_working_time(at(2025, 11, 17, 17, 29))
    assert not cal.is_working_time(at(2025, 11, 17, 17, 30))
    assert not cal.is_working_time(at(2025, 11, 17, 8, 29))
    assert not cal.is_working_time(at(2025, 10, 1, 10))
    assert cal.is_working_time(at(2025, 10, 11, 10))  # make-up Saturday


def test_next_working_time_in_quiet_hours(cal: BusinessCalendar) -> None:
    inside = at(2025, 11, 18, 10)
    assert cal.next_working_time(inside) == inside
    assert cal.next_working_time(at(2025, 11, 18, 22)) == at(2025, 11, 19, 8, 30)
    assert cal.next_working_time(at(2025, 11, 19, 6)) == at(2025, 11, 19, 8, 30)
    assert cal.next_working_time(at(2025, 11, 17, 17, 30)) == at(2025, 11, 18, 8, 30)
    assert cal.next_working_time(at(2025, 11, 14, 23)) == at(2025, 11, 17, 8, 30)  # Friday night
    assert cal.next_working_time(at(2025, 10, 1, 10)) == at(2025, 10, 9, 8, 30)  # holiday


# ---- add dispatch ------------------------------------------------------------------------------


def test_add_dispatches_on_unit(cal: BusinessCalendar) -> None:
    start = at(2025, 11, 14, 16, 30)
    assert cal.add(start, 2, "natural_hours") == at(2025, 11, 14, 18, 30)
    assert cal.add(start, 2, "natural_days") == at(2025, 11, 16, 16, 30)
    assert cal.add(start, 2, "working_hours") == at(2025, 11, 17, 9, 30)
    assert cal.add(start, 2, "working_days") == at(2025, 11, 18, 17, 30)
    assert cal.add(start, 2.0, "working_days") == at(2025, 11, 18, 17, 30)


def test_add_unknown_unit_names_allowed_units(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="natural_hours.*natural_days.*working_hours.*working_days"):
        cal.add(at(2025, 11, 14, 10), 1, "fortnights")


def test_add_fractional_days_rejected(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="whole number"):
        cal.add(at(2025, 11, 14, 10), 1.5, "working_days")


# ---- naive datetimes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c, n: c.add_natural_hours(n, 1),
        lambda c, n: c.add_natural_days(n, 1),
        lambda c, n: c.add_working_days(n, 1),
        lambda c, n: c.add_working_hours(n, 1),
        lambda c, n: c.working_time_between(n, at(2025, 11, 18, 10)),
        lambda c, n: c.working_time_between(at(2025, 11, 16, 10), n),
        lambda c, n: c.is_working_time(n),
        lambda c, n: c.next_working_time(n),
        lambda c, n: c.add(n, 1, "working_hours"),
    ],
)
def test_naive_datetimes_rejected(cal: BusinessCalendar, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="naive"):
        call(cal, datetime(2025, 11, 17, 10))


# ---- years after chinesecalendar's data: the holidays estimate -----------------------------------


def calendar_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_new_years_day_2027_is_not_a_working_day(cal: BusinessCalendar) -> None:
    # chinesecalendar 1.11 stops at 2026; the holidays package knows the statutory 1 January.
    assert date(2027, 1, 1).weekday() == 4
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.day_source(date(2027, 1, 1)) == "holidays-estimate"
    assert cal.is_working_day(date(2027, 1, 4))
    assert not cal.is_working_day(date(2027, 1, 2))  # an ordinary Saturday


def test_spring_festival_2027_is_estimated_from_statutory_days(cal: BusinessCalendar) -> None:
    # Eve (Fri 5 Feb) and the first three days (6-8 Feb); Sat/Sun 6-7 Feb are made up on Tue/Wed 9-10 Feb.
    for d in days(date(2027, 2, 5), date(2027, 2, 10)):
        assert not cal.is_working_day(d), d
        assert cal.day_source(d) == "holidays-estimate"
    assert cal.is_working_day(date(2027, 2, 4))
    assert cal.is_working_day(date(2027, 2, 11))
    # The make-up weekend days of the State Council notice are not known to the estimate.
    assert not cal.is_working_day(date(2027, 2, 20))


def test_shipped_policy_deadline_over_new_year_2027_skips_the_holiday() -> None:
    policy = load_policy(PROJECT_ROOT / "policy.yaml")
    five = Duration(amount=5, unit="working_days")
    # Tue 29, Wed 30, Thu 31 Dec, (Fri 1 Jan off, weekend), Mon 4, Tue 5 Jan.
    assert due(policy, at(2026, 12, 28, 10), five) == at(2027, 1, 5, 17, 30)


def test_shipped_policy_deadline_over_spring_festival_2027_skips_the_holiday() -> None:
    policy = load_policy(PROJECT_ROOT / "policy.yaml")
    three = Duration(amount=3, unit="working_days")
    # Thu 4 Feb, (Fri 5 - Wed 10 Feb off), Thu 11, Fri 12 Feb.
    assert due(policy, at(2027, 2, 3, 10), three) == at(2027, 2, 12, 17, 30)


def test_estimate_is_logged_once_per_year(caplog: pytest.LogCaptureFixture) -> None:
    cal = BusinessCalendar()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert not cal.is_working_day(date(2027, 1, 1))
        assert cal.add_working_days(at(2027, 9, 30, 16), 1) == at(2027, 10, 6, 17, 30)  # National Day
        assert cal.is_working_day(date(2025, 10, 9))  # a chinesecalendar year: nothing to say
        assert not cal.is_working_day(date(2028, 1, 3))  # Mon: 1 Jan 2028 is a Saturday, moved to Monday
    warnings = calendar_warnings(caplog)
    assert len(warnings) == 2
    assert "2027" in warnings[0] and "ESTIMATE" in warnings[0] and "overrides_file" in warnings[0]
    assert "2028" in warnings[1]


def test_day_source_names_the_layer(tmp_path: Path) -> None:
    text = "years: [2028]\nholidays: [2026-11-20]\nworkdays: [2027-01-01]\n"
    cal = BusinessCalendar(overrides=load_overrides(write(tmp_path, text)), fallback_weekends=True)
    assert cal.day_source(date(2026, 11, 20)) == "override"
    assert cal.day_source(date(2027, 1, 1)) == "override"
    assert cal.day_source(date(2028, 2, 1)) == "override"  # a year the file covers in full
    assert cal.day_source(date(2026, 11, 19)) == "chinesecalendar"
    assert cal.day_source(date(2027, 1, 4)) == "holidays-estimate"
    assert cal.day_source(date(2101, 3, 1)) == "weekends-fallback"
    assert cal.year_source(2026) == "chinesecalendar" and cal.year_source(2027) == "holidays-estimate"
    assert cal.estimated_years() == [2027, 2101]  # the years it has met so far
    assert cal.estimated_years([2026, 2027, 2028, 2101, 2027]) == [2027, 2101]
    with pytest.raises(TypeError):
        cal.day_source(at(2027, 1, 1, 10))


def test_override_wins_over_both_packages(tmp_path: Path) -> None:
    text = "holidays: [2026-11-20, 2027-02-04]\nworkdays: [2026-10-02, 2027-01-01, 2027-02-08]\n"
    cal = BusinessCalendar(overrides=load_overrides(write(tmp_path, text)))
    # Over chinesecalendar: a company rest day on a working Friday, work on a National Day holiday.
    assert not cal.is_working_day(date(2026, 11, 20))
    assert cal.is_working_day(date(2026, 10, 2))
    # Over the holidays estimate: work on New Year's Day and in the Spring Festival, rest the day before it.
    assert cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 2, 8))
    assert not cal.is_working_day(date(2027, 2, 4))
    assert {cal.day_source(d) for d in (date(2026, 11, 20), date(2027, 1, 1), date(2027, 2, 4))} == {"override"}
    # Without the file the packages' answers stand.
    plain = BusinessCalendar()
    assert plain.is_working_day(date(2026, 11, 20)) and not plain.is_working_day(date(2026, 10, 2))
    assert not plain.is_working_day(date(2027, 1, 1)) and plain.is_working_day(date(2027, 2, 4))


def test_override_year_wins_over_the_estimate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cal = BusinessCalendar(overrides=load_overrides(write(tmp_path, OVERRIDES_2027)))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        # Tue 9 and Wed 10 Feb are rest days in the estimate; the file (6-12 Feb) decides, and agrees.
        assert not cal.is_working_day(date(2027, 2, 9))
        # Fri 5 Feb is the statutory Eve, but the file covering 2027 does not list it.
        assert cal.is_working_day(date(2027, 2, 5))
        assert cal.day_source(date(2027, 2, 5)) == "override"
    assert not calendar_warnings(caplog)
    assert cal.estimated_years([2027]) == []


def test_year_days_lists_rest_weekdays_and_worked_weekends(cal: BusinessCalendar) -> None:
    listed = {d.day: d for d in cal.year_days(2027)}
    assert listed[date(2027, 1, 1)] == CalendarDay(date(2027, 1, 1), False, "holidays-estimate", "New Year's Day")
    assert "Spring Festival" in (listed[date(2027, 2, 8)].name or "")
    assert date(2027, 2, 6) not in listed  # a Saturday off is no exception
    known = {d.day: d for d in cal.year_days(2026)}
    assert known[date(2026, 2, 14)] == CalendarDay(date(2026, 2, 14), True, "chinesecalendar", "Spring Festival")
    assert not known[date(2026, 10, 1)].working and known[date(2026, 10, 1)].source == "chinesecalendar"


def test_estimated_deadlines_counts_deadlines_per_estimated_year() -> None:
    policy = load_policy(PROJECT_ROOT / "policy.yaml")
    deadlines = [at(2026, 12, 31, 17, 30), at(2027, 1, 5, 17, 30), at(2027, 2, 12, 17, 30)]
    assert estimated_deadlines(policy, deadlines) == {2027: 2}
    assert estimated_deadlines(policy, deadlines[:1]) == {}
    # 2026-12-31 16:00 UTC is already 1 January 2027 in Shanghai.
    assert estimated_deadlines(policy, [datetime(2026, 12, 31, 16, tzinfo=UTC)]) == {2027: 1}


# ---- years no layer knows ----------------------------------------------------------------------


def test_year_no_layer_knows_raises_a_configuration_error_saying_how_to_fix_it(cal: BusinessCalendar) -> None:
    with pytest.raises(CalendarDataMissing) as excinfo:
        cal.is_working_day(date(2101, 3, 1))
    assert isinstance(excinfo.value, ConfigurationError)
    assert excinfo.value.year == 2101
    message = str(excinfo.value)
    assert "2101" in message and "calendar.overrides_file" in message and "fallback_weekends" in message
    # A deadline running off the end of the data must not be guessed either.
    with pytest.raises(CalendarDataMissing, match="2101"):
        cal.add_working_days(at(2100, 12, 31, 16), 1)


def test_year_before_any_data_raises(cal: BusinessCalendar) -> None:
    with pytest.raises(CalendarDataMissing, match="1949"):
        cal.is_working_day(date(1949, 6, 1))
    assert cal.day_source(date(2003, 6, 2)) == "holidays-estimate"  # before chinesecalendar, within holidays


def test_override_file_covering_2027_works(tmp_path: Path) -> None:
    cal = BusinessCalendar(overrides=load_overrides(write(tmp_path, OVERRIDES_2027)))
    assert not cal.is_working_day(date(2027, 1, 1))  # listed holiday (a Friday)
    assert cal.is_working_day(date(2027, 3, 1))  # ordinary Monday
    assert not cal.is_working_day(date(2027, 3, 6))  # ordinary Saturday
    for d in days(date(2027, 2, 6), date(2027, 2, 12)):  # inclusive range
        assert not cal.is_working_day(d), d
    assert date(2027, 2, 20).weekday() == 5 and cal.is_working_day(date(2027, 2, 20))
    # Across the year boundary: 31 Dec 2026 afternoon + 1 working day skips New Year's Day 2027.
    assert cal.add_working_days(at(2026, 12, 31, 16), 1) == at(2027, 1, 4, 17, 30)
    # Package years are still served by the package.
    assert not cal.is_working_day(date(2025, 10, 1))


def test_load_overrides_parses_entries(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, OVERRIDES_2027))
    assert overrides.years == frozenset({2027})
    assert len(overrides.holidays) == 8
    assert overrides.workdays == frozenset({date(2027, 2, 20)})
    assert load_overrides(write(tmp_path, "", "empty.yaml")) == CalendarOverrides()
    quoted = load_overrides(write(tmp_path, "holidays: ['2026-11-20']\n", "quoted.yaml"))
    assert quoted.holidays == frozenset({date(2026, 11, 20)})


def test_override_adds_company_holiday_and_workday_in_covered_year(tmp_path: Path) -> None:
    text = "holidays:\n  - 2026-11-20\nworkdays:\n  - 2026-11-28\n  - 2026-10-02\n"
    cal = BusinessCalendar(overrides=load_overrides(write(tmp_path, text)))
    assert not cal.is_working_day(date(2026, 11, 20))  # a Friday the package says is a working day
    assert cal.is_working_day(date(2026, 11, 28))  # a Saturday
    assert cal.is_working_day(date(2026, 10, 2))  # the company works on a statutory holiday
    assert cal.add_working_days(at(2026, 11, 19, 15), 1) == at(2026, 11, 23, 17, 30)
    # Without the override the package's answer stands.
    assert BusinessCalendar().is_working_day(date(2026, 11, 20))


def test_fallback_weekends_logs_warning_once_per_year(caplog: pytest.LogCaptureFixture) -> None:
    cal = BusinessCalendar(fallback_weekends=True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert cal.is_working_day(date(2101, 3, 1))  # Tuesday
        assert not cal.is_working_day(date(2101, 3, 5))  # Saturday
        assert not cal.is_working_day(date(2101, 3, 6))  # Sunday
        assert cal.add_working_days(at(2101, 3, 4, 16), 1) == at(2101, 3, 7, 17, 30)
        assert cal.is_working_day(date(2102, 3, 1))
    warnings = calendar_warnings(caplog)
    assert len(warnings) == 2
    assert "2101" in warnings[0]
    assert "2102" in warnings[1]
    assert cal.day_source(date(2101, 3, 1)) == "weekends-fallback"


def test_fallback_weekends_does_not_override_package_years(caplog: pytest.LogCaptureFixture) -> None:
    cal = BusinessCalendar(fallback_weekends=True)
    with caplog.at_level(logging.WARNING, logger="aftersales.sla.calendar"):
        assert not cal.is_working_day(date(2025, 10, 1))
        assert cal.is_working_day(date(2025, 10, 11))
    assert not caplog.records


# ---- bad override files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offending"),
    [
        ("years: [2027]\nholiday:\n  - 2027-01-01\n", "holiday"),
        ("holidays:\n  - 2027-13-01\n", "2027-13-01"),
        ("holidays:\n  - next friday\n", "next friday"),
        ("holidays:\n  - {from: 2027-02-12, to: 2027-02-06}\n", "from"),
        ("holidays:\n  - {from: 2027-02-06, until: 2027-02-12}\n", "until"),
        ("holidays:\n  - 2027-01-01 09:00:00\n", "2027"),
        ("holidays: 2027-01-01\n", "2027"),
        ("years: [twenty]\n", "twenty"),
        ("holidays: [2027-01-01]\nworkdays: [2027-01-01]\n", "2027-01-01"),
        ("- 2027-01-01\n", "2027"),
        ("holidays: [2027-01-01\n", "YAML"),
    ],
)
def test_bad_override_files_rejected(tmp_path: Path, text: str, offending: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as excinfo:
        load_overrides(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert offending in message


# ---- efficiency ---------------------------------------------------------------------------------


def test_sweep_over_thousands_of_gates_is_fast(cal: BusinessCalendar) -> None:
    base = at(2025, 9, 1, 8)
    began = time_module.perf_counter()
    for i in range(5000):
        start = base + timedelta(minutes=37 * i)
        cal.add_working_hours(start, 24)
        cal.add_working_days(start, 5)
        cal.next_working_time(start)
    # Whole-day jumps and the per-day cache keep this well under a second on a laptop.
    assert time_module.perf_counter() - began < 10
