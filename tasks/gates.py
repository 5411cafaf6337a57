"""Gate tasks, and `ask`: the durable human wait every flow uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

from prefect import task
from prefect.flow_runs import suspend_flow_run
from prefect.runtime import flow_run, task_run

from aftersales.cases import prefect_view
from aftersales.gates import groups, series
from aftersales.gates import lifecycle as gates
from aftersales.gates.resume import pause_key
from aftersales.messaging.labels import label
from models.case import CaseSnapshot
from models.inputs import GateInput, ImprovementInput, JoinedInput
from tasks.records import record_step
from tasks.retry import only_transient, retried_read

T = TypeVar("T", bound=GateInput)


def gate_step(verb: str) -> Callable[[], str]:
    """A task run name saying what is done to which step (e.g. 'notify triage'), not a hash."""
    def name() -> str:
        gate_id = task_run.parameters.get("gate_id")
        key = gates.gate_key(gate_id) if isinstance(gate_id, int) else None
        return f"{verb} {key or f'gate {gate_id}'}"
    return name


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient, task_run_name="open {key}")
def open_gate(case_id: int, key: str, kind: str, input_model: str, flow_run_id: str | None,
              summary: list[dict[str, str]], assignee_person: str | None = None,
              assignee_role: str | None = None, opens_at: datetime | None = None,
              deadline_at: datetime | None = None, clock: str | None = None) -> int:
    """Create the gate (once) with its deadline (a future `opens_at` schedules it for the sweep to open)."""
    return gates.open_gate(case_id=case_id, key=key, kind=kind, input_model=input_model, flow_run_id=flow_run_id,
                           summary=summary, assignee_person=assignee_person, assignee_role=assignee_role,
                           opens_at=opens_at, deadline_at=deadline_at, clock_name=clock)


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient, task_run_name=gate_step("notify"))
def notify_gate(gate_id: int) -> int:
    """Send the assignees their links (once)."""
    return gates.notify_gate(gate_id, "request")


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient,
      task_run_name=gate_step("escalate at once"))
def escalate_to_top(gate_id: int, reason: str) -> bool:
    """Send the gate to the top of its ladder at once (categories that escalate immediately)."""
    from aftersales.sla.sweep import escalate_to_top as escalate  # the sweep imports the gates: load it late

    return escalate(gate_id, reason)


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient,
      task_run_name=gate_step("record UI answer of"))
def record_flow_answer(gate_id: int, answer: dict[str, Any]) -> None:
    """Record an answer given in the Prefect UI (a link answer is already recorded)."""
    gates.record_flow_answer(gate_id, answer)


def raise_gate(case: CaseSnapshot[Any], key: str, kind: str, model: type[GateInput],
               summary: list[dict[str, str]], *, opens_at: datetime | None = None,
               deadline_at: datetime | None = None, waited_on: bool = False) -> int:
    """Open a gate the flow does not wait on now (once): a follow-up with its own owner, or a scheduled gate.

    Not `waited_on`: no run is attached, its answer is kept on the case and resumes nothing (gates/resume.py).
    `waited_on`: the flow asks the same key later with `ask`, which finds this gate and suspends on it.
    """
    run_id = flow_run.get_id() if waited_on else None
    gate_id = open_gate(case.id, key, kind, model.__name__, run_id, summary, None, None, opens_at, deadline_at)
    notify_gate(gate_id)
    return gate_id


def follow_up_low_score(case: CaseSnapshot[Any], kind: str, score: int, comment: str) -> int:
    """A low satisfaction score gets an owner: a gate for the after-sales supervisor, tracked and escalated like
    any other, that the flow does not wait on (F2:283-284 improvement on the customer's feedback)."""
    rows = [{"label": "product_model", "value": case.product_model},
            {"label": "problem_description", "value": case.problem_description},
            {"label": "satisfaction", "value": f"{score}/5"}, {"label": "customer's comment", "value": comment or "-"}]
    gate_id = raise_gate(case, "low_satisfaction", kind, ImprovementInput, rows)
    record_step(case.id, "low_satisfaction", "follow_up",
                f"satisfaction {score}/5: improvement follow-up opened for the after-sales supervisor (F2:283-284)",
                data={"gate_id": gate_id})
    return gate_id


Summary = list[dict[str, str]]


def ask(case: CaseSnapshot[Any], key: str, kind: str, model: type[T], summary: Summary | Callable[[], Summary],
        *, assignee_person: str | None = None, assignee_role: str | None = None,
        escalate_reason: str | None = None, deadline_at: datetime | Callable[[], datetime | None] | None = None,
        clock: str | None = None) -> T:
    """Open a gate, tell its assignees, and wait durably for the typed answer (from a link or the Prefect UI).

    Every side effect is a cached task and the answer is read back from the database first, so re-running
    the flow from the top after a resume sends nothing twice and never suspends on an answered gate.
    `deadline_at` replaces the policy deadline (a clock that runs across steps, e.g. the repair's resolution);
    `clock` names that case clock, so the sweep holds the gate while the clock stands still (aftersales.sla.clocks).
    `summary` and `deadline_at` may be functions, called only when the gate is opened: a replay of an answered
    step then reads neither (the repair's resolution clock reads the case's whole history, once per step replayed).
    """
    # A replay after the answer reads it in one query: the gate was opened and its people told in an earlier run,
    # and two cached tasks per step already answered made each resume slower the further the case had got.
    recorded = gates.answer_of(case.id, key)
    if recorded is not None:
        return model.model_validate(recorded)
    run_id = flow_run.get_id()
    if callable(summary):
        summary = summary()
    if callable(deadline_at):
        deadline_at = deadline_at()
    with prefect_view.overlapped():  # the request goes out while the case's view in Prefect is written
        gate_id = open_gate(case.id, key, kind, model.__name__, run_id, summary, assignee_person, assignee_role,
                            None, deadline_at, clock)
        notify_gate(gate_id)
    if escalate_reason:
        escalate_to_top(gate_id, escalate_reason)
    recorded = gates.recorded_answer(gate_id)
    if recorded is not None:
        return model.model_validate(recorded)
    title = label("gates", kind, case.language)
    lines = "\n".join(f"- **{row['label']}**: {row['value']}" for row in summary)
    answer = suspend_flow_run(
        wait_for_input=model.with_initial_data(description=f"### {case.number} · {title}\n\n{lines}"),
        key=pause_key(key),
        timeout=None,
    )
    recorded = gates.recorded_answer(gate_id)  # answered from a link: the run input carries only the decision
    if recorded is not None:
        return model.model_validate(recorded)
    record_flow_answer(gate_id, answer.model_dump(mode="json"))  # answered in the Prefect UI
    return model.model_validate(answer.model_dump())


def tell_at_once(case: CaseSnapshot[Any], asks: list[tuple[str, str, type[GateInput], list[dict[str, str]]]],
                 ) -> None:
    """Open several gates and send every link now, so their people act in parallel (e.g. sales and quality
    going together, 004:463); the flow then `ask`s each in turn, and one answered early is read, not waited on.

    A run suspends on one gate at a time: an answer to another gate is recorded and read when the run gets there
    (aftersales.gates.resume leaves a run paused elsewhere alone). Give each gate's `ask` the same key and kind.
    """
    run_id = flow_run.get_id()
    for key, kind, model, summary in asks:
        notify_gate(open_gate(case.id, key, kind, model.__name__, run_id, summary))


@retried_read
def answerer(case: CaseSnapshot[Any], key: str) -> str | None:
    """The person who answered a case's gate from their link (e.g. the complaint's dedicated handler)."""
    return gates.answered_person(case.id, key)


@retried_read
def answered_at(case_id: int, key: str) -> datetime | None:
    """When a case's gate was answered (None while it waits); a read, safe to repeat."""
    return gates.answered_at(case_id, key)


class Branch(NamedTuple):
    """One wait of a group: its gate key, policy kind, typed answer, summary and (optionally) its own assignee."""

    key: str
    kind: str
    model: type[GateInput]
    summary: list[dict[str, str]]
    assignee_role: str | None = None
    assignee_person: str | None = None
    deadline_at: datetime | None = None


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient, task_run_name="open group {key}")
def open_group(case_id: int, key: str, flow_run_id: str | None, join: list[str], members: list[str]) -> int:
    """Create the group of waits in parallel (once)."""
    return groups.open_group(case_id=case_id, key=key, flow_run_id=flow_run_id, join=join, members=members)


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient,
      task_run_name="add gate {gate_id} to group {group_id}")
