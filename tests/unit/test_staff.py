"""The staff directory: loading, sink expansion, role holders and delegation while away."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from aftersales.config.staff import StaffDirectory, load_staff
from aftersales.errors import ConfigurationError, NotFound

STAFF_FILE = Path(__file__).resolve().parents[2] / "staff.yaml"


def fake_sink(address: str) -> str:
    return f"mailto://sink.test:2525/?to={address}"


def person(pid: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": pid.title(), "roles": roles, "notify": [f"sink:{pid}@example.com"], **extra}


BASE: dict[str, Any] = {
    "roles": {"customer_service": "客服人员", "after_sales_manager": "售后服务部经理", "finance": "财务中心"},
    "people": [
        person("li.na", ["customer_service"]),
        person("ma.tao", ["customer_service"]),
        person("wang.fang", ["after_sales_manager"]),
        person("zhao.min", ["finance"]),
    ],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "staff.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def directory(tmp_path: Path, **changes: dict[str, Any]) -> StaffDirectory:
    """BASE with some people's fields changed, loaded through load_staff."""
    data = copy.deepcopy(BASE)
    for entry in data["people"]:
        entry.update(changes.get(entry["id"].replace(".", "_"), {}))
    return load_staff(write(tmp_path, data), fake_sink)


@pytest.fixture(scope="module")
def shipped() -> StaffDirectory:
    return load_staff(STAFF_FILE, fake_sink)


# ---- the shipped file ------------------------------------------------------------------------


def test_the_shipped_staff_file_loads(shipped: StaffDirectory):
    assert len(shipped.people) >= 10
    assert "customer_service" in shipped.roles


def test_sink_destinations_are_expanded_with_the_given_function(shipped: StaffDirectory):
    assert shipped.person("li.na").notify == ["mailto://sink.test:2525/?to=li.na@example.com"]


def test_no_sink_destination_is_left_unexpanded(shipped: StaffDirectory):
    for someone in shipped.people:
        assert all(not url.startswith("sink:") for url in someone.notify), someone.id


def test_every_shipped_role_has_someone_available(shipped: StaffDirectory):
    for role in shipped.roles:
        assert shipped.holders(role), role


def test_the_holder_of_a_role_is_listed(shipped: StaffDirectory):
    assert [p.id for p in shipped.holders("finance")] == ["zhao.min"]


def test_one_person_can_hold_several_roles(shipped: StaffDirectory):
    assert [p.id for p in shipped.holders("quality_qa")] == ["sun.li"]
    assert [p.id for p in shipped.holders("quality_inspection")] == ["sun.li"]


def test_role_labels_come_from_the_file_and_the_customer_has_a_fixed_label(shipped: StaffDirectory):
    assert shipped.role_label("finance") == "财务中心"
    assert shipped.role_label("customer") == "客户 / customer"


def test_the_language_of_a_person_is_kept(shipped: StaffDirectory):
    assert shipped.person("anna.schmidt").language == "en"
    assert shipped.person("li.na").language == "zh"


# ---- expansion -------------------------------------------------------------------------------


def test_destinations_that_are_not_sinks_are_kept_as_they_are(tmp_path: Path):
    data = copy.deepcopy(BASE)
    data["people"][0]["notify"] = ["json://localhost:9/hook", "sink:li.na@example.com"]
    staff = load_staff(write(tmp_path, data), fake_sink)
    assert staff.person("li.na").notify == ["json://localhost:9/hook", "mailto://sink.test:2525/?to=li.na@example.com"]


# ---- holders and delegation ------------------------------------------------------------------


def test_all_holders_of_a_role_are_listed_in_file_order(tmp_path: Path):
    assert [p.id for p in directory(tmp_path).holders("customer_service")] == ["li.na", "ma.tao"]


def test_an_away_person_is_replaced_by_their_delegate(tmp_path: Path):
    staff = directory(tmp_path, wang_fang={"away": True, "delegate": "zhao.min"})
    assert [p.id for p in staff.holders("after_sales_manager")] == ["zhao.min"]


def test_an_away_person_without_delegate_is_skipped_when_others_hold_the_role(tmp_path: Path):
    staff = directory(tmp_path, li_na={"away": True})
    assert [p.id for p in staff.holders("customer_service")] == ["ma.tao"]


def test_a_delegate_who_already_holds_the_role_is_listed_once(tmp_path: Path):
    staff = directory(tmp_path, li_na={"away": True, "delegate": "ma.tao"})
    assert [p.id for p in staff.holders("customer_service")] == ["ma.tao"]


