"""Signed gate links: bound to gate and person, expiring, single-use (the server keeps the jti)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from aftersales.errors import Forbidden

SALT = "aftersales.gate-link.v1"


@dataclass(frozen=True)
class LinkClaims:
    """What a valid link says: which gate, for whom, and its server-side id."""

    gate_id: int
    person_id: str
    jti: str


class LinkRefused(Forbidden):
    """A link that cannot be used; `reason` is one of forged, expired, used, other_gate, closed, revoked."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_jti() -> str:
    """A fresh unguessable link id."""
    return secrets.token_urlsafe(16)


def sign(key: str, claims: LinkClaims) -> str:
    """The token string placed in a link."""
    return URLSafeTimedSerializer(key, salt=SALT).dumps({"g": claims.gate_id, "p": claims.person_id, "j": claims.jti})


def verify(key: str, token: str, max_age_seconds: int) -> LinkClaims:
    """Check signature and age; raises LinkRefused('forged'|'expired')."""
    serializer = URLSafeTimedSerializer(key, salt=SALT)
    try:
        data = serializer.loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise LinkRefused("expired", "This link has expired.") from exc
    except BadSignature as exc:
        raise LinkRefused("forged", "This link is not valid.") from exc
    try:
        return LinkClaims(gate_id=int(data["g"]), person_id=str(data["p"]), jti=str(data["j"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise LinkRefused("forged", "This link is not valid.") from exc


# --- a recall notice's acknowledgement link (aftersales.recall.acks): same key, its own purpose ----------------

RECALL_ACK_SALT = "aftersales.recall-ack.v1"


@dataclass(frozen=True)
class AckClaims:
    """What a valid acknowledgement link says: which notice of which recall."""

    notice_id: int
    recall: str


def sign_recall_ack(key: str, claims: AckClaims) -> str:
    """The token placed in a recall notice; a gate link's token cannot pass for it (another salt), nor back."""
    return URLSafeTimedSerializer(key, salt=RECALL_ACK_SALT).dumps({"n": claims.notice_id, "r": claims.recall})


def verify_recall_ack(key: str, token: str, max_age_seconds: int) -> AckClaims:
    """Check signature and age; raises LinkRefused('forged'|'expired')."""
    try:
        data = URLSafeTimedSerializer(key, salt=RECALL_ACK_SALT).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise LinkRefused("expired", "This link has expired.") from exc
    except BadSignature as exc:
        raise LinkRefused("forged", "This link is not valid.") from exc
    try:
        return AckClaims(notice_id=int(data["n"]), recall=str(data["r"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise LinkRefused("forged", "This link is not valid.") from exc
