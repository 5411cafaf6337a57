"""Drive cases like people do: read the messages the mail sink received and answer the links in them."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from tests.signin import session_cookie

LINK = re.compile(r"https?://[^\s\"'<>]+/gates/(\d+)\?t=([A-Za-z0-9_.\-]+)")


@dataclass
class Mail:
    """One message the sink received."""

    id: int
    rcpt_to: str
    subject: str
    text: str
    html: str

    def links(self) -> list[str]:
        """The gate links in the message (text part)."""
        return [m.group(0) for m in LINK.finditer(self.text)]


class Driver:
    """Reads the sink's mailbox table and submits gate forms over HTTP, as a recipient would."""

    def __init__(self, db_path: Path | str, web_url: str) -> None:
        self.db_path = db_path  # the stack's SQLite file, or the URL of its PostgreSQL database
        self.web_url = web_url
        self.http = httpx.Client(timeout=60)
        # Reads cases as operations would (signed in); gate links are answered without sign-in, as people do.
        self.api = httpx.Client(timeout=60, cookies=session_cookie())

    def mails(self, to: str | None = None, after: int = 0) -> list[Mail]:
        """Messages received so far (optionally to one address, after an id)."""
        if isinstance(self.db_path, str):
            from sqlalchemy import text

            from aftersales.runtime.db import engine_for

            with engine_for(self.db_path).connect() as conn:
                rows = conn.execute(text("SELECT id, rcpt_to, subject, text, html FROM mailbox WHERE id > :after "
                                         "ORDER BY id"), {"after": after}).all()
        else:
            with sqlite3.connect(self.db_path, timeout=30) as db:
                rows = db.execute("SELECT id, rcpt_to, subject, text, html FROM mailbox WHERE id > ? ORDER BY id",
                                  (after,)).fetchall()
        mails = [Mail(*row) for row in rows]
        return [m for m in mails if to is None or to in m.rcpt_to]

    def wait_for_link(self, to: str, gate_key_hint: str = "", after: int = 0, timeout: float = 90) -> tuple[Mail, str]:
        """The first message to `to` (after id `after`) with a gate link whose subject contains the hint."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for mail in self.mails(to, after):
                if mail.links() and gate_key_hint in mail.subject:
                    return mail, mail.links()[0]
            time.sleep(0.5)
        seen = [(m.rcpt_to, m.subject) for m in self.mails(after=after)]
        raise AssertionError(f"no link to {to} with {gate_key_hint!r} within {timeout}s; mails: {seen}")

    def answer(self, link: str, fields: dict[str, str]) -> httpx.Response:
        """Open the link's page, then submit the form on it."""
        page = self.http.get(link)
        assert page.status_code == 200, page.text[:500]
        gate_id = urlparse(link).path.rsplit("/", 1)[-1]
        token = parse_qs(urlparse(link).query)["t"][0]
        origin = link.split("/gates/", 1)[0]  # the instance that served the page (production tests run two)
        return self.http.post(f"{origin}/gates/{gate_id}", data={"t": token, **fields})

    def case(self, number: str) -> dict:
        """The case as the API returns it."""
        response = self.api.get(f"{self.web_url}/api/cases/{number}")
        response.raise_for_status()
        return response.json()

    def wait_for_gate(self, number: str, kind: str, timeout: float = 90) -> dict:
        """Wait until the case waits on a gate of this kind (among the gates open at once, e.g. 会勘 004:463)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for waiting in self.case(number)["waiting_gates"]:
                if waiting["kind"] == kind:
                    return waiting
            time.sleep(0.5)
        raise AssertionError(f"{number} never waited on {kind}: {self.case(number)['current_gate']}")

    def wait_for_status(self, number: str, status: str, timeout: float = 90) -> dict:
        """Wait until the case reaches a status."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            view = self.case(number)
            if view["status"] == status:
                return view
            time.sleep(0.5)
        raise AssertionError(f"{number} never reached {status}: {self.case(number)['status']}")

    def link_for_gate(self, to: str | tuple[str, ...], gate_id: int, timeout: float = 60) -> tuple[Mail, str]:
        """The message to `to` carrying a link to this gate (the newest one, e.g. after an escalation); given several
        people, that of the first one (in their order) who has one."""
        people = (to,) if isinstance(to, str) else to
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for person in people:
                for mail in reversed(self.mails(person)):
                    for link in mail.links():
                        if f"/gates/{gate_id}?" in link:
                            return mail, link
            time.sleep(0.3)
        raise AssertionError(f"no link to gate {gate_id} reached {to}: "
                             f"{[m.subject for person in people for m in self.mails(person)]}")

    def answer_gate(self, number: str, kind: str, to: str, fields: dict[str, str]) -> dict:
        """Wait for the case to wait on `kind`, take the link `to` received, and answer it; returns the gate."""
        gate = self.wait_for_gate(number, kind)
        _, link = self.link_for_gate(to, gate["id"])
        response = self.answer(link, fields)
        assert response.status_code == 200, response.text[:2000]
        return gate
