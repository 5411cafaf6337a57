"""Case clocks stand still while the case waits on the customer and resume with the time they had left
(PRODUCT.md "Time"; policy clocks.pause_while_waiting_on_customer), on the real business calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aftersales.rules.pauses import ClockState, Pause, clock_state
from aftersales.sla.calendar import BusinessCalendar

SH = ZoneInfo("Asia/Shanghai")


def at(m: int, d: int, hh: int = 0, mm: int = 0, y: int = 2026) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar()


def resolution(cal: BusinessCalendar, reported: datetime, pauses: list[Pause], now: datetime) -> ClockState:
    """The repair's resolution clock: 3 working days from the request (F1:164, F2:184)."""
    return clock_state(started_at=reported, base_deadline=cal.add(reported, 3, "working_days"),
                       unit="working_days", pauses=pauses, now=now, calendar=cal)


def test_a_clock_without_pauses_keeps_its_deadline(cal: BusinessCalendar) -> None:
    state = resolution(cal, at(11, 26, 10), [], now=at(11, 30, 9, 30))
    assert state.deadline == state.base_deadline == at(12, 1, 17, 30)
    assert not state.is_paused and state.paused == timedelta(0)
    assert state.remaining == timedelta(hours=8 + 9)  # Mon 09:30-17:30 and all of Tuesday


def test_a_pause_over_a_weekend_counts_only_its_working_hours(cal: BusinessCalendar) -> None:
    """Thu 26 Nov reported; the customer is asked Fri 16:30 and answers Mon 09:30: 1 h + 1 h of working time."""
    reported, asked, answered = at(11, 26, 10), at(11, 27, 16, 30), at(11, 30, 9, 30)
    before = resolution(cal, reported, [], now=asked)
    during = resolution(cal, reported, [Pause(asked)], now=at(11, 28, 12))  # Saturday noon
    after = resolution(cal, reported, [Pause(asked, answered)], now=answered)
    assert during.is_paused and during.paused_since == asked
    assert during.remaining == before.remaining == timedelta(hours=19), "the time left stands still"
    assert not during.overdue
    assert after.paused == timedelta(hours=2)
    assert after.deadline == at(12, 2, 10, 30)  # Tue 17:30 + 2 working hours
    assert after.remaining == before.remaining, "it resumes with the time it had left"
    assert not after.is_paused


def test_a_pause_over_the_national_day_holiday_moves_the_deadline_by_its_working_hours_only(
        cal: BusinessCalendar) -> None:
    """Reported Mon 28 Sep 2026: day 3 is Thu 8 Oct after the holiday; asked Wed 30 Sep 16:00, answered 8 Oct 09:00."""
    state = resolution(cal, at(9, 28, 10), [Pause(at(9, 30, 16), at(10, 8, 9))], now=at(10, 8, 9))
    assert state.base_deadline == at(10, 8, 17, 30)
    assert state.paused == timedelta(hours=2)  # 16:00-17:30 and 08:30-09:00: the holiday week counts nothing
    assert state.deadline == at(10, 9, 10, 30)


def test_two_pauses_add_up_and_overlapping_waits_count_once(cal: BusinessCalendar) -> None:
    reported = at(11, 23, 8)  # Monday before opening: all of Monday counts, deadline Wed 17:30
    first = Pause(at(11, 23, 10), at(11, 23, 12))  # 2 h
    second = Pause(at(11, 24, 14), at(11, 24, 15, 30))  # 1.5 h
    overlapping = Pause(at(11, 24, 15), at(11, 24, 16))  # adds 30 min beyond the second
    state = resolution(cal, reported, [first, second, overlapping], now=at(11, 25, 9))
    assert state.base_deadline == at(11, 25, 17, 30)
    assert state.paused == timedelta(hours=4)
    assert state.deadline == at(11, 26, 12, 30)


def test_resumed_after_the_first_deadline_the_clock_still_has_what_it_had_left(cal: BusinessCalendar) -> None:
    """Asked Wed 10:00 with 16.5 working hours left; the customer answers the next Monday, after Thursday's
    deadline: the clock is not overdue, and runs out Tuesday 17:30."""
    reported, asked, answered = at(11, 23, 10), at(11, 25, 10), at(11, 30, 10)
    state = resolution(cal, reported, [Pause(asked, answered)], now=answered)
    assert state.base_deadline == at(11, 26, 17, 30)
    assert state.deadline == at(12, 1, 17, 30)
    assert state.remaining == timedelta(hours=16.5)
    assert not state.overdue
    late = resolution(cal, reported, [Pause(asked, answered)], now=at(12, 2, 9, 30))
    assert late.overdue and late.remaining == -timedelta(hours=1)


def test_a_wait_before_the_clock_started_does_not_move_it(cal: BusinessCalendar) -> None:
    """A complaint's closing limit runs from acceptance (004:485): an earlier wait on the customer is not in it."""
    accepted = at(11, 24, 12)
    state = clock_state(started_at=accepted, base_deadline=cal.add(accepted, 5, "natural_days"),
                        unit="natural_days", pauses=[Pause(at(11, 23, 9), at(11, 24, 13))], now=at(11, 25),
                        calendar=cal)
    assert state.paused == timedelta(hours=1)
    assert state.deadline == at(11, 29, 13)


def test_a_natural_day_clock_pauses_for_the_whole_elapsed_wait(cal: BusinessCalendar) -> None:
    """Natural days count nights and weekends, so a pause moves them by all of its time."""
    accepted = at(11, 24, 12)
    asked, answered = at(11, 27, 18), at(11, 29, 9)  # Friday evening to Sunday morning: 39 h
    state = clock_state(started_at=accepted, base_deadline=cal.add(accepted, 5, "natural_days"),
                        unit="natural_days", pauses=[Pause(asked, answered)], now=at(11, 30), calendar=cal)
    assert state.deadline == at(11, 29, 12) + timedelta(hours=39)


def test_a_paused_clock_past_its_deadline_is_never_overdue_while_it_waits(cal: BusinessCalendar) -> None:
    reported, asked = at(11, 23, 10), at(11, 26, 17)  # half an hour before the deadline
    state = resolution(cal, reported, [Pause(asked)], now=at(12, 10, 12))
    assert state.is_paused and not state.overdue
    assert state.remaining == timedelta(minutes=30)
    assert state.deadline > at(12, 10, 12)
