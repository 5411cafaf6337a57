"""Sending a recall's notices from its outbox: claimed in batches, sent over reused SMTP connections, rate-bound.

Each notice row (one per recall and customer) goes pending → claimed → sending → sent, or failed (retried up to
`recall.fanout.max_attempts`), and the states are committed so that a sender killed at any instant leaves the
outbox telling what happened:

- `claimed` rows were taken by a sender but not yet started: whoever resumes sends them (a claim is dead once
  older than `recall.fanout.claim_stale_seconds`).
- `sending` is set, in the same commit that marks the previous row `sent`, just before a message is handed to
  the SMTP server, and the row becomes `sent` only after the server accepted it (its 250 reply to DATA). So at
  any instant at most one row per SMTP connection is `sending` (`recall.fanout.connections` send a batch's rows
  side by side), and those are the only rows whose fate a crash leaves unknown: the server may or may not have
  accepted them before the process died.

At that crash window this module chooses **at most once**: a dead sender's `sending` row becomes `uncertain` and
is not sent again by itself; the ledger and the recall page count it, and an operator who has checked the mail
server's log releases it (`release_uncertain`, then it is sent once more). A customer told twice of a recall is
harmless, but the issue demands nobody be notified twice and the window holds one notice per crash and
connection out of thousands; every other row is exactly once. (Messages carry a Message-ID fixed per recall and
customer, so a mail system that deduplicates would also absorb a released resend.)

Failures the server reports (a refused recipient, a 4xx/5xx to DATA) mean not accepted: the row is `failed` with
the error, and is retried. A broken connection while a message was in flight is counted as a failure too (the
server did not answer 250, so it did not accept the message).

E-mail goes out over smtplib, one connection per sender thread reused across the batch, when customers are
reached through the configured SMTP server (no `AFTERSALES_CUSTOMER_APPRISE_URL`): Apprise opens a new
connection and TLS context per mail (~37 ms of CPU each, benchmarks/README.md), which caps a fan-out near 25
messages/s. Any other customer channel goes through Apprise one message at a time (correct, slower).
"""

from __future__ import annotations

import base64
import logging
import smtplib
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import Header
from email.utils import formataddr, formatdate
from functools import lru_cache, partial
from types import TracebackType
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from aftersales.config.policy import RecallFanout, get_policy
from aftersales.config.settings import get_settings
from aftersales.errors import AftersalesError
from aftersales.gates.tokens import AckClaims, sign_recall_ack
from aftersales.messaging.render import Message, renderer
from aftersales.messaging.transport import send as apprise_send
from aftersales.recall.outbox import NOTICES, serials_by_customer
from aftersales.runtime import clock
from aftersales.runtime.db import get_engine

log = logging.getLogger(__name__)

PENDING, CLAIMED, SENDING, SENT, FAILED, UNCERTAIN, NO_ADDRESS = (
    "pending", "claimed", "sending", "sent", "failed", "uncertain", "no_address")

Progress = Callable[["FanoutReport"], None]
SWITCH_INTERVAL = 0.0005  # seconds; see _short_switches


@dataclass(frozen=True)
class RecallText:
    """What every notice of a recall says (the customer's name, serials and link are added per notice)."""

    recall_number: str
    recall_class: str
    product_model: str
    hazard: str
    remedy: str


@dataclass
class FanoutReport:
    """Counts of one send_pending call and the outbox after it."""

    sent: int = 0
    failed: int = 0
    batches: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def percent(self) -> float:
        done = self.by_status.get(SENT, 0)
        return 100.0 * done / self.total if self.total else 100.0


def outbox_counts(recall: str, conn: Connection | None = None) -> dict[str, int]:
    """How many notices of the recall are in each state."""
    query = select(NOTICES.c.status, func.count()).where(NOTICES.c.recall == recall).group_by(NOTICES.c.status)
    if conn is not None:
        return {status: count for status, count in conn.execute(query)}
    with get_engine().connect() as own:
        return {status: count for status, count in own.execute(query)}


def claim_of(sender: str | None) -> str:
    """A new claim token; a named sender's claims start with its name (fits the 40-character column)."""
    return f"{sender[:32]}-{uuid.uuid4().hex[:7]}" if sender else uuid.uuid4().hex


