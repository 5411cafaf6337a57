"""Signing in for the integration tests: a password for a person of staff.yaml, and the intake keys."""

from __future__ import annotations

import json
import time
from base64 import b64encode

import itsdangerous
from fastapi.testclient import TestClient

from aftersales.access.passwords import people_with_password, set_password
from aftersales.config.settings import get_settings
from aftersales.web.auth import SESSION_COOKIE

PASSWORD = "correct horse battery"
HOTLINE_KEY = "hotline-intake-key-for-tests-0001"
WEBSITE_KEY = "website-intake-key-for-tests-0002"
OPERATIONS = "chen.jing"  # 售后服务管理师 / 督查员 (staff.yaml): policy.yaml access.operations


def sign_in(client: TestClient, staff_id: str = OPERATIONS) -> None:
    """Give the person a password if they have none, and sign the client in as them."""
    if staff_id not in people_with_password():
        set_password(staff_id, PASSWORD)
    response = client.post("/signin", data={"staff_id": staff_id, "password": PASSWORD, "next": "/ops"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


def bearer(key: str = HOTLINE_KEY) -> dict[str, str]:
    """The header an intake channel sends its key in."""
    return {"Authorization": f"Bearer {key}"}


def session_cookie(staff_id: str = OPERATIONS) -> dict[str, str]:
    """A signed session cookie for the person, as the app's SessionMiddleware writes it (no database needed)."""
    data = b64encode(json.dumps({"staff": staff_id, "until": int(time.time()) + 3600}).encode())
    signed = itsdangerous.TimestampSigner(get_settings().session_key()).sign(data)
    return {SESSION_COOKIE: signed.decode()}
