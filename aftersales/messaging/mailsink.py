"""The embedded local mail sink: an aiosmtpd server on loopback that files every mail in the mailbox table."""

from __future__ import annotations

import asyncio
import email
import logging
import queue
import signal
import sys
import threading
from collections.abc import Callable
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Table, insert

from aftersales.config.settings import get_settings
from aftersales.runtime.db import create_schema, get_engine
from models.notification import MailboxMessage
from models.types import utcnow

log = logging.getLogger(__name__)

OnMessage = Callable[[MailboxMessage], None]
MAILBOX: Table = MailboxMessage.__table__  # type: ignore[attr-defined]
INSERT_RETURNING_ID = insert(MAILBOX).returning(MAILBOX.c.id, sort_by_parameter_order=True)
SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits (Python's default: 0.005)


def parse_mail(raw: bytes, envelope_from: str, rcpt_tos: list[str]) -> MailboxMessage:
    """A MailboxMessage (not yet stored) from a raw RFC 5322 message and its SMTP envelope.

    Parsed with the compat32 policy and headers decoded by hand: policy.default builds header objects for every
    header and cost ~5 ms of CPU per mail, the sink's largest cost when a recall sends thousands.
    """
    return MailboxMessage(**_fields(raw, envelope_from, rcpt_tos))


def _fields(raw: bytes, envelope_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
    msg = email.message_from_bytes(raw)
    return {
        "mail_from": (_header(msg, "From") or envelope_from)[:300],
        "rcpt_to": ", ".join(rcpt_tos)[:1000],
        "subject": _header(msg, "Subject")[:500],  # RFC 2047 decoded: a Chinese subject reads as Chinese
        "text": _part(msg, "plain"),
        "html": _part(msg, "html"),
    }


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value)))).replace("\r\n", "").replace("\n", "")
    except (LookupError, UnicodeError, HeaderParseError):
        return str(value)


def _part(msg: Message, subtype: str) -> str:
    """The decoded text/<subtype> body (the first one that is no attachment), or "" when the mail has none."""
    for part in msg.walk():
        if part.get_content_type() != f"text/{subtype}" or part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return ""
        try:
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            return payload.decode("utf-8", errors="replace")
    return ""


class _Handler:
    """aiosmtpd handler: hand each mail to the writer, answer 250 once it is stored (451 if it could not be)."""

    def __init__(self, on_message: OnMessage | None) -> None:
        self.writer = _Writer(on_message)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        self.writer.put((raw, envelope.mail_from or "", list(envelope.rcpt_tos), loop, stored))
        try:
            await stored
        except Exception:
            log.exception("mail sink could not store a message for %s", envelope.rcpt_tos)
            # A temporary failure makes the sender report it and retry, instead of losing the mail.
            return "451 4.3.0 Could not store the message, try again later"
        return "250 Message accepted for delivery"


Pending = tuple[bytes, str, list[str], asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class _Writer:
    """One thread that parses and stores the mails, all those waiting in one transaction.

    Why not a thread per mail (asyncio's executor): with a recall's fan-out on several connections, the executor's
    threads fought the SMTP loop for the GIL and each mail paid its own commit; py-spy put a third of the sink's
    time there (benchmarks/recall_bench.py). The database is blocking I/O: it stays off the SMTP event loop.
    """

    BATCH = 100  # mails stored in one transaction at most

    def __init__(self, on_message: OnMessage | None) -> None:
        self.on_message = on_message
        self.queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def put(self, item: Pending) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="mailsink-writer", daemon=True)
                self.thread.start()
        self.queue.put(item)

    def stop(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.BATCH:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            self._store(batch)

    def _store(self, batch: list[Pending]) -> None:
        stored: list[tuple[Pending, MailboxMessage]] = []
        try:
            rows = [{**_fields(raw, sender, rcpts), "received_at": utcnow()} for raw, sender, rcpts, _, _ in batch]
            # One multi-row INSERT for the batch, no ORM object (building and flushing a MailboxMessage cost a third
            # of storing a mail), in one transaction; the ids come back in the rows' order.
            with get_engine().begin() as conn:
                if conn.dialect.name == "sqlite":
                    # A mail sink for demos and tests: a power cut may lose its last mails, a crash does not (WAL);
                    # without the fsync per mail it keeps pace with a recall's fan-out.
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                ids = conn.execute(INSERT_RETURNING_ID, rows).scalars().all()
            for item, fields, key in zip(batch, rows, ids, strict=True):
                stored.append((item, MailboxMessage(id=key, **fields)))
        except Exception as exc:  # noqa: BLE001 - every waiting sender gets its 451
            for *_, loop, future in batch:
                loop.call_soon_threadsafe(_settle, future, exc)
            return
        for (*_, loop, future), message in stored:
            if self.on_message is not None:
                self.on_message(message)
            loop.call_soon_threadsafe(_settle, future, None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the sender hung up meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


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
        """Stop listening (idempotent); the mails already received are stored first."""
        if self._controller is not None:
            self._controller.stop()
            self._controller.handler.writer.stop()
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
    # The SMTP loop and the thread storing mails share the GIL: after every socket call the loop waited for the
    # storing thread's switch interval (5 ms by default) to get it back, which halved a recall's fan-out
    # (benchmarks/recall_bench.py: ~130 → ~190 messages/s). This process is the sink alone: a shorter interval
    # costs it little.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # aiosmtpd logs every SMTP command at INFO: an eighth of the sink's time in a recall's fan-out (py-spy).
    logging.getLogger("mail.log").setLevel(logging.WARNING)
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
