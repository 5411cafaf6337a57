"""Who a message goes to: the customer of a case, or the people holding roles (with delegation while away)."""

from __future__ import annotations

from dataclasses import dataclass

from aftersales.config.settings import get_settings
from aftersales.config.staff import CUSTOMER, get_staff
from aftersales.messaging.transport import smtp_url
from models import Case


@dataclass(frozen=True)
class Recipient:
    """Someone a message goes to, in their language, on their destinations (Apprise URLs)."""

    person_id: str
    name: str
    language: str
    urls: list[str]


def customer_recipients(case: Case) -> list[Recipient]:
    """The customer, when they gave an e-mail (the configured customer channel, or the local mail sink)."""
    if not case.customer_email:
        return []
    template = get_settings().customer_apprise_url
    url = template.format(email=case.customer_email) if template else smtp_url(case.customer_email)
    return [Recipient(CUSTOMER, case.customer_name, case.language, [url])]


def role_recipients(names: list[str], *, by_person: bool = False) -> list[Recipient]:
    """Everyone answering for these roles (or these person ids), away people replaced by their delegates."""
    staff = get_staff()
    result: list[Recipient] = []
    for name in names:
        people = [staff.person(name)] if by_person else staff.holders(name)
        for p in people:
            if all(r.person_id != p.id for r in result):
                result.append(Recipient(p.id, p.name, p.language, list(p.notify)))
    return result
