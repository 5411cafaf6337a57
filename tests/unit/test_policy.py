"""The policy file: the shipped policy.yaml, and validation that names what is wrong."""

from __future__ import annotations

import copy
import re
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from aftersales.config.policy import Duration, Policy, load_policy, parse_policy
from aftersales.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "policy.yaml"
STAFF_FILE = ROOT / "staff.yaml"
# F0-F2 = seeds 000-002; 003:/004: = seeds 003-004 as cited in spec/seed-rules-003-004.md.
SOURCE_MARKERS = ("F0:", "F1:", "F2:", "003:", "004:", "PRODUCT.md", "[CHOICE]", "§", "regulations.md")


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(POLICY_FILE)


@pytest.fixture
def data() -> dict[str, Any]:
    """The shipped policy as plain data, to break one thing at a time."""
    return copy.deepcopy(_SHIPPED_DATA)


_SHIPPED_DATA: dict[str, Any] = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---- the shipped file ------------------------------------------------------------------------


def test_the_shipped_policy_file_loads(shipped: Policy):
    assert shipped.version == 1
    assert shipped.gates


def test_the_shipped_data_passes_parse_policy_as_well(data: dict[str, Any]):
    assert isinstance(parse_policy(data), Policy)


@pytest.mark.parametrize("gate", sorted(_SHIPPED_DATA["gates"]))
def test_every_shipped_gate_resolves_its_deadlines_and_ladder(shipped: Policy, gate: str):
    assert isinstance(shipped.gate_deadline(gate, urgent=False), Duration)
    assert isinstance(shipped.gate_deadline(gate, urgent=True), Duration)
    assert isinstance(shipped.ladder(gate), list)


def test_the_triage_gate_allows_two_service_hours_F2_285_F1_292(shipped: Policy):
    # F2:285 "应在2小时内与客户取得联系"
    assert shipped.gate_deadline("repair.triage", urgent=False) == Duration(amount=2, unit="working_hours")


def test_the_triage_gate_allows_one_hour_when_urgent(shipped: Policy):
    # F2:101 "对于紧急报修…应在1小时内回复客户"
    assert shipped.gate_deadline("repair.triage", urgent=True) == Duration(amount=1, unit="natural_hours")


def test_a_gate_without_an_urgent_deadline_uses_its_normal_one_when_urgent(shipped: Policy):
    gate = "repair.remote_diagnosis"
    assert shipped.gate_deadline(gate, urgent=True) == shipped.gate_deadline(gate, urgent=False)


def test_resolution_is_three_working_days(shipped: Policy):
    # F1:164, F2:184 "3个工作日内"
    assert shipped.sla_section("repair")["resolution"] == Duration(amount=3, unit="working_days")
    assert shipped.gate_deadline("repair.execution", urgent=False) == Duration(amount=3, unit="working_days")


def test_working_hours_are_half_past_eight_to_half_past_five(shipped: Policy):
    # F1:292 "工作时间为每天8:30-17:30"
    assert shipped.calendar.work_start == time(8, 30)
    assert shipped.calendar.work_end == time(17, 30)
    assert shipped.calendar.timezone == "Asia/Shanghai"


def test_the_warranty_runs_three_years(shipped: Policy):
    assert shipped.warranty.months == 36


def test_the_triage_gate_climbs_the_service_ladder(shipped: Policy):
    assert [rung.role for rung in shipped.ladder("repair.triage")] == [
        "after_sales_supervisor",
        "after_sales_manager",
        "general_manager",
    ]


def test_the_gm_free_repair_gate_has_no_ladder(shipped: Policy):
    assert shipped.ladder("repair.gm_free_repair") == []


def test_every_role_in_the_policy_exists_in_the_shipped_staff_directory(shipped: Policy):
    staff_roles = set(yaml.safe_load(STAFF_FILE.read_text(encoding="utf-8"))["roles"])
    named = {gate.role for gate in shipped.gates.values()}
    named |= {rung.role for ladder in shipped.ladders.values() for rung in ladder}
    named |= set(shipped.notify_on_factory_return)
    assert named - {"customer"} - staff_roles == set()


def test_asking_for_a_gate_the_file_lacks_names_it(shipped: Policy):
    with pytest.raises(ConfigurationError, match="repair.teleport"):
        shipped.gate("repair.teleport")


# ---- optional steps --------------------------------------------------------------------------


def test_an_unknown_step_is_enabled_by_default(shipped: Policy):
    assert shipped.step_enabled("repair", "polish_the_chrome") is True


def test_a_step_of_an_unknown_procedure_is_enabled_by_default(shipped: Policy):
    assert shipped.step_enabled("time_travel", "ageing") is True


