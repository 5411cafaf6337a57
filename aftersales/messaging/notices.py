"""Progress notices (the case_notice message) to the customer or to staff, once per key and person."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from aftersales.messaging.delivery import already_sent, deliver
from aftersales.messaging.recipients import Recipient
from aftersales.messaging.texts import notice_text
from aftersales.runtime.db import session_scope
from models import Case
from models.case import DEFAULT_LANGUAGE, LANGUAGES


def delivered(case_number: str, key: str) -> bool:
    """True when the case's notice `key` went out to every destination of everyone it was for (rows
    `case:<id>:<key>:<person>:<n>`, as `notice` keys them); False when any is not sent yet, or none was made."""
    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.number == case_number)).first()
    return case_id is not None and already_sent(f"case:{case_id}:{key}")


def notice(case_id: int | None, key: str, people: list[Recipient], case_number: str | None, text: str,
           context: dict[str, Any] | None = None) -> int:
    """Tell each person, in their language, the notice `text` of templates/notices; returns how many were sent."""
    sent = 0
    for person in people:
        lang = person.language if person.language in LANGUAGES else DEFAULT_LANGUAGE
        rendered = notice_text(text, lang, {"number": case_number, **(context or {})})
        rows = deliver(key=f"{key}:{person.person_id}", case_id=case_id, template="case_notice",
                       recipient=person.person_id, language=lang,
                       context={"case_number": case_number, "customer_name": person.name,
                                "headline": rendered.headline, "lines": rendered.lines},
                       urls=person.urls)
        sent += sum(1 for r in rows if r.status == "sent")
    return sent