def test_a_role_whose_only_holder_is_away_without_delegate_is_a_configuration_error(tmp_path: Path):
    staff = directory(tmp_path, zhao_min={"away": True})
    with pytest.raises(ConfigurationError, match="finance"):
        staff.holders("finance")


def test_a_delegate_who_is_away_as_well_does_not_count(tmp_path: Path):
    staff = directory(tmp_path, zhao_min={"away": True, "delegate": "wang.fang"}, wang_fang={"away": True})
    with pytest.raises(ConfigurationError, match="finance"):
        staff.holders("finance")


def test_an_unknown_role_is_a_configuration_error(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="astronaut"):
        directory(tmp_path).holders("astronaut")


def test_an_unknown_person_is_not_found(tmp_path: Path):
    with pytest.raises(NotFound, match="nobody.here"):
        directory(tmp_path).person("nobody.here")


# ---- invalid files ---------------------------------------------------------------------------


def test_duplicate_person_ids_are_refused(tmp_path: Path):
    data = copy.deepcopy(BASE)
    data["people"].append(person("li.na", ["finance"]))
    with pytest.raises(ConfigurationError, match="unique"):
        load_staff(write(tmp_path, data), fake_sink)


def test_a_person_with_an_unknown_role_is_refused(tmp_path: Path):
    data = copy.deepcopy(BASE)
    data["people"][0]["roles"] = ["customer_service", "astronaut"]
    with pytest.raises(ConfigurationError, match="astronaut"):
        load_staff(write(tmp_path, data), fake_sink)


def test_a_delegate_who_is_not_in_the_directory_is_refused(tmp_path: Path):
    data = copy.deepcopy(BASE)
    data["people"][0].update(away=True, delegate="ghost")
    with pytest.raises(ConfigurationError, match="ghost"):
        load_staff(write(tmp_path, data), fake_sink)


def test_a_person_without_destinations_is_refused(tmp_path: Path):
    data = copy.deepcopy(BASE)
    data["people"][0]["notify"] = []
    with pytest.raises(ConfigurationError, match="notify"):
        load_staff(write(tmp_path, data), fake_sink)


def test_an_unknown_key_on_a_person_is_refused(tmp_path: Path):
    data = copy.deepcopy(BASE)
    data["people"][0]["phone"] = "13800000000"
    with pytest.raises(ConfigurationError, match="phone"):
        load_staff(write(tmp_path, data), fake_sink)


def test_a_staff_file_that_is_not_yaml_is_refused(tmp_path: Path):
    path = tmp_path / "staff.yaml"
    path.write_text("people: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=str(path.name)):
        load_staff(path, fake_sink)


def test_a_staff_file_that_is_a_list_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError):
        load_staff(write(tmp_path, ["li.na", "ma.tao"]), fake_sink)


def test_a_missing_staff_file_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="not found"):
        load_staff(tmp_path / "absent.yaml", fake_sink)


# ---- file and key named ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        pytest.param(lambda d: d["people"][1].update(roles=["astronaut"]), "people.1.roles", id="unknown_role"),
        pytest.param(lambda d: d["people"][0].update(away=True, delegate="ghost"), "people.0.delegate",
                     id="unknown_delegate"),
        pytest.param(lambda d: d["people"].append(person("li.na", ["finance"])), "people.4.id", id="duplicate_id"),
        pytest.param(lambda d: d["people"][2].update(notify=[]), "people.2.notify", id="no_destination"),
        pytest.param(lambda d: d["people"][0].update(phone="1"), "people.0.phone", id="unknown_key"),
    ],
)
def test_an_invalid_staff_file_names_the_file_and_the_dotted_key(tmp_path: Path, change: Any, key: str):
    data = copy.deepcopy(BASE)
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigurationError) as info:
        load_staff(path, fake_sink)
    assert (info.value.file, info.value.key) == (str(path), key)
    assert str(info.value).startswith(f"{path}: not a valid staff directory: ")


def test_a_role_nobody_holds_names_the_staff_file(tmp_path: Path):
    staff = directory(tmp_path, zhao_min={"away": True})
    with pytest.raises(ConfigurationError) as info:
        staff.holders("finance")
    assert info.value.file == str(tmp_path / "staff.yaml")
    with pytest.raises(ConfigurationError, match=r"staff\.yaml: roles: role 'astronaut'"):
        staff.holders("astronaut")
