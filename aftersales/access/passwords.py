"""Local staff passwords (the embedded default): argon2id hashes kept in the project database."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import select

from aftersales.config.staff import get_staff
from aftersales.errors import RuleViolation
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models.access import StaffPassword

MIN_LENGTH = 10
_hasher = PasswordHasher()  # argon2id with the library's current parameters (RFC 9106 low-memory profile)
# Verified when the id is unknown, so a wrong id costs the same time as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def set_password(staff_id: str, password: str) -> None:
    """Set (or replace) a person's password; the person must be in the staff directory."""
    get_staff().person(staff_id)  # NotFound for someone the directory does not know
    if len(password) < MIN_LENGTH:
        raise RuleViolation(f"a password needs at least {MIN_LENGTH} characters")
    hashed = _hasher.hash(password)
    with session_scope() as session:
        row = session.get(StaffPassword, staff_id)
        if row is None:
            session.add(StaffPassword(staff_id=staff_id, password_hash=hashed, set_at=clock.now()))
        else:
            row.password_hash, row.set_at = hashed, clock.now()
            session.add(row)


def check_password(staff_id: str, password: str) -> bool:
    """Whether the password is this person's; False for anyone without one (or not in the directory)."""
    with session_scope() as session:
        row = session.get(StaffPassword, staff_id)
        stored = row.password_hash if row else None
    try:
        _hasher.verify(stored or _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    if _hasher.check_needs_rehash(stored):  # parameters raised since it was set: keep it up to date
        set_password(staff_id, password)
    return True


def people_with_password() -> set[str]:
    """Ids of the people who have a local password."""
    with session_scope() as session:
        return set(session.exec(select(StaffPassword.staff_id)).all())