def release_stale(recall: str, *, now: datetime | None = None, stale_seconds: int | None = None,
                  dead_sender: str | None = None) -> dict[str, int]:
    """Claims of dead senders: `claimed` rows back to pending (never started), `sending` rows to uncertain.

    A claim is dead once older than the stale limit, or at once when it was made by `dead_sender`: the recall's
    flow run passes its own id when it runs again, because Prefect starts a run again only after its earlier
    process was found dead (crashed, or silent past the heartbeat limit). Without that, a run rescheduled within
    the stale limit would skip the rows its dead attempt had claimed, and those customers would never be told.
    """
    limit = stale_seconds if stale_seconds is not None else get_policy().recall.fanout.claim_stale_seconds
    cutoff = (now or clock.now()) - timedelta(seconds=limit)
    dead = NOTICES.c.claimed_at <= cutoff
    if dead_sender:
        dead = or_(dead, NOTICES.c.claim.startswith(f"{dead_sender[:32]}-", autoescape=True))
    stale = and_(NOTICES.c.recall == recall, dead)
    with get_engine().begin() as conn:
        back = conn.execute(update(NOTICES).where(stale, NOTICES.c.status == CLAIMED)
                            .values(status=PENDING, claim=None, claimed_at=None)).rowcount
        unsure = conn.execute(update(NOTICES).where(stale, NOTICES.c.status == SENDING)
                              .values(status=UNCERTAIN, claim=None,
                                      last_error="sender died while the SMTP server held this message: "
                                                 "check the mail log, then release it")).rowcount
    if unsure:
        log.warning("recall %s: %d notice(s) in flight when a sender died are held as uncertain", recall, unsure)
    return {"released": back, "uncertain": unsure}


def release_uncertain(recall: str) -> int:
    """An operator's decision: send the uncertain notices again (they may arrive twice)."""
    with get_engine().begin() as conn:
        return int(conn.execute(update(NOTICES).where(NOTICES.c.recall == recall, NOTICES.c.status == UNCERTAIN)
                                .values(status=PENDING)).rowcount)


