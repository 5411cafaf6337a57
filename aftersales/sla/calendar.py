"""Business calendar: Chinese working days, working hours and deadline arithmetic.

Each day is decided by the first layer that knows it (see `BusinessCalendar.day_source`):

1. ``override``: the company override file (`calendar.overrides_file`): its listed dates, and every day of
   a year it lists under ``years`` (Mon-Fri then, except the listed dates);
2. ``chinesecalendar``: the State Council schedules the chinesecalendar package ships (2004-2026 in 1.11);
3. ``holidays-estimate``: for a year chinesecalendar does not know, China's statutory holidays computed by
   rule by the `holidays` package. An estimate: the State Council's yearly notice also moves rest days to
   bridge a holiday to a weekend and makes some weekend days working days; the package has those only for
   years it has been updated for. Logged once per year as a WARNING;
4. ``weekends-fallback``: Mon-Fri, only when no layer knows the year and `fallback_weekends` is on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
import holidays
import yaml

from aftersales.errors import ConfigurationError

logger = logging.getLogger("aftersales.sla.calendar")

UNITS = ("natural_hours", "natural_days", "working_hours", "working_days")
_OVERRIDE_KEYS = frozenset({"years", "holidays", "workdays"})
_RANGE_KEYS = frozenset({"from", "to"})


class _DateAsTextLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text so a bad one is reported with its entry, not a bare error."""


# PyYAML builds dates itself and fails on 2027-13-01 with no hint of where; parse them ourselves.
_DateAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


DaySource = Literal["override", "chinesecalendar", "holidays-estimate", "weekends-fallback", "holidays-country"]
# Layers whose answer is a guess, not a published schedule.
ESTIMATED_SOURCES: frozenset[DaySource] = frozenset({"holidays-estimate", "weekends-fallback"})


class CalendarDataMissing(ConfigurationError):
    """No layer has data for a year, and the weekend fallback is off."""

    def __init__(self, year: int, day: date | None = None) -> None:
        self.year = year
        what = f"{day.isoformat()} (year {year})" if day else f"year {year}"
        cc_first, cc_last = chinesecalendar_years()
        hd_first, hd_last = holidays_years()
        super().__init__(
            f"No calendar data for {what}: chinesecalendar {_version(chinese_calendar)} covers "
            f"{cc_first}-{cc_last}, holidays {_version(holidays)} covers {hd_first}-{hd_last}, and the "
            f"calendar override file does not list {year} under 'years'. Add {year}'s schedule to the file "
            f"named by calendar.overrides_file in the policy (years: [{year}], then its holidays and make-up "
            f"workdays), or set calendar.fallback_weekends: true to count Monday-Friday with a logged warning."
        )


def _version(module: Any) -> str:
    return str(getattr(module, "__version__", "?"))


@cache
def chinesecalendar_years() -> tuple[int, int]:
    """First and last year of the official schedules in the installed chinesecalendar package."""
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return min(years), max(years)


def holidays_years() -> tuple[int, int]:
    """First and last year for which the holidays package computes China's statutory holidays."""
    return int(holidays.China.start_year), int(holidays.China.end_year)


@dataclass(frozen=True)
class CalendarDay:
    """A day that differs from the Mon-Fri rule: a weekday off, or a weekend day worked."""

    day: date
    working: bool
    source: DaySource
    name: str | None = None