def add_member(group_id: int, gate_id: int) -> None:
    """Make a gate a member of the group (once)."""
    groups.add_member(group_id, gate_id)


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient,
      task_run_name="check join of group {group_id}")
def claim_join(group_id: int) -> bool:
    """Join the group if every required member was answered before the run got here."""
    return groups.claim_join(group_id)


def ask_all(case: CaseSnapshot[Any], group_key: str, branches: list[Branch], *, join: list[str] | None = None,
            ) -> dict[str, dict[str, Any] | None]:
    """Open several gates at once, each with its own assignee, deadline, reminder and ladder, and wait durably
    until every one (or the `join` subset) is answered; every member's answer by key (None: not answered).

    The run suspends once on the group (aftersales.gates.groups says why and how it resumes exactly once).
    """
    run_id = flow_run.get_id()
    group_id = open_group(case.id, group_key, run_id, list(join or []), [b.key for b in branches])
    for b in branches:
        gate_id = open_gate(case.id, b.key, b.kind, b.model.__name__, run_id, b.summary, b.assignee_person,
                            b.assignee_role, None, b.deadline_at)
        add_member(group_id, gate_id)
        notify_gate(gate_id)
    claim_join(group_id)
    waiting = ", ".join(label("gates", b.kind, case.language) for b in branches)
    for n in range(groups.MAX_WAITS):
        if groups.is_joined(group_id):
            break
        # A key already used (a run resumed early from the Prefect UI, then replayed) returns at once: try the next.
        suspend_flow_run(wait_for_input=JoinedInput.with_initial_data(
            description=f"### {case.number} · {group_key}\n\nwaiting in parallel on: {waiting}"),
            key=f"{groups.group_pause_key(group_key)}-{n}", timeout=None)
    return groups.member_answers(group_id)


