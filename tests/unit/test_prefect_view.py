"""What the Prefect UI shows of a case: run name, artifact key, tags from its state, the artifact's text."""

from __future__ import annotations

from aftersales.cases.prefect_view import (
    CaseState,
    Step,
    WaitingStep,
    answered_by,
    artifact_key,
    case_tags,
    decisions,
    owned,
    render_markdown,
    run_name,
    start_tags,
)

TRIAGE = WaitingStep("triage", "repair.triage", "customer_service", "li.na", "2026-12-01 11:00", 0, False)


def test_a_run_is_named_by_case_number_and_procedure_and_its_artifact_key_is_prefect_safe() -> None:
    assert run_name("RP-20261201-00001", "repair") == "RP-20261201-00001 · repair"
    assert artifact_key("RP-20261201-00001") == "case-rp-20261201-00001"
    assert artifact_key("CP_2026/12 01") == "case-cp-2026-12-01"


def test_an_open_case_is_tagged_with_its_procedure_step_role_and_person() -> None:
    state = CaseState("RP-1", "repair", "open", waiting=(TRIAGE,))
    assert case_tags(state) == ["procedure:repair", "step:triage", "waits:customer_service", "person:li.na"]


def test_a_late_escalated_case_says_so_and_a_customer_step_names_no_person() -> None:
    late = WaitingStep("quote_confirmation", "repair.quote_confirmation", "customer", "customer", "-", 2, True)
    state = CaseState("RP-2", "repair", "open", parent="CP-9", needs_attention=True, waiting=(late,))
    tags = case_tags(state)
    assert tags == ["procedure:repair", "parent:CP-9", "step:quote_confirmation", "waits:customer", "escalated:2",
                    "late", "needs-attention"]
    assert not any(t.startswith("person:") for t in tags)


def test_a_closed_case_is_tagged_with_how_it_ended_and_nothing_it_waited_on() -> None:
    state = CaseState("RP-3", "repair", "rejected", closed=True, waiting=(TRIAGE,))
    assert case_tags(state) == ["procedure:repair", "closed:rejected"]


def test_only_the_views_own_tags_are_replaced() -> None:
    assert all(owned(t) for t in ["procedure:repair", "step:x", "waits:gm", "person:a", "late", "escalated:1",
                                  "needs-attention", "closed:closed", "parent:CP-1"])
    assert not any(owned(t) for t in ["aftersales", "repair", "vip", "lately"])


def test_decisions_keep_choices_and_numbers_but_never_free_text() -> None:
    answer = {"accept": True, "signature_name": "张三", "comment": "call me at 139"}
    assert decisions("QuoteConfirmationInput", answer) == {"accept": True}
    plan = {"mode": "factory_return", "plan": "返厂", "appointment": "周三", "fee": 300.0, "comment": ""}
    assert decisions("RepairPlanInput", plan) == {"mode": "factory_return", "fee": 300.0}
    assert decisions("NoSuchInput", answer) == {}


def test_who_answered_is_a_staff_id_customer_quorum_or_the_prefect_ui() -> None:
    assert answered_by("li.na", "link", "李娜 (li.na)") == "li.na"
    assert answered_by("customer", "link", "customer 张三") == "customer"
    assert answered_by("liu.yang", "link", "quorum: liu.yang, wang.fang") == "quorum"
    assert answered_by(None, "prefect-ui", "Prefect UI") == "prefect-ui"


def test_the_artifact_shows_where_the_case_stands_and_its_history() -> None:
    done = Step("triage", "repair.triage", "answered", "2026-12-01 09:00", "customer_service", "2026-12-01 09:30",
                "li.na", "link", {"urgent": False, "complexity": "general"})
    waiting = WaitingStep("plan", "repair.plan", "after_sales_supervisor", None, "2026-12-01 15:00", 1, True)
    text = render_markdown(CaseState("RP-4", "repair", "open", parent="CP-2", waiting=(waiting,),
                                     history=(done, Step("plan", "repair.plan", "waiting", "2026-12-01 09:31",
                                                         "after_sales_supervisor", rung=1))))
    assert text.startswith("# RP-4 · repair\n")
    assert "| current step | plan (repair.plan) |" in text
    assert "| holder | after_sales_supervisor |" in text
    assert "| deadline | 2026-12-01 15:00 **LATE** |" in text
    assert "| escalated | rung 1 |" in text and "| opened from | CP-2 |" in text
    assert ("| triage | repair.triage | 2026-12-01 09:00 | 2026-12-01 09:30 | li.na | customer_service | link "
            "| urgent=False, complexity=general |") in text
    assert "| plan | repair.plan | 2026-12-01 09:31 | - | - | after_sales_supervisor (rung 1) | - | waiting |" in text


def test_a_pipe_in_a_cell_cannot_break_the_table() -> None:
    step = Step("k|x", "kind", "answered", "t", "role", "t2", "li.na", "link", {"mode": "a|b"})
    assert "| k/x |" in render_markdown(CaseState("RP-5", "repair", "closed", closed=True, history=(step,)))


def test_a_run_starts_tagged_with_its_procedure_and_the_case_it_was_opened_from() -> None:
    assert start_tags("repair", None) == ["procedure:repair"]
    assert start_tags("return", "CP-20261201-00002") == ["procedure:return", "parent:CP-20261201-00002"]


def test_a_step_is_late_past_its_deadline_and_stays_late_after_climbing_for_it() -> None:
    from datetime import UTC, datetime, timedelta

    from aftersales.cases.prefect_view import is_late
    from models import Gate

    due = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    gate = Gate(case_id=1, key="triage", kind="repair.triage", input_model="TriageInput", assignee_role="x",
                deadline_at=due, context={})
    assert not is_late(gate, due - timedelta(minutes=1))
    assert is_late(gate, due)
    gate.deadline_at, gate.context = due + timedelta(hours=4), {"missed_deadline_at": due.isoformat()}
    assert is_late(gate, due + timedelta(minutes=1)), "escalated for the missed deadline: still late"
