"""Progress notices (the case_notice message) to the customer or to staff, once per key and person."""

from __future__ import annotations

from aftersales.messaging.delivery import deliver
from aftersales.messaging.recipients import Recipient


def notice(case_id: int, key: str, people: list[Recipient], case_number: str | None, headline: dict[str, str],
           lines: dict[str, list[str]]) -> int:
    """Tell each person in their language (Chinese when no text in theirs); returns how many were sent."""
    sent = 0
    for person in people:
        lang = person.language if person.language in headline else "zh"
        rows = deliver(key=f"{key}:{person.person_id}", case_id=case_id, template="case_notice",
                       recipient=person.person_id, language=lang,
                       context={"case_number": case_number, "customer_name": person.name,
                                "headline": headline[lang], "lines": lines.get(lang, [])},
                       urls=person.urls)
        sent += sum(1 for r in rows if r.status == "sent")
    return sent
