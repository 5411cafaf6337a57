"""The dispatch's printable forms (zh/en on one sheet) filled from the case and its answered gates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from aftersales.config.settings import Settings
from aftersales.runtime.db import session_scope
from aftersales.web.app import create_app
from models import Case, Gate
from tests.signin import sign_in

NUMBER = "DS-20261201-00001"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        sign_in(test_client)
        yield test_client


def dispatched_case() -> None:
    facts = {"overseas": True, "country": "DE", "timezone": "Europe/Berlin", "site": "Werk 2, Stuttgart",
             "materials": [{"name": "主轴轴承", "quantity": 2, "source": "stock", "ready_by": None},
                           {"name": "Hydraulic oil", "quantity": 20, "source": "customer", "ready_by": "2026-12-03"}]}
    answers = {"material#1": {"ready": True}, "tools": {"tools": "扭力扳手, 示波器", "confirmed_with_customer": True},
               "carriage": {"mode": "hand_carry", "checked": True},
               "improvement": {"measures": "来料检验加严", "company_at_fault": True,
                               "incident_report": "轴承批次不良, 已追溯供应商"}}
    with session_scope() as session:
        case = Case(number=NUMBER, procedure="dispatch", customer_name="Müller GmbH", customer_phone="+49 711",
                    product_model="PT-3000", problem_description="生产线停机", opened_at=NOW,
                    data={"dispatch": facts, "costs": {"A": 1200, "B": 8600.5, "C": 300, "D": 0},
                          "cost_total": 10100.5, "audited_total": 10100.5})
        session.add(case)
        session.flush()
        assert case.id is not None
        for key, answer in answers.items():
            session.add(Gate(case_id=case.id, key=key, kind=f"dispatch.{key.split('#')[0]}", input_model="x",
                             assignee_role="production_engineering", opened_at=NOW, deadline_at=NOW + timedelta(days=1),
                             status="answered", answer=answer, answered_at=NOW))


def test_the_four_dispatch_forms_are_filled_from_the_case(client: TestClient) -> None:
    dispatched_case()
    materials = client.get(f"/cases/{NUMBER}/forms/MATERIAL-LIST").text
    assert "售后维修物料备料清单" in materials and "After-sales repair material list" in materials
    assert "Hydraulic oil" in materials and "2026-12-03" in materials and "客户提供 / customer" in materials
    tools = client.get(f"/cases/{NUMBER}/forms/TOOLS-LIST").text
    assert "扭力扳手, 示波器" in tools and "hand_carry" in tools
    costs = client.get(f"/cases/{NUMBER}/forms/COST-STATEMENT").text
    assert "8600.5" in costs and "10100.5" in costs and "外出维修费用清单" in costs
    incident = client.get(f"/cases/{NUMBER}/forms/INCIDENT-REPORT").text
    assert "事故调查处理报告" in incident and "轴承批次不良, 已追溯供应商" in incident
    assert client.get(f"/cases/{NUMBER}/forms/NO-SUCH-FORM").status_code == 404
