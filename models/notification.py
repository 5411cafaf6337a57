"""Every message sent (with its attempts and outcome) and the local mail sink's inbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    """One message to one recipient over one destination; the key makes sending idempotent."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True, index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    template: str = Field(max_length=80)
    recipient: str = Field(max_length=120, description="Person id, or 'customer'.")
    channel: str = Field(max_length=40, description="Apprise scheme, e.g. mailto, dingtalk.")
    destination: str = Field(max_length=300, description="The URL with secrets masked.")
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The rendered HTML and the real URL are kept so a later retry resends the very same message
    # (re-rendering needs the step's context, which is gone by then). The URL may hold credentials,
    # hence sealed with the signing key; pages show `destination`.
    html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    sealed_url: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attempts: int = 0
    status: str = Field(default="pending", max_length=20, index=True)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class MailboxMessage(SQLModel, table=True):
    """A mail received by the embedded SMTP sink, readable on the inbox page."""

    __tablename__ = "mailbox"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    mail_from: str = Field(max_length=300)
    rcpt_to: str = Field(max_length=1000, index=True)
    subject: str = Field(default="", max_length=500)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
