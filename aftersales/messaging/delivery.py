"""Recorded, retried, idempotent delivery of rendered messages: one Notification row per destination."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from aftersales.config.settings import get_settings
from aftersales.errors import AftersalesError, ConfigurationError
from aftersales.messaging.render import Message, render_message
from aftersales.messaging.transport import channel_of, mask_url, send
from aftersales.runtime.db import session_scope
from models.notification import Notification
from models.types import utcnow

log = logging.getLogger(__name__)

SENT = "sent"
FAILED = "failed"
PENDING = "pending"
# retry_failed() gives up on a row after this many attempts in all; it stays listed as failed.
RETRY_CAP = 10
_KEY_MAX = 200  # Notification.key column length


def deliver(
    *,
    key: str,
    case_id: int | None,
    template: str,
    recipient: str,
    language: str,
    context: Mapping[str, Any],
    urls: Sequence[str],
    attempts: int | None = None,
    retry_delay: float = 0.5,
) -> list[Notification]:
    """Render `template` once and send it to every URL, recording each destination as a Notification.

    Row `f"{key}:{i}"` belongs to `urls[i]`; a row already sent is skipped, so a replayed step never
    sends twice. Each destination is tried up to `attempts` times (default settings.notify_attempts)
    with a growing delay. A failing destination never raises: its row comes back with status
    "failed" and `last_error`. Raises ConfigurationError if the template cannot be rendered.
    """
    message = render_message(template, language, context)
    tries = max(1, attempts if attempts is not None else get_settings().notify_attempts)
    rows: list[Notification] = []
    for index, url in enumerate(urls):
        row = _prepare(
            key=_row_key(key, index),
            case_id=case_id,
            template=template,
            recipient=recipient,
            url=url,
            message=message,
        )
        if row.status != SENT:
            row = _attempt(row, url, message, tries=tries, retry_delay=retry_delay)
        rows.append(row)
    return rows


def retry_failed(max_rows: int = 100) -> int:
    """Try once more every failed row below the attempt cap, resending its stored message.

    Returns how many rows are now sent. Meant for a periodic sweep; never raises for a destination.
    """
    with session_scope() as session:
        rows = session.exec(
            select(Notification)
            .where(Notification.status == FAILED, Notification.attempts < RETRY_CAP)
            .order_by(col(Notification.id))
            .limit(max_rows)
        ).all()
    succeeded = 0
    for row in rows:
        url = _unseal(row.sealed_url)
        if url is None:
            # The signing key changed (or the row predates sealing): the real URL is unrecoverable.
            _update(row, attempts=RETRY_CAP, last_error="destination URL cannot be recovered; resend by hand")
            continue
        message = Message(subject=row.subject, text=row.body, html=row.html)
        if _attempt(row, url, message, tries=1, retry_delay=0).status == SENT:
            succeeded += 1
    return succeeded


def failed_notifications() -> list[Notification]:
    """Every notification that is currently failed, newest first (for the operations page)."""
    with session_scope() as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.status == FAILED)
                .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
            ).all()
        )


def already_sent(key: str) -> bool:
    """True when every destination of a keyed message was delivered (a replay then sends nothing)."""
    statuses = _statuses(key)
    return bool(statuses) and all(status == SENT for status in statuses)


def recorded(key: str) -> bool:
    """True when a keyed message was made for at least one destination, whatever became of it."""
    return bool(_statuses(key))


def _statuses(key: str) -> list[str]:
    """The status of every destination row of a keyed message (rows `key:<n>`, or `key:<more>` for a key prefix
    such as a gate's requests of every rung and person)."""
    # A range on the key, not LIKE 'key%': the unique index serves it on SQLite and PostgreSQL alike.
    with session_scope() as session:
        return list(session.exec(select(Notification.status).where(col(Notification.key) >= f"{key}:",
                                                                   col(Notification.key) < f"{key};")).all())


def _row_key(key: str, index: int) -> str:
    """The row key for destination `index`, shortened by a digest if it would not fit the column."""
    full = f"{key}:{index}"
    if len(full) <= _KEY_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:32]
    return f"{full[: _KEY_MAX - len(digest) - 1]}#{digest}"


