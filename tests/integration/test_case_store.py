"""What lets a replayed flow skip a change already made (aftersales.cases.store.holds): true only when the case
has every value given, as stored."""

from __future__ import annotations

from aftersales.cases.store import holds, update_case
from aftersales.config.settings import Settings
from aftersales.runtime.db import session_scope
from models import Case


def _case() -> str:
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", product_model="PT-3000", problem_description="坏了",
                    procedure="repair", number="RP-HOLDS-00001")
        session.add(case)
    return "RP-HOLDS-00001"


def test_a_case_holds_a_change_only_once_it_was_made_and_while_no_later_step_changed_it(settings: Settings) -> None:
    number = _case()
    change = {"warranty": "in_warranty", "fee": 120.5, "linked_cases": ["DP-1"]}
    assert not holds(number, data=change)
    update_case(number, data=change, urgent=True, flow_run_id="run-1")
    assert holds(number, data=change, urgent=True, flow_run_id="run-1")
    assert holds(number, data={"fee": 120.5})
    assert not holds(number, urgent=False) and not holds(number, flow_run_id="run-2")
    update_case(number, data={"fee": 99.0})  # a later step changed it: the earlier change is not "held" any more
    assert not holds(number, data=change)
    assert not holds("RP-NOPE", data={})
