"""A dispatch is refused at intake with the field named and nothing stored; a valid one is stored and numbered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from aftersales.config.settings import Settings
from aftersales.runtime.db import session_scope
from aftersales.web.app import create_app
from models import Case
from tests.integration.conftest import REPAIR_CASE
from tests.signin import sign_in

ABROAD = {"overseas": True, "country": "DE", "timezone": "Europe/Berlin", "site": "Werk 2, Stuttgart",
          "materials": [{"name": "Hydraulic oil", "quantity": 20, "source": "customer", "ready_by": "2026-12-03"}]}


@pytest.fixture
def client(settings: Settings, no_prefect: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        sign_in(test_client)
        yield test_client


def cases() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(Case)).one())


def dispatch(**facts: Any) -> dict[str, Any]:
    return {**REPAIR_CASE, "procedure": "dispatch", "dispatch": {**ABROAD, **facts}}


@pytest.mark.parametrize(("body", "field"), [
    ({**REPAIR_CASE, "procedure": "dispatch"}, "dispatch"),
    (dispatch(country="Germany"), "country"),
    (dispatch(timezone="Mars/Olympus"), "timezone"),
    (dispatch(country="CN", timezone="Asia/Shanghai"), "dispatch"),  # overseas but in China
    (dispatch(overseas=False, country="CN", timezone="Asia/Shanghai", visa_needs_invitation=True), "dispatch"),
    (dispatch(materials=[{"name": "oil", "quantity": 1, "source": "customer"}]), "materials"),  # no ready_by
    (dispatch(from_case="RP-19990101-00001"), "from_case"),
])
def test_a_bad_dispatch_is_refused_naming_the_field_and_nothing_is_stored(client: TestClient, body: dict[str, Any],
                                                                          field: str) -> None:
    response = client.post("/api/cases", json=body)
    assert response.status_code == 422, response.text
    assert any(field in entry["loc"] for entry in response.json()["detail"]), response.json()
    assert cases() == 0


def test_a_dispatch_for_a_repair_case_is_stored_with_its_link(client: TestClient) -> None:
    repair = client.post("/api/cases", json=REPAIR_CASE).json()["number"]
    response = client.post("/api/cases", json=dispatch(from_case=repair))
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    assert number.startswith("DS-")
    assert client.get(f"/api/cases/{number}").json()["data"]["dispatch"]["from_case"] == repair
