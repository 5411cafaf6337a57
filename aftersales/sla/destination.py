"""Working days of a destination abroad: a country's public holidays (the `holidays` package) in its time zone.

A team sent abroad (002:460, daily progress reports) works on the destination's days, not the company's: the
Chinese layered calendar (aftersales.sla.calendar) stays the company's, and this calendar answers for any
country the `holidays` package knows, with its weekend (e.g. Friday-Saturday in some countries) and its
weekend working days where the package has them. China itself goes to the company calendar (make-up days).
"""

from __future__ import annotations

from datetime import date, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from aftersales.errors import ConfigurationError
from aftersales.sla.calendar import BusinessCalendar, _Year


class UnknownDestination(ConfigurationError):
    """A country, subdivision or time zone the calendar data does not know."""


class DestinationCalendar(BusinessCalendar):
    """BusinessCalendar whose days are the public holidays and weekend of one country (and subdivision)."""

    def __init__(self, country: str, tz: str, *, subdiv: str | None = None,
                 work_start: time = time(8, 30), work_end: time = time(17, 30)) -> None:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnknownDestination(f"unknown time zone {tz!r} (an IANA name such as 'Europe/Berlin')") from exc
        code = country.upper()
        if code not in holidays.list_supported_countries():
            raise UnknownDestination(f"the holidays package knows no country {country!r} (ISO 3166 alpha-2)")
        if subdiv is not None and subdiv not in holidays.list_supported_countries()[code]:
            raise UnknownDestination(f"{code} has no subdivision {subdiv!r} in the holidays package")
        super().__init__(work_start=work_start, work_end=work_end, tz=zone)
        self.country = code
        self.subdiv = subdiv

    def _resolve_day(self, d: date) -> bool:
        year = self._year(d.year, d)
        if d in year.work:
            return True
        return d not in year.rest and d.weekday() not in _weekend(self.country, self.subdiv, d.year)

    def _resolve_year(self, year: int, day: date | None) -> _Year:
        statutory = _holidays(self.country, self.subdiv, year)
        rest = frozenset(d for d in statutory if d.year == year)
        work = frozenset(d for d in getattr(statutory, "weekend_workdays", ()) if d.year == year)
        return _Year("holidays-country", rest, work, {d: str(statutory[d]) for d in rest})


@cache
def _holidays(country: str, subdiv: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdiv, years=year, categories=(holidays.PUBLIC,))


def _weekend(country: str, subdiv: str | None, year: int) -> frozenset[int]:
    return frozenset(getattr(_holidays(country, subdiv, year), "weekend", {5, 6}))


def destination_calendar(country: str, tz: str, *, subdiv: str | None = None,
                         company: BusinessCalendar | None = None) -> BusinessCalendar:
    """The working days of a destination; China (a domestic dispatch, 5.6) is the company's own calendar."""
    if country.upper() == "CN" and company is not None and subdiv is None:
        if str(company.tz) == tz:
            return company
        return BusinessCalendar(work_start=company.work_start, work_end=company.work_end, tz=ZoneInfo(tz),
                                overrides=company.overrides, fallback_weekends=company.fallback_weekends)
    return DestinationCalendar(country, tz, subdiv=subdiv)