def test_a_shipped_optional_step_is_enabled(shipped: Policy):
    assert shipped.step_enabled("repair", "ageing") is True


def test_a_step_switched_off_in_the_file_is_disabled(data: dict[str, Any]):
    data["repair"]["optional_steps"]["ageing"] = False
    assert parse_policy(data).step_enabled("repair", "ageing") is False


# ---- invalid policies ------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_refused_by_name(data: dict[str, Any]):
    data["surprise_section"] = {"x": 1}
    with pytest.raises(ConfigurationError, match="surprise_section"):
        parse_policy(data)


def test_an_unknown_key_inside_a_gate_is_refused_by_name(data: dict[str, Any]):
    data["gates"]["repair.triage"]["deadlin"] = "reply"
    with pytest.raises(ConfigurationError, match="deadlin"):
        parse_policy(data)


def test_a_gate_naming_a_missing_ladder_is_refused(data: dict[str, Any]):
    data["gates"]["repair.triage"]["ladder"] = "nonexistent_ladder"
    with pytest.raises(ConfigurationError, match="nonexistent_ladder") as info:
        parse_policy(data)
    assert "repair.triage" in str(info.value)


def test_a_gate_naming_a_missing_sla_entry_is_refused(data: dict[str, Any]):
    data["gates"]["repair.plan"]["deadline"] = "whenever"
    with pytest.raises(ConfigurationError, match="whenever") as info:
        parse_policy(data)
    assert "repair.plan" in str(info.value)


def test_a_gate_naming_a_missing_urgent_sla_entry_is_refused(data: dict[str, Any]):
    data["gates"]["repair.triage"]["deadline_urgent"] = "right_now"
    with pytest.raises(ConfigurationError, match="right_now"):
        parse_policy(data)


def test_a_gate_name_without_a_procedure_is_refused(data: dict[str, Any]):
    data["gates"]["triage"] = data["gates"]["repair.triage"]
    with pytest.raises(ConfigurationError, match="<procedure>.<step>"):
        parse_policy(data)


def test_working_hours_that_start_after_they_end_are_refused(data: dict[str, Any]):
    data["calendar"]["work_start"] = "18:00"
    with pytest.raises(ConfigurationError, match="work_start must be before work_end"):
        parse_policy(data)


def test_an_unknown_time_unit_is_refused_by_name(data: dict[str, Any]):
    data["repair"]["sla"]["reply"]["unit"] = "fortnights"
    with pytest.raises(ConfigurationError, match="repair.sla.reply.unit"):
        parse_policy(data)


def test_a_zero_duration_is_refused(data: dict[str, Any]):
    data["repair"]["sla"]["reply"]["amount"] = 0
    with pytest.raises(ConfigurationError, match="amount"):
        parse_policy(data)


def test_the_error_names_the_source_it_came_from(data: dict[str, Any]):
    data["surprise_section"] = 1
    with pytest.raises(ConfigurationError, match="ops-copy.yaml"):
        parse_policy(data, "ops-copy.yaml")


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path):
    path = write(tmp_path, "gates: [unclosed\n  warranty: {months: 36\n")
    with pytest.raises(ConfigurationError, match="not valid YAML") as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_a_yaml_file_that_is_not_a_mapping_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="not a valid policy"):
        load_policy(write(tmp_path, "- just\n- a list\n"))


def test_a_missing_policy_file_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="not found"):
        load_policy(tmp_path / "absent.yaml")


def test_a_broken_file_on_disk_names_its_problem(tmp_path: Path):
    text = POLICY_FILE.read_text(encoding="utf-8").replace("ladder: customer\n", "ladder: clients\n", 1)
    with pytest.raises(ConfigurationError, match="'clients'"):
        load_policy(write(tmp_path, text))


# ---- citations -------------------------------------------------------------------------------


def _cited_lines() -> list[tuple[int, str]]:
    """Every setting line with a duration or a role (ladders, repair.sla, gates)."""
    lines = POLICY_FILE.read_text(encoding="utf-8").splitlines()
    return [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if not line.lstrip().startswith("#") and ("{amount:" in line or re.search(r"\brole:", line))
    ]


def test_the_citation_check_sees_every_sla_entry_and_gate():
    lines = [line for _, line in _cited_lines()]
    assert sum("{amount:" in line for line in lines) >= len(_SHIPPED_DATA["repair"]["sla"])
    assert sum(line.strip().startswith("role:") for line in lines) == len(_SHIPPED_DATA["gates"])