def _prepare(
    *, key: str, case_id: int | None, template: str, recipient: str, url: str, message: Message
) -> Notification:
    """Get or create the row for `key` and store what will be sent, committed before any sending."""
    fields: dict[str, Any] = {
        "case_id": case_id,
        "template": template,
        "recipient": recipient,
        "channel": channel_of(url)[:40],
        "destination": mask_url(url)[:300],
        "subject": message.subject[:300],
        "body": message.text,
        "html": message.html,
        "sealed_url": _seal(url),
    }
    for _ in range(2):
        try:
            with session_scope() as session:
                row = session.exec(select(Notification).where(Notification.key == key)).first()
                if row is None:
                    row = Notification(key=key, **fields)
                    session.add(row)
                elif row.status != SENT:
                    # A replay re-renders the same step; keep the newest rendering for the next try.
                    row.sqlmodel_update(fields)
                    session.add(row)
            return row
        except IntegrityError:
            # Another worker created the same key between our read and our insert: read theirs.
            continue
    raise ConfigurationError(f"notification {key!r} could not be recorded")


def _attempt(row: Notification, url: str, message: Message, *, tries: int, retry_delay: float) -> Notification:
    """Send up to `tries` times, recording every attempt; returns the row as last recorded."""
    for attempt in range(tries):
        try:
            send(url, message)
        except ConfigurationError as exc:
            # Apprise refuses the URL: retrying cannot help, only fixing the configuration can.
            return _failed(_update(row, attempts=row.attempts + 1, status=FAILED, last_error=str(exc)[:1000]))
        except Exception as exc:  # a broken destination must not crash the flow nor lose the message
            if not isinstance(exc, AftersalesError):
                log.exception("unexpected error sending notification %s", row.key)
            error = str(exc) if isinstance(exc, AftersalesError) else f"{type(exc).__name__}: {exc}"
            last = attempt == tries - 1
            row = _update(row, attempts=row.attempts + 1, status=FAILED if last else PENDING, last_error=error[:1000])
            log.warning("notification %s attempt %d/%d failed: %s", row.key, attempt + 1, tries, error)
            if not last:
                time.sleep(retry_delay * (attempt + 1))
        else:
            return _update(row, attempts=row.attempts + 1, status=SENT, sent_at=utcnow(), last_error=None)
    return _failed(row)


def _failed(row: Notification) -> Notification:
    """Tell Prefect's event feed that a case's message did not get through (who by id, which channel; never the
    address or the error text, which can hold it)."""
    if row.case_id is not None:
        from aftersales.cases import prefect_view  # cases import messaging: load late

        prefect_view.announce(prefect_view.MESSAGE_FAILED, case_id=row.case_id, refresh_view=False,
                              payload={"template": row.template, "recipient": row.recipient, "channel": row.channel,
                                       "attempts": row.attempts})
    return row


def _update(row: Notification, **changes: Any) -> Notification:
    """Apply `changes` to the stored row in its own short transaction (never held while sending)."""
    with session_scope() as session:
        stored = session.get(Notification, row.id)
        if stored is None:
            raise ConfigurationError(f"notification {row.key!r} vanished while being sent")
        stored.sqlmodel_update(changes)
        session.add(stored)
    return stored


def _fernet() -> Fernet:
    """A Fernet key derived from the signing key, with a label so it differs from the link-signing use."""
    secret = get_settings().signing_key().encode()
    digest = hashlib.sha256(b"aftersales.notifications.url\0" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(url: str) -> str:
    """Encrypt a destination URL for storage: it may carry SMTP passwords or webhook tokens."""
    return _fernet().encrypt(url.encode()).decode()


def _unseal(sealed: str) -> str | None:
    """The URL back, or None if it cannot be decrypted with the current key."""
    if not sealed:
        return None
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
