"""The embedded local mail sink: an aiosmtpd server on loopback that files every mail in the mailbox table."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import signal
import threading
from collections.abc import Callable
from email.message import EmailMessage
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller

from aftersales.config.settings import get_settings
from aftersales.runtime.db import create_schema, session_scope
from models.notification import MailboxMessage

log = logging.getLogger(__name__)

OnMessage = Callable[[MailboxMessage], None]


def parse_mail(raw: bytes, envelope_from: str, rcpt_tos: list[str]) -> MailboxMessage:
    """A MailboxMessage (not yet stored) from a raw RFC 5322 message and its SMTP envelope."""
    # policy.default decodes RFC 2047 headers, so a Chinese subject reads as Chinese.
    msg = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
    return MailboxMessage(
        mail_from=str(msg.get("From") or envelope_from)[:300],
        rcpt_to=", ".join(rcpt_tos)[:1000],
        subject=str(msg.get("Subject") or "")[:500],
        text=_part(msg, "plain"),
        html=_part(msg, "html"),
    )


def _part(msg: EmailMessage, subtype: str) -> str:
    """The decoded text/<subtype> body, or "" when the mail has none."""
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else content.decode("utf-8", errors="replace")


class _Handler:
    """aiosmtpd handler: parse, store, tell the optional callback."""

    def __init__(self, on_message: OnMessage | None) -> None:
        self.on_message = on_message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        try:
            # The database is blocking I/O: keep it off the SMTP event loop.
            await asyncio.get_running_loop().run_in_executor(
                None, self._store, raw, envelope.mail_from or "", list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("mail sink could not store a message for %s", envelope.rcpt_tos)
            # A temporary failure makes the sender report it and retry, instead of losing the mail.
            return "451 4.3.0 Could not store the message, try again later"
        return "250 Message accepted for delivery"

    def _store(self, raw: bytes, envelope_from: str, rcpt_tos: list[str]) -> None:
        row = parse_mail(raw, envelope_from, rcpt_tos)
        with session_scope() as session:
            session.add(row)
        if self.on_message is not None:
            self.on_message(row)


class MailSink:
    """A local SMTP server (no TLS, no auth) that stores each received mail as a MailboxMessage row."""

    def __init__(self, host: str | None = None, port: int | None = None, on_message: OnMessage | None = None) -> None:
        settings = get_settings()
        self.host = host or settings.smtp_host
        self.port = port or settings.smtp_port
        self.on_message = on_message
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen on host:port in a background thread; returns once the server accepts connections."""
        if self._controller is not None:
            return
        # A fixed server name avoids socket.getfqdn(), which can stall for seconds without DNS.
        controller = Controller(
            _Handler(self.on_message), hostname=self.host, port=self.port, server_hostname="aftersales-sink"
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(host: str | None = None, port: int | None = None) -> None:
    """Run the sink until Ctrl-C or SIGTERM (defaults: settings.smtp_host / smtp_port)."""
    create_schema()  # the sink may start before anything else has created the mailbox table
    stop = threading.Event()
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:  # signal handlers can only be installed from the main thread
        previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        with MailSink(host, port) as sink:
            log.info("mail sink listening on smtp://%s:%d (no TLS, no auth)", sink.host, sink.port)
            try:
                # Wait in slices: a bare Event.wait() would delay Ctrl-C until it returns.
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            log.info("mail sink stopping")
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # `python -m aftersales.messaging.mailsink`: how the launcher starts the sink
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve_forever()