@dataclass(frozen=True)
class _Year:
    """How one year's days are decided, worked out once per year."""

    source: DaySource
    rest: frozenset[date] = frozenset()  # holidays-estimate: statutory rest days
    work: frozenset[date] = frozenset()  # holidays-estimate: weekend days worked, where the package has them
    names: Mapping[date, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CalendarOverrides:
    """Company overrides: extra rest days, extra working days and years the file fully covers."""

    years: frozenset[int] = field(default_factory=frozenset)
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        clash = self.holidays & self.workdays
        if clash:
            listed = ", ".join(d.isoformat() for d in sorted(clash))
            raise ValueError(f"dates listed both as holidays and as workdays: {listed}")


@cache
def _chinesecalendar_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:  # the package's own word for "no schedule for this year"
        return False
    return True


def _iter_days(start: date, end: date) -> Iterable[date]:
    return (start + timedelta(days=i) for i in range((end - start).days + 1))


def _parse_date(value: Any, where: str) -> date:
    # Dates arrive as text from the loader; date objects come from explicit tags or from callers.
    # A datetime is a date subclass, but a time of day here is almost certainly a typo.
    if isinstance(value, datetime):
        raise ValueError(f"{where}: {value!r} has a time of day; give a plain date (YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")


def _parse_dates(entries: Any, where: str) -> frozenset[date]:
    if entries is None:
        return frozenset()
    if not isinstance(entries, list):
        raise ValueError(f"{where}: expected a list of dates or {{from, to}} ranges, got {entries!r}")
    out: set[date] = set()
    for entry in entries:
        if isinstance(entry, dict):
            if set(entry) != _RANGE_KEYS:
                raise ValueError(f"{where}: range {entry!r} must have exactly the keys 'from' and 'to'")
            start = _parse_date(entry["from"], f"{where} range {entry!r}")
            end = _parse_date(entry["to"], f"{where} range {entry!r}")
            if start > end:
                raise ValueError(f"{where}: range {entry!r} has 'from' after 'to'")
            out.update(_iter_days(start, end))
        else:
            out.add(_parse_date(entry, where))
    return frozenset(out)


def load_overrides(path: str | Path) -> CalendarOverrides:
    """Load and validate a YAML override file; raise ValueError naming the path and bad entry."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_DateAsTextLoader)  # still a SafeLoader
    except (yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        return CalendarOverrides()
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping with keys {sorted(_OVERRIDE_KEYS)}, got {raw!r}")
    unknown = set(raw) - _OVERRIDE_KEYS
    if unknown:
        allowed = sorted(_OVERRIDE_KEYS)
        raise ValueError(f"{path}: unknown keys {sorted(map(str, unknown))}; allowed: {allowed}")

    years_raw = raw.get("years") or []
    if not isinstance(years_raw, list):
        raise ValueError(f"{path}: years: expected a list of years, got {years_raw!r}")
    for year in years_raw:
        # bool is an int subclass; `years: [yes]` must not sneak through as year 1.
        if not isinstance(year, int) or isinstance(year, bool) or not 1 <= year <= 9999:
            raise ValueError(f"{path}: years: {year!r} is not a year")

    holidays = _parse_dates(raw.get("holidays"), f"{path}: holidays")
    workdays = _parse_dates(raw.get("workdays"), f"{path}: workdays")
    try:
        return CalendarOverrides(frozenset(years_raw), holidays, workdays)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


class BusinessCalendar:
    """Working days (Chinese statutory calendar plus overrides) and working hours in one time zone."""

    def __init__(
        self,
        work_start: time = time(8, 30),
        work_end: time = time(17, 30),
        tz: ZoneInfo = ZoneInfo("Asia/Shanghai"),
        overrides: CalendarOverrides | None = None,
        fallback_weekends: bool = False,
    ) -> None:
        if work_start.tzinfo is not None or work_end.tzinfo is not None:
            raise ValueError("work_start and work_end are wall-clock times in tz; give them without tzinfo")
        if not work_start < work_end:
            raise ValueError(f"work_start {work_start} must be before work_end {work_end}")
        self.work_start = work_start
        self.work_end = work_end
        self.tz = tz
        self.overrides = overrides or CalendarOverrides()
        self.fallback_weekends = fallback_weekends
        # Sweeps over thousands of gates ask about the same few weeks again and again.
        self._day_cache: dict[date, bool] = {}
        # Which layer decides a year, and its holiday set, is worked out (and logged) once per year.
        self._years: dict[int, _Year] = {}

    # ---- days -------------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """True if d is a working day, decided by the first layer that knows it (see the module docstring)."""
        if isinstance(d, datetime):
            # The date of an instant depends on the zone; make the caller say which.
            raise TypeError("is_working_day takes a date; for a datetime use dt.astimezone(cal.tz).date()")
        cached = self._day_cache.get(d)
        if cached is None:
            cached = self._day_cache[d] = self._resolve_day(d)
        return cached

    def _resolve_day(self, d: date) -> bool:
        # Company overrides win over everything, including the statutory calendar.
        if d in self.overrides.holidays:
            return False
        if d in self.overrides.workdays:
            return True
        year = self._year(d.year, d)
        if year.source == "chinesecalendar":
            return bool(chinese_calendar.is_workday(d))
        if d in year.work:
            return True
        return d.weekday() < 5 and d not in year.rest

    def _year(self, year: int, day: date | None = None) -> _Year:
        known = self._years.get(year)
        if known is None:
            known = self._years[year] = self._resolve_year(year, day)
        return known

    def _resolve_year(self, year: int, day: date | None) -> _Year:
        if year in self.overrides.years:
            return _Year("override")
        if _chinesecalendar_knows(year):
            return _Year("chinesecalendar")
        first, last = holidays_years()
        if first <= year <= last:
            statutory = holidays.China(years=year, categories=(holidays.PUBLIC,), language="en_US")
            rest = frozenset(d for d in statutory if d.year == year)
            work = frozenset(d for d in statutory.weekend_workdays if d.year == year)
            logger.warning(
                "Year %d is not in chinesecalendar %s (%d-%d): its working days are an ESTIMATE from the "
                "statutory holidays of the holidays package %s (%d rest days, %d make-up working days); the "
                "State Council schedule may add bridge days and make-up working days. Add the official "
                "schedule to calendar.overrides_file (years: [%d]) or upgrade chinesecalendar.",
                year, _version(chinese_calendar), *chinesecalendar_years(), _version(holidays),
                len(rest), len(work), year,
            )
            names = {d: str(statutory[d]) for d in rest}
            return _Year("holidays-estimate", rest, work, names)
        if self.fallback_weekends:
            logger.warning(
                "No holiday data for year %d (chinesecalendar %s, holidays %s, no override file entry): "
                "treating Mon-Fri as working days and Sat/Sun as rest days; public holidays "
                "and make-up days that year are NOT known",
                year, _version(chinese_calendar), _version(holidays),
            )
            return _Year("weekends-fallback")
        raise CalendarDataMissing(year, day)

    def day_source(self, d: date) -> DaySource:
        """The layer that decides whether d is a working day (see the module docstring)."""
        if isinstance(d, datetime):
            raise TypeError("day_source takes a date; for a datetime use dt.astimezone(cal.tz).date()")
        if d in self.overrides.holidays or d in self.overrides.workdays:
            return "override"
        return self._year(d.year, d).source

    def year_source(self, year: int) -> DaySource:
        """The layer that decides the days of `year` that the override file does not list one by one."""
        return self._year(year).source

    def covers(self, year: int) -> bool:
        """True if some data layer (override years, chinesecalendar, holidays) knows `year`."""
        first, last = holidays_years()
        return year in self.overrides.years or _chinesecalendar_knows(year) or first <= year <= last

    def estimated_years(self, years: Iterable[int] | None = None) -> list[int]:
        """Years whose days rest on an estimate (holidays-estimate or weekends-fallback), sorted.

        With `years`, those of them that do; without, the years this calendar has estimated so far.
        """
        if years is None:
            return sorted(y for y, known in self._years.items() if known.source in ESTIMATED_SOURCES)
        return sorted(y for y in set(years) if self.year_source(y) in ESTIMATED_SOURCES)

    def year_days(self, year: int) -> list[CalendarDay]:
        """The days of `year` that differ from Mon-Fri: weekdays off and weekend days worked, in order."""
        out = []
        for d in _iter_days(date(year, 1, 1), date(year, 12, 31)):
            working = self.is_working_day(d)
            if working != (d.weekday() < 5):
                out.append(CalendarDay(d, working, self.day_source(d), self._day_name(d)))
        return out

    def _day_name(self, d: date) -> str | None:
        year = self._year(d.year, d)
        if year.source == "chinesecalendar":
            name = chinese_calendar.get_holiday_detail(d)[1]
            return str(name) if name else None
        return year.names.get(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after d."""
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    # ---- helpers ----------------------------------------------------------------------------

    def _local(self, dt: datetime) -> datetime:
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError(f"naive datetime {dt.isoformat()} given; pass a timezone-aware datetime")
        return dt.astimezone(self.tz)

    def _at(self, d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=self.tz)

    # ---- natural time -----------------------------------------------------------------------

    def add_natural_hours(self, start: datetime, hours: float) -> datetime:
        """start plus elapsed hours, regardless of working time."""
        return (self._local(start) + timedelta(hours=hours)).astimezone(self.tz)

    def add_natural_days(self, start: datetime, days: int) -> datetime:
        """start plus calendar days at the same wall-clock time."""
        # Aware + timedelta in Python keeps the wall clock; astimezone re-resolves the offset.
        return (self._local(start) + timedelta(days=days)).astimezone(self.tz)

    # ---- working time -----------------------------------------------------------------------

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Deadline "within N working days": work_end of the N-th working day counted after start.

        Day 1 is the first working day after start's date, except when start is on a working day
        at or before work_start: then the whole of that day is still available and it is day 1.
        A start during or after working hours does not count its partial day. days=0 returns
        start unchanged (in the calendar's tz); negative days raise ValueError.
        """
        if days < 0:
            raise ValueError(f"working days must be >= 0, got {days}")
        local = self._local(start)
        if days == 0:
            return local
        day = local.date()
        if not (self.is_working_day(day) and local.time() <= self.work_start):
            day = self.next_working_day(day)
        for _ in range(days - 1):
            day = self.next_working_day(day)
        return self._at(day, self.work_end)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """start plus hours counted only inside working hours on working days.

        A start outside working hours begins counting at the next work_start; an amount that
        ends exactly at work_end returns that work_end. hours=0 returns start unchanged.
        """
        if hours < 0 or math.isnan(hours):
            raise ValueError(f"working hours must be >= 0, got {hours}")
        cur = self._local(start)
        remaining = timedelta(hours=hours)
        if not remaining:
            return cur
        day = cur.date()
        if not self.is_working_day(day):
            day = self.next_working_day(day)
            cur = self._at(day, self.work_start)
        # One iteration per working day, so long amounts cost days, not minutes.
        while True:
            day_start, day_end = self._at(day, self.work_start), self._at(day, self.work_end)
            cur = max(cur, day_start)
            if cur < day_end:
                available = day_end - cur
                if remaining <= available:
                    return cur + remaining
                remaining -= available
            day = self.next_working_day(day)
            cur = self._at(day, self.work_start)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time inside [a, b]; zero if b <= a."""
        a, b = self._local(a), self._local(b)
        total = timedelta()
        if b <= a:
            return total
        for day in _iter_days(a.date(), b.date()):
            if self.is_working_day(day):
                lo = max(a, self._at(day, self.work_start))
                hi = min(b, self._at(day, self.work_end))
                if hi > lo:
                    total += hi - lo
        return total

    def is_working_time(self, dt: datetime) -> bool:
        """True if dt is inside working hours [work_start, work_end) on a working day."""
        local = self._local(dt)
        wall = local.time()
        return self.is_working_day(local.date()) and self.work_start <= wall < self.work_end

    def next_working_time(self, dt: datetime) -> datetime:
        """dt itself if it is working time, else the next work_start (for holding quiet-hour reminders)."""
        local = self._local(dt)
        if self.is_working_time(local):
            return local
        day = local.date()
        if self.is_working_day(day) and local.time() < self.work_start:
            return self._at(day, self.work_start)
        return self._at(self.next_working_day(day), self.work_start)

    # ---- dispatch ---------------------------------------------------------------------------

    def add(self, start: datetime, amount: float, unit: str) -> datetime:
        """start plus amount in unit (one of UNITS)."""
        if unit == "natural_hours":
            return self.add_natural_hours(start, amount)
        if unit == "working_hours":
            return self.add_working_hours(start, amount)
        if unit in ("natural_days", "working_days"):
            days = _whole(amount, unit)
            if unit == "natural_days":
                return self.add_natural_days(start, days)
            return self.add_working_days(start, days)
        raise ValueError(f"unknown time unit {unit!r}; allowed units: {', '.join(UNITS)}")


def _whole(amount: float, unit: str) -> int:
    # A policy saying "1.5 working days" is ambiguous; refuse rather than round silently.
    if isinstance(amount, bool) or not float(amount).is_integer():
        raise ValueError(f"{unit} needs a whole number, got {amount!r}")
    return int(amount)