@pytest.mark.parametrize(
    ("number", "line"), [pytest.param(number, line, id=f"policy.yaml:{number}") for number, line in _cited_lines()]
)
def test_every_duration_and_role_in_the_policy_cites_a_source_or_a_choice(number: int, line: str):
    assert any(marker in line for marker in SOURCE_MARKERS), f"policy.yaml:{number} has no citation: {line!r}"


# ---- file and key named ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        pytest.param(lambda d: d["gates"]["repair.triage"].update(deadlin="reply"), "gates.repair.triage.deadlin",
                     id="unknown_key"),
        pytest.param(lambda d: d["gates"]["repair.triage"].update(ladder="nope"), "gates.repair.triage.ladder",
                     id="missing_ladder"),
        pytest.param(lambda d: d["gates"]["repair.plan"].update(deadline="whenever"), "gates.repair.plan.deadline",
                     id="missing_sla_entry"),
        pytest.param(lambda d: d["gates"]["repair.triage"].update(deadline_urgent="now"),
                     "gates.repair.triage.deadline_urgent", id="missing_urgent_sla_entry"),
        pytest.param(lambda d: d["calendar"].update(work_start="18:00"), "calendar.work_start", id="hours"),
        pytest.param(lambda d: d["calendar"].update(timezone="Mars/Olympus"), "calendar.timezone", id="zone"),
        pytest.param(lambda d: d["repair"]["sla"]["reply"].update(amount=1.5, unit="working_days"),
                     "repair.sla.reply.amount", id="fractional_days"),
        pytest.param(lambda d: d["gates"].update(triage=d["gates"]["repair.triage"]), "gates.triage",
                     id="gate_name"),
        pytest.param(lambda d: d["warranty"].update(months=-1), "warranty.months", id="negative_months"),
    ],
)
def test_an_invalid_policy_names_the_file_and_the_dotted_key(data: dict[str, Any], change: Any, key: str):
    change(data)
    with pytest.raises(ConfigurationError) as info:
        parse_policy(data, "policy.yaml")
    assert (info.value.file, info.value.key) == ("policy.yaml", key)
    assert str(info.value).startswith("policy.yaml: not a valid policy: ")
    assert f": {key}: " in str(info.value)


def test_every_problem_of_a_policy_is_listed_with_its_key(data: dict[str, Any]):
    data["warranty"]["months"] = -1
    data["gates"]["repair.triage"]["deadlin"] = "reply"
    with pytest.raises(ConfigurationError) as info:
        parse_policy(data, "policy.yaml")
    assert "warranty.months: " in str(info.value) and "gates.repair.triage.deadlin: " in str(info.value)


def test_a_file_problem_names_the_file(tmp_path: Path):
    path = write(tmp_path, "gates: [unclosed\n  warranty: {months: 36\n")
    with pytest.raises(ConfigurationError) as info:
        load_policy(path)
    assert info.value.file == str(path)
    assert "line 2" in str(info.value) and "\n" not in str(info.value)


def test_a_gate_the_file_lacks_names_the_file_and_the_key(tmp_path: Path):
    policy = load_policy(write(tmp_path, POLICY_FILE.read_text(encoding="utf-8")))
    with pytest.raises(ConfigurationError) as info:
        policy.gate("repair.teleport")
    assert (info.value.file, info.value.key) == (str(tmp_path / "policy.yaml"), "gates.repair.teleport")


def test_role_references_name_each_role_with_its_key(shipped: Policy):
    references = dict(shipped.role_references())
    assert references["gates.repair.triage.role"] == shipped.gate("repair.triage").role
    assert any(key.startswith("ladders.") and key.endswith(".role") for key in references)


def test_the_complaint_sections_roles_are_checked_against_the_staff_file(shipped: Policy):
    """F1:213 verification by the related department and 004:447 quality's overdue reaction name roles too."""
    references = dict(shipped.role_references())
    assert references["complaint.verification_roles.product_quality"] == "quality_inspection"
    assert references["complaint.overdue_roles.0"] == "quality_inspection"
    staff_roles = yaml.safe_load(STAFF_FILE.read_text(encoding="utf-8"))["roles"]
    assert {"gm_office", "deputy_general_manager", "technical_head"} <= set(staff_roles)  # 004:485, 004:407, 004:411


def test_serious_grievances_go_to_the_deputy_gm_not_up_the_ladder_at_once(shipped: Policy):
    """004:407 names the deputy GM; F1:200-202 name the categories escalated to the top at once."""
    assert shipped.complaint is not None
    assert shipped.complaint.deputy_gm_categories == ["serious_grievance"]
    assert "serious_grievance" not in shipped.complaint.immediate_categories
    assert shipped.gate("complaint.deputy_gm_review").role == "deputy_general_manager"
