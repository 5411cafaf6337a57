"""Escalation rules with the real business calendar (Asia/Shanghai, 08:30-17:30, Chinese holidays)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from aftersales.rules.escalation import GateClock, due_action, reminder_time, rung_deadline
from aftersales.sla.calendar import BusinessCalendar

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar()


def remind(cal: BusinessCalendar, opened: datetime, deadline: datetime, *, urgent: bool = False,
           hold: bool = True, fraction: float = 0.75) -> datetime | None:
    return reminder_time(opened_at=opened, deadline_at=deadline, fraction=fraction, calendar=cal,
                         hold_outside_working_hours=hold, urgent=urgent)


# ---- reminder_time ---------------------------------------------------------------------------


def test_a_reminder_goes_out_three_quarters_of_the_way_to_the_deadline(cal):
    # Monday 9 June 2025, 09:00 -> 13:00: three quarters of four hours is 12:00.
    assert remind(cal, at(2025, 6, 9, 9), at(2025, 6, 9, 13)) == at(2025, 6, 9, 12)


def test_the_reminder_fraction_is_taken_from_the_policy_value(cal):
    assert remind(cal, at(2025, 6, 9, 9), at(2025, 6, 9, 13), fraction=0.5) == at(2025, 6, 9, 11)


def test_a_reminder_falling_on_a_sunday_evening_is_held_to_monday_morning(cal):
    # Opened Friday 13 June 2025 16:00, due Monday 16 June 10:00: 75 % lands on Sunday 17:30.
    opened, deadline = at(2025, 6, 13, 16), at(2025, 6, 16, 10)
    reminder = remind(cal, opened, deadline)
    assert reminder == at(2025, 6, 16, 8, 30)
    assert cal.is_working_time(reminder)
    assert opened < reminder < deadline


def test_an_urgent_reminder_is_not_held_outside_working_hours(cal):
    assert remind(cal, at(2025, 6, 13, 16), at(2025, 6, 16, 10), urgent=True) == at(2025, 6, 15, 17, 30)


def test_a_reminder_is_not_held_when_the_policy_switch_is_off(cal):
    assert remind(cal, at(2025, 6, 13, 16), at(2025, 6, 16, 10), hold=False) == at(2025, 6, 15, 17, 30)


def test_a_reminder_is_held_over_the_whole_national_day_holiday(cal):
    # Opened Tuesday 30 Sept 2025 17:00 with one working day: due Thursday 9 Oct 17:30 (1-8 Oct are holidays).
    opened = at(2025, 9, 30, 17)
    deadline = cal.add(opened, 1, "working_days")
    assert deadline == at(2025, 10, 9, 17, 30)
    assert remind(cal, opened, deadline) == at(2025, 10, 9, 8, 30)


def test_a_held_reminder_that_would_land_after_the_deadline_is_dropped(cal):
    # Friday 17:00 -> 23:00: 75 % is 21:30, held to Monday 08:30, which is past the deadline.
    assert remind(cal, at(2025, 6, 13, 17), at(2025, 6, 13, 23)) is None


def test_an_urgent_reminder_after_hours_still_goes_out_before_the_deadline(cal):
    assert remind(cal, at(2025, 6, 13, 17), at(2025, 6, 13, 23), urgent=True) == at(2025, 6, 13, 21, 30)


def test_there_is_no_reminder_when_the_deadline_equals_the_opening(cal):
    assert remind(cal, at(2025, 6, 9, 9), at(2025, 6, 9, 9)) is None


def test_there_is_no_reminder_when_the_deadline_is_before_the_opening(cal):
    assert remind(cal, at(2025, 6, 9, 9), at(2025, 6, 9, 8)) is None


def test_a_reminder_works_from_utc_times(cal):
    # 08:00 UTC on Friday 13 June 2025 is 16:00 in Shanghai; the held reminder is Monday 08:30 Shanghai.
    opened = datetime(2025, 6, 13, 8, tzinfo=UTC)
    deadline = datetime(2025, 6, 16, 2, tzinfo=UTC)
    assert remind(cal, opened, deadline) == at(2025, 6, 16, 8, 30)


# ---- due_action ------------------------------------------------------------------------------

# A gate opened Monday 9 June 2025 09:00, reminder at 12:00, due at 13:00, on the first of three rungs.
CLOCK = GateClock(
    opened_at=at(2025, 6, 9, 9),
    deadline_at=at(2025, 6, 9, 13),
    remind_at=at(2025, 6, 9, 12),
    rung=0,
    reminded_rung=-1,
    ladder_length=3,
)


def test_nothing_is_due_before_the_reminder_time():
    assert due_action(CLOCK, at(2025, 6, 9, 11, 59)) is None


def test_a_reminder_is_due_at_the_reminder_time():
    assert due_action(CLOCK, at(2025, 6, 9, 12)) == "remind"


def test_a_reminder_is_due_between_the_reminder_time_and_the_deadline():
    assert due_action(CLOCK, at(2025, 6, 9, 12, 59)) == "remind"


def test_a_reminder_is_not_sent_twice_on_the_same_rung():
    reminded = replace(CLOCK, reminded_rung=0)
    assert due_action(reminded, at(2025, 6, 9, 12, 30)) is None


def test_a_late_gate_escalates_at_the_deadline():
    assert due_action(CLOCK, at(2025, 6, 9, 13)) == "escalate"


def test_a_late_gate_escalates_even_after_its_reminder_went_out():
    assert due_action(replace(CLOCK, reminded_rung=0), at(2025, 6, 9, 13, 1)) == "escalate"


def test_a_gate_on_the_last_but_one_rung_still_escalates():
    assert due_action(replace(CLOCK, rung=2, reminded_rung=2), at(2025, 6, 9, 14)) == "escalate"


def test_a_gate_at_the_top_rung_does_nothing_more_even_though_late():
    top = replace(CLOCK, rung=3, reminded_rung=3)
    assert due_action(top, at(2025, 6, 9, 13)) is None
    assert due_action(top, at(2025, 6, 20, 9)) is None


def test_an_escalated_gate_is_reminded_again_on_its_new_rung():
    # After escalation to rung 1 the reminder of rung 0 does not count for the new holder.
    escalated = replace(CLOCK, rung=1, reminded_rung=0, remind_at=at(2025, 6, 9, 16),
                        deadline_at=at(2025, 6, 9, 17))
    assert due_action(escalated, at(2025, 6, 9, 15, 59)) is None
    assert due_action(escalated, at(2025, 6, 9, 16)) == "remind"


def test_a_gate_without_a_reminder_time_only_escalates():
    silent = replace(CLOCK, remind_at=None)
    assert due_action(silent, at(2025, 6, 9, 12, 30)) is None
    assert due_action(silent, at(2025, 6, 9, 13)) == "escalate"


def test_a_gate_with_an_empty_ladder_gets_one_reminder_and_never_escalates():
    # Like repair.gm_free_repair: the general manager is the top of the company.
    reminders_only = replace(CLOCK, ladder_length=0)
    assert due_action(reminders_only, at(2025, 6, 9, 14)) == "remind"
    assert due_action(replace(reminders_only, reminded_rung=0), at(2025, 6, 9, 14)) is None


# ---- rung_deadline ---------------------------------------------------------------------------


def test_four_working_hours_from_friday_afternoon_end_on_monday_morning(cal):
    # Friday 13 June 2025 15:00: 2.5 h on Friday, 1.5 h from Monday 08:30.
    assert rung_deadline(at(2025, 6, 13, 15), 4, "working_hours", cal) == at(2025, 6, 16, 10)


def test_one_working_day_from_friday_ends_on_monday_evening(cal):
    assert rung_deadline(at(2025, 6, 13, 15), 1, "working_days", cal) == at(2025, 6, 16, 17, 30)


def test_one_working_day_from_the_eve_of_national_day_ends_on_9_october(cal):
    assert rung_deadline(at(2025, 9, 30, 16), 1, "working_days", cal) == at(2025, 10, 9, 17, 30)


def test_four_working_hours_from_the_eve_of_national_day_end_on_9_october(cal):
    # 1.5 h on Tuesday 30 Sept, then 2.5 h from Thursday 9 Oct 08:30.
    assert rung_deadline(at(2025, 9, 30, 16), 4, "working_hours", cal) == at(2025, 10, 9, 11)


def test_the_make_up_sunday_28_september_2025_counts_as_a_working_day(cal):
    assert rung_deadline(at(2025, 9, 27, 10), 1, "working_days", cal) == at(2025, 9, 28, 17, 30)


def test_a_rung_opened_early_on_the_make_up_sunday_counts_that_day(cal):
    assert rung_deadline(at(2025, 9, 28, 8), 1, "working_days", cal) == at(2025, 9, 28, 17, 30)


def test_the_make_up_saturday_11_october_2025_counts_for_working_hours(cal):
    # Friday 10 Oct 16:00: 1.5 h on Friday, 2.5 h on the make-up Saturday from 08:30.
    assert rung_deadline(at(2025, 10, 10, 16), 4, "working_hours", cal) == at(2025, 10, 11, 11)


def test_two_working_days_from_friday_10_october_use_the_make_up_saturday(cal):
    assert rung_deadline(at(2025, 10, 10, 16), 2, "working_days", cal) == at(2025, 10, 13, 17, 30)


def test_natural_hours_run_through_the_holiday(cal):
    assert rung_deadline(at(2025, 9, 30, 16), 24, "natural_hours", cal) == at(2025, 10, 1, 16)


def test_a_rung_deadline_in_an_unknown_unit_is_refused(cal):
    with pytest.raises(ValueError, match="unknown time unit"):
        rung_deadline(at(2025, 6, 13, 15), 1, "fortnights", cal)
