"""Sign-in: the local password of a person of the staff directory (the embedded default; OIDC needs none)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class StaffPassword(SQLModel, table=True):
    """One person's password, as an argon2 hash (never the password itself)."""

    __tablename__ = "staff_passwords"

    staff_id: str = Field(primary_key=True, max_length=60)
    password_hash: str = Field(max_length=300)
    set_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
