"""Signed gate links: round trip, forgery, another key, expiry and garbage."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner

from aftersales.errors import Forbidden
from aftersales.gates.tokens import SALT, LinkClaims, LinkRefused, new_jti, sign, verify

KEY = "unit-test-signing-key-0123456789"
OTHER_KEY = "another-deployment-key-9876543210"
CLAIMS = LinkClaims(gate_id=42, person_id="li.na", jti="fixed-jti-for-tests")
ONE_DAY = 24 * 3600


def refused(token: str, *, key: str = KEY, max_age: int = ONE_DAY) -> LinkRefused:
    with pytest.raises(LinkRefused) as info:
        verify(key, token, max_age)
    return info.value


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Control the timestamp itsdangerous signs with and checks against."""
    now = {"t": 1_760_000_000}  # 9 Oct 2025
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now["t"])
    return now


def test_a_signed_link_verifies_to_the_same_claims():
    assert verify(KEY, sign(KEY, CLAIMS), ONE_DAY) == CLAIMS


def test_a_token_is_safe_to_put_in_a_url():
    token = sign(KEY, CLAIMS)
    assert all(ch.isalnum() or ch in "-_." for ch in token)


def test_a_token_whose_payload_was_swapped_is_forged():
    # Take the payload of a link for another gate and keep the original signature.
    token = sign(KEY, CLAIMS)
    other = sign(KEY, LinkClaims(gate_id=43, person_id="li.na", jti=CLAIMS.jti))
    payload, rest = other.split(".", 1)[0], token.split(".", 1)[1]
    assert refused(f"{payload}.{rest}").reason == "forged"


def test_a_token_with_a_changed_character_is_forged():
    token = sign(KEY, CLAIMS)
    middle = len(token) // 3
    swapped = "A" if token[middle] != "A" else "B"
    assert refused(token[:middle] + swapped + token[middle + 1:]).reason == "forged"


def test_a_token_signed_with_another_key_is_forged():
    assert refused(sign(OTHER_KEY, CLAIMS)).reason == "forged"


def test_a_token_signed_for_another_purpose_is_forged():
    token = URLSafeTimedSerializer(KEY, salt="some.other.salt").dumps({"g": 42, "p": "li.na", "j": "x"})
    assert refused(token).reason == "forged"


def test_a_token_older_than_its_lifetime_is_expired(clock: dict[str, int]):
    token = sign(KEY, CLAIMS)
    clock["t"] += ONE_DAY + 1
    assert refused(token).reason == "expired"


def test_a_token_just_inside_its_lifetime_still_verifies(clock: dict[str, int]):
    token = sign(KEY, CLAIMS)
    clock["t"] += ONE_DAY
    assert verify(KEY, token, ONE_DAY) == CLAIMS


def test_a_token_checked_with_a_negative_lifetime_is_expired():
    assert refused(sign(KEY, CLAIMS), max_age=-1).reason == "expired"


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "....", "%%%", "eyJnIjo0Mn0"])
def test_garbage_is_forged(garbage: str):
    assert refused(garbage).reason == "forged"


@pytest.mark.parametrize("payload", [{"g": 42}, {"g": "forty-two", "p": "li.na", "j": "x"}, [1, 2, 3]])
def test_a_validly_signed_token_with_wrong_claims_is_forged(payload: object):
    token = URLSafeTimedSerializer(KEY, salt=SALT).dumps(payload)
    assert refused(token).reason == "forged"


def test_a_refused_link_is_forbidden_with_a_readable_message():
    error = refused("not-a-token")
    assert isinstance(error, Forbidden)
    assert str(error) == "This link is not valid."


def test_link_ids_are_fresh_and_url_safe():
    ids = {new_jti() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(jti) >= 20 and all(ch.isalnum() or ch in "-_" for ch in jti) for jti in ids)
