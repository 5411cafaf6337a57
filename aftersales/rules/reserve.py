"""The standing reserve of passport-holding repair staff (5.1, F2:420-421): who counts, who falls short. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol


class Member(Protocol):
    """What the rule reads of a person in the staff directory."""

    id: str
    name: str
    department: str | None
    passport_expires: date | None


@dataclass(frozen=True)
class Shortfall:
    """A department with fewer passport holders than the standard asks."""

    department: str
    have: int
    need: int


@dataclass(frozen=True)
class Expiry:
    """A reserve member whose passport runs out within the warning period."""

    person_id: str
    name: str
    department: str
    expires: date


def check_reserve(people: Iterable[Member], minimums: Mapping[str, int], today: date,
                  warning_days: int) -> tuple[list[Shortfall], list[Expiry]]:
    """Departments short of passport holders, and reserve passports expiring within `warning_days` of `today`.

    A passport counts while it is valid today; one that expires within the warning period still counts (it is
    usable now) and is reported so HR renews it in time.
    """
    holders: dict[str, list[Member]] = {dept: [] for dept in minimums}
    for person in people:
        if person.department in holders and person.passport_expires is not None and person.passport_expires > today:
            holders[person.department].append(person)
    short = [Shortfall(dept, len(holders[dept]), need) for dept, need in minimums.items() if len(holders[dept]) < need]
    horizon = today + timedelta(days=warning_days)
    expiring = sorted((Expiry(p.id, p.name, dept, p.passport_expires) for dept, members in holders.items()
                       for p in members if p.passport_expires is not None and p.passport_expires <= horizon),
                      key=lambda e: (e.expires, e.person_id))
    return short, expiring