def _fast_commits(conn: Connection) -> None:
    """On SQLite, this connection's commits skip the fsync (WAL with synchronous=NORMAL).

    A commit then survives the death of any process (the WAL is written before the commit returns), which is
    the crash this module is built for; only a power cut or kernel panic may lose the last commits, turning
    `sent` rows back into `sending`/`claimed`: then, and only then, a notice may go out twice. The fsync per
    message cost more than the message itself (one per mark; 3-11 ms on this machine) and capped the fan-out
    near 100 messages/s. PostgreSQL keeps its own setting (synchronous_commit is the operator's).
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")


def _claim(conn: Connection, recall: str, claim: str, size: int, now: datetime) -> list[Any]:
    """Take up to `size` pending rows for this sender (a concurrent sender takes others: the UPDATE re-checks)."""
    ids = select(NOTICES.c.id).where(NOTICES.c.recall == recall, NOTICES.c.status == PENDING) \
        .order_by(NOTICES.c.id).limit(size).scalar_subquery()
    conn.execute(update(NOTICES).where(NOTICES.c.id.in_(ids), NOTICES.c.status == PENDING)
                 .values(status=CLAIMED, claim=claim, claimed_at=now))
    return list(conn.execute(select(NOTICES).where(NOTICES.c.claim == claim, NOTICES.c.status == CLAIMED)
                             .order_by(NOTICES.c.id)))


# The two marks of every message, built once (building and caching a statement per message cost more than
# running it): bound per call.
_MARK_SENT = (update(NOTICES).where(NOTICES.c.id == bindparam("row_id"), NOTICES.c.claim == bindparam("row_claim"))
              .values(status=SENT, sent_at=bindparam("at"), attempts=NOTICES.c.attempts + 1, last_error=None))
_MARK_SENDING = (update(NOTICES).where(NOTICES.c.id == bindparam("row_id"),
                                       NOTICES.c.claim == bindparam("row_claim"))
                 .values(status=SENDING, claimed_at=bindparam("at")))


def _mark(conn: Connection, claim: str, *, sent: int | None = None, sending: int | None = None) -> None:
    """One commit: the previous row accepted, the next one about to be handed over."""
    now = clock.now()
    if sent is not None:
        conn.execute(_MARK_SENT, {"row_id": sent, "row_claim": claim, "at": now})
    if sending is not None:
        conn.execute(_MARK_SENDING, {"row_id": sending, "row_claim": claim, "at": now})
    conn.commit()


def _fail(conn: Connection, claim: str, row_id: int, error: str) -> None:
    conn.execute(update(NOTICES).where(NOTICES.c.id == row_id, NOTICES.c.claim == claim)
                 .values(status=FAILED, attempts=NOTICES.c.attempts + 1, last_error=error[:1000]))
    conn.commit()


@lru_cache(maxsize=64)
def _encoded_subject(subject: str) -> str:
    """RFC 2047 words for a subject; a recall's notices share a few subjects, so each is encoded once (the email
    package tries both encodings character by character, ~0.5 ms a subject)."""
    return Header(subject, "utf-8").encode()


def mime_bytes(sender: str, to: str, message: Message, message_id: str) -> bytes:
    """The mail as multipart/alternative (text and HTML, base64 UTF-8), built directly.

    email.message.EmailMessage parses and re-folds every header through its policy machinery; at thousands
    of messages that was the sender's largest CPU cost after SMTP itself, for output that is always this shape.
    """
    boundary = f"=_recall_{uuid.uuid4().hex}"
    parts = [
        f"From: {sender}",
        f"To: {formataddr(('', to))}",
        f"Subject: {_encoded_subject(message.subject)}",
        f"Message-ID: {message_id}",
        f"Date: {formatdate(localtime=False)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
    ]
    for subtype, body in (("plain", message.text), ("html", message.html)):
        if not body:
            continue
        encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
        parts += [f"--{boundary}", f"Content-Type: text/{subtype}; charset=utf-8",
                  "Content-Transfer-Encoding: base64", "", encoded]
    parts += [f"--{boundary}--", ""]
    return "\r\n".join(parts).encode("ascii")


class SmtpBatch:
    """One SMTP connection for a batch of messages (the configured server: no TLS, no AUTH, like the sink)."""

    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpBatch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, local_hostname="aftersales", timeout=30)
        return self._smtp

    def send(self, to: str, message: Message, message_id: str) -> None:
        """Hand one message over; returns once the server accepted it (raises smtplib errors otherwise)."""
        raw = mime_bytes(self.sender, to, message, message_id)
        try:
            self._connection().sendmail(self.sender, [to], raw)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()  # the next message opens a new connection
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


class _Pace:
    """At most `rate` messages per second on average over all connections (sleeps when ahead)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.start = time.monotonic()
        self.count = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.count += 1
            due = self.start + self.count * self.interval
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def send_pending(text: RecallText, *, fanout: RecallFanout | None = None, progress: Progress | None = None,
                 stop_after: int | None = None, sender: str | None = None) -> FanoutReport:
    """Send every pending notice of the recall, batch by batch, then retry the failed ones (policy bound).

    Notices are rendered per customer (language, name, serials, link). `stop_after` ends the call after that
    many messages (a flow's slice of work, or a test); the rest stay pending for the next call. `sender` names
    the claims (see release_stale's `dead_sender`).
    """
    bound = fanout or get_policy().recall.fanout
    settings = get_settings()
    recall = text.recall_number
    report = FanoutReport()
    claim = claim_of(sender)
    pace = _Pace(bound.messages_per_second)
    started = time.monotonic()
    batch_path = not settings.customer_apprise_url
    key = settings.signing_key()
    with _short_switches():
        _send_rounds(text, bound, report, claim, pace, batch_path, key, stop_after, progress)
    report.seconds = time.monotonic() - started
    report.by_status = outbox_counts(recall)
    return report