@task(retries=3, retry_delay_seconds=2, retry_condition_fn=only_transient, task_run_name="open series {key}")
def open_series(case_id: int, key: str, kind: str, input_model: str, flow_run_id: str | None, country: str,
                timezone: str, first_day: date, subdiv: str | None, assignee_role: str | None,
                done_field: str, summary: list[dict[str, str]]) -> int:
    """Create the recurring wait (once); the sweep opens each working day's gate."""
    return series.open_series(case_id=case_id, key=key, kind=kind, input_model=input_model, flow_run_id=flow_run_id,
                              country=country, timezone=timezone, first_day=first_day, subdiv=subdiv,
                              assignee_role=assignee_role, done_field=done_field, summary=summary)


def until_done(case: CaseSnapshot[Any], key: str, kind: str, model: type[GateInput], summary: list[dict[str, str]],
               *, country: str, timezone: str, first_day: date, subdiv: str | None = None,
               assignee_role: str | None = None, done_field: str = "done") -> list[dict[str, Any]]:
    """Wait durably on a report every working day (of `country` in `timezone`) until one says `done_field`;
    every day's report in order (aftersales.gates.series). Days are opened and chased by the sweep."""
    run_id = flow_run.get_id()
    series_id = open_series(case.id, key, kind, model.__name__, run_id, country, timezone, first_day, subdiv,
                            assignee_role, done_field, summary)
    for n in range(groups.MAX_WAITS):
        if series.is_ended(series_id):
            break
        suspend_flow_run(wait_for_input=JoinedInput.with_initial_data(
            description=f"### {case.number} · {label('gates', kind, case.language)}\n\n"
                        f"a report every working day until {done_field}"),
            key=f"{series.series_pause_key(key)}-{n}", timeout=None)
    return series.reports(series_id)
