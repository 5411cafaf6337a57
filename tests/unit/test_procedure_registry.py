"""The procedure registry: declarations, intake of typed facts, policy sections, and consistency checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field, ValidationError

from aftersales.config.policy import parse_policy
from aftersales.errors import ConfigurationError
from aftersales.procedures import registry
from aftersales.procedures.registry import Procedure, configuration_problems
from models import CaseCreate

ROOT = Path(__file__).resolve().parents[2]
BASE = {"customer_name": "客户", "customer_phone": "139", "product_model": "PT-3000", "problem_description": "坏了"}


class Parcel(BaseModel):
    weight: float = Field(gt=0)


@pytest.fixture
def parcel_procedure() -> Iterator[Procedure]:
    procedure = registry.register(Procedure(
        name="parcel", prefix="PC", flow="flows/parcel.py:parcel", deployment="parcel/parcel",
        policy_section="parcel", facts_key="parcel", facts_model=Parcel,
        policy_defaults={"parcel": {"sla": {"pick_up": {"amount": 1, "unit": "working_days"}}},
                         "gates": {"parcel.pick_up": {"role": "customer_service", "deadline": "pick_up"}}}))
    yield procedure
    registry.unregister("parcel")


def shipped_policy() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "policy.yaml").read_text(encoding="utf-8"))


def test_the_built_in_procedures_are_declared_with_distinct_prefixes() -> None:
    declared = {p.name: p.prefix for p in registry.procedures()}
    assert {"repair": "RP", "complaint": "CP", "return": "RT", "exchange": "EX"}.items() <= declared.items()
    assert len(set(declared.values())) == len(declared)


def test_a_second_procedure_with_a_taken_prefix_or_a_bad_prefix_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="share prefix RP"):
        registry.register(Procedure(name="other", prefix="RP", flow="f.py:f", deployment="f/f", policy_section="f"))
    with pytest.raises(ConfigurationError, match="capital letters"):
        Procedure(name="other", prefix="rp1", flow="f.py:f", deployment="f/f", policy_section="f")
    assert registry.find("other") is None


def test_an_unknown_procedure_is_refused_at_intake_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        CaseCreate.model_validate({**BASE, "procedure": "teleport"})
    [error] = caught.value.errors()
    assert error["loc"] == ("procedure",)
    assert "available: complaint, dispatch, exchange, recall, repair, return" in error["msg"]


def test_a_registered_procedure_gets_its_facts_validated_under_its_own_block(parcel_procedure: Procedure) -> None:
    request = CaseCreate.model_validate({**BASE, "procedure": "parcel", "parcel": {"weight": 2.5}})
    assert request.facts == {"weight": 2.5} and request.typed_facts() == Parcel(weight=2.5)
    with pytest.raises(ValidationError) as caught:
        CaseCreate.model_validate({**BASE, "procedure": "parcel", "parcel": {"weight": -1}, "customer_name": ""})
    assert {e["loc"] for e in caught.value.errors()} == {("parcel", "weight"), ("customer_name",)}
    with pytest.raises(ValidationError, match="goods details belong to procedure exchange and return only"):
        CaseCreate.model_validate({**BASE, "procedure": "parcel", "parcel": {"weight": 1}, "goods": {}})


def test_a_validated_request_validates_again_to_the_same_facts() -> None:
    first = CaseCreate.model_validate({**BASE, "procedure": "complaint",
                                       "complaint": {"category": "other", "customer_demand": "道歉"}})
    again = CaseCreate.model_validate(first.model_dump())
    assert again.facts == first.facts and again.facts is not None and again.facts["category"] == "other"


def test_a_procedures_policy_defaults_apply_beneath_the_file(parcel_procedure: Procedure) -> None:
    policy = parse_policy(shipped_policy(), "policy.yaml")
    assert policy.gate("parcel.pick_up").role == "customer_service"
    data = shipped_policy()
    data["parcel"] = {"sla": {"pick_up": {"amount": 3, "unit": "working_days"}}, "optional_steps": {"weigh": False}}
    policy = parse_policy(data, "policy.yaml")
    assert policy.gate_deadline("parcel.pick_up", urgent=False).amount == 3, "the file wins over the defaults"
    assert policy.step_enabled("parcel", "weigh") is False


def test_a_policy_section_no_procedure_declares_is_refused_naming_it() -> None:
    data = {**shipped_policy(), "reapir": {"sla": {}}}
    with pytest.raises(ConfigurationError, match="reapir") as caught:
        parse_policy(data, "policy.yaml")
    assert caught.value.key == "reapir"


def test_the_shipped_configuration_agrees_with_the_registry() -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    assert configuration_problems(parse_policy(shipped_policy(), "policy.yaml"), deployments) == []


def test_a_procedure_without_deployment_or_a_gate_without_procedure_is_reported(parcel_procedure: Procedure) -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    data = shipped_policy()
    data["gates"]["ghost.step"] = {"role": "customer_service", "deadline": {"amount": 1, "unit": "working_days"}}
    problems = dict(configuration_problems(parse_policy(data, "policy.yaml"), deployments))
    assert problems == {"prefect.yaml: deployments.parcel": "procedure parcel is not deployed",
                        "policy: gates.ghost.step": "belongs to no procedure (its prefix names no procedure section)"}