@contextmanager
def _short_switches() -> Iterator[None]:
    """A shorter GIL switch interval while the sender threads run, restored after.

    Each thread hands the GIL over at every socket and database call and then waits for it up to the switch
    interval (5 ms by default) while another thread renders: with 4 connections that wait, not the CPU, bounded
    the fan-out (the convoy effect, bpo-7946). Process-wide while it lasts: a flow run sends nothing else then.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _send_rounds(text: RecallText, bound: RecallFanout, report: FanoutReport, claim: str, pace: _Pace,
                 batch_path: bool, key: str, stop_after: int | None, progress: Progress | None) -> None:
    """The batches of send_pending, then the rounds retrying failed rows."""
    recall = text.recall_number
    engine = get_engine()
    for _round in range(bound.max_attempts):
        while stop_after is None or report.sent + report.failed < stop_after:
            with engine.connect() as conn:
                _fast_commits(conn)
                rows = _claim(conn, recall, claim, bound.batch_size, clock.now())
                conn.commit()
                if not rows:
                    break
                if stop_after is not None:
                    rows = rows[:stop_after - report.sent - report.failed]
                serials = serials_by_customer(conn, recall, [r.customer_ref for r in rows])
                report.batches += 1
                slices = [rows[i::bound.connections] for i in range(bound.connections)]
                with ThreadPoolExecutor(bound.connections) as pool:  # one SMTP connection and one DB connection each
                    send = partial(_send_slice, claim, serials=serials, text=text, pace=pace, batch_path=batch_path,
                                   key=key)
                    for done in pool.map(send, [part for part in slices if part]):
                        report.sent += done[0]
                        report.failed += done[1]
                # Rows claimed but cut off by stop_after go back for the next call.
                conn.execute(update(NOTICES).where(NOTICES.c.claim == claim, NOTICES.c.status == CLAIMED)
                             .values(status=PENDING, claim=None, claimed_at=None))
                conn.commit()
                report.by_status = outbox_counts(recall, conn)
            if progress is not None:
                progress(report)
        if stop_after is not None and report.sent + report.failed >= stop_after:
            break
        with engine.begin() as conn:  # failed rows with tries left go round once more
            again = conn.execute(update(NOTICES).where(NOTICES.c.recall == recall, NOTICES.c.status == FAILED,
                                                       NOTICES.c.attempts < bound.max_attempts)
                                 .values(status=PENDING, claim=None)).rowcount
        if not again:
            break


def _send_slice(claim: str, rows: list[Any], *, serials: dict[str, list[str]], text: RecallText, pace: _Pace,
                batch_path: bool, key: str) -> tuple[int, int]:
    """One sender's share of a batch, on its own SMTP and database connections; (sent, failed)."""
    settings = get_settings()
    with get_engine().connect() as conn, SmtpBatch(settings.smtp_host, settings.smtp_port, settings.mail_from) as smtp:
        _fast_commits(conn)
        return _send_batch(conn, claim, rows, serials, text, smtp, pace, batch_path, key)


def _send_batch(conn: Connection, claim: str, rows: list[Any], serials: dict[str, list[str]], text: RecallText,
                smtp: SmtpBatch, pace: _Pace, batch_path: bool, key: str) -> tuple[int, int]:
    settings = get_settings()
    base = settings.public_base_url.rstrip("/")
    sent = failed = 0
    accepted: int | None = None  # the row the server accepted, marked sent in the next commit
    renderers: dict[str, Callable[[Mapping[str, Any]], Message]] = {}  # per language, templates looked up once
    for row in rows:
        _mark(conn, claim, sent=accepted, sending=row.id)
        accepted = None
        token = sign_recall_ack(key, AckClaims(notice_id=row.id, recall=text.recall_number))
        context = {"customer_name": row.name, "recall_number": text.recall_number, "recall_class": text.recall_class,
                   "product_model": text.product_model, "hazard": text.hazard, "remedy": text.remedy,
                   "serials": serials.get(row.customer_ref, []), "ack_url": f"{base}/recall/ack?t={token}"}
        try:
            render = renderers.get(row.language)
            if render is None:
                render = renderers[row.language] = renderer("recall_notice", row.language)
            message = render(context)
            if batch_path:
                smtp.send(row.email, message, f"<recall-{text.recall_number}-{row.id}@aftersales>")
            else:
                apprise_send(settings.customer_apprise_url.format(email=row.email), message)
        except (smtplib.SMTPException, OSError, AftersalesError) as exc:
            _fail(conn, claim, row.id, f"{type(exc).__name__}: {exc}")
            failed += 1
            log.warning("recall %s: notice %d not accepted: %s", text.recall_number, row.id, exc)
        else:
            accepted = row.id
            sent += 1
        pace.tick()
    _mark(conn, claim, sent=accepted)
    return sent, failed
