"""The Prefect adapter: every call the platform makes to the Prefect API goes through here.

Outside failures become `IntegrationError`, so callers deal with one error type and nothing else imports
Prefect's client (flows and tasks still use Prefect's decorators and in-run helpers directly).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from aftersales.errors import IntegrationError

log = logging.getLogger("aftersales.runtime.prefect")

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


def run_deployment_once(deployment: str, parameters: dict[str, Any], idempotency_key: str, *,
                        run_name: str | None = None, tags: list[str] | None = None) -> str:
    """Create a flow run of a deployment (once per key, the server deduplicates); returns its id.

    `run_name` replaces Prefect's random name (the UI's search reads names); `tags` join the deployment's.
    """
    from prefect.deployments import run_deployment

    try:
        # _sync: a caller with a running event loop would otherwise get an un-awaited coroutine back.
        # as_subflow=False: a case opened from a flow (a complaint's linked repair or return) runs on its own;
        # as a subflow its first gate fails ("Cannot suspend subflows").
        run = run_deployment(deployment, parameters=parameters, timeout=0, idempotency_key=idempotency_key,
                             flow_run_name=run_name, tags=tags, as_subflow=False,
                             _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - any client or server failure is the same to callers
        raise IntegrationError(f"could not start {deployment}: {exc}") from exc
    return str(run.id)  # type: ignore[union-attr]


def flow_run_state(flow_run_id: str) -> tuple[str | None, str | None]:
    """The run's state type name (e.g. 'PAUSED') and the pause key it waits on, if any."""
    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    if run.state is None:
        return None, None
    return run.state.type.value, run.state.state_details.pause_key


def resume_run(flow_run_id: str, run_input: dict[str, Any] | None) -> None:
    """Resume a suspended run with the typed answer it waits for.

    One API call: the caller has just read the run paused on its gate (gates.resume), and the server refuses to
    resume a run that is not paused; `prefect.flow_runs.resume_flow_run` would read the run once more first."""
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    try:
        with get_client(sync_client=True) as client:
            response = client.resume_flow_run(UUID(flow_run_id), run_input=run_input)
    except Exception as exc:  # noqa: BLE001 - any API failure is retried by the sweep
        raise IntegrationError(f"could not resume flow run {flow_run_id}: {exc}") from exc
    if response.status.value != "ACCEPT":
        reason = "its pause timed out" if response.state and response.state.type == StateType.FAILED \
            else getattr(response.details, "reason", response.status.value)
        raise IntegrationError(f"could not resume flow run {flow_run_id}: {reason}")


def publish_markdown(key: str, markdown: str, description: str) -> None:
    """A markdown artifact of the current run (keys: lowercase letters, digits and dashes)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=markdown, key=key, description=description)



def create_progress(key: str, progress: float, description: str) -> str:
    """A progress artifact (0-100) of the current run, e.g. a recall's fan-out; its id, for update_progress."""
    from prefect.artifacts import create_progress_artifact

    try:
        artifact_id = create_progress_artifact(progress=progress, key=key, description=description,
                                               _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - progress is shown on the recall page too; the caller decides
        raise IntegrationError(f"could not create progress artifact {key}: {exc}") from exc
    return str(artifact_id)


def update_progress(artifact_id: str, progress: float, description: str | None = None) -> None:
    """Move a progress artifact made by create_progress."""
    from prefect.artifacts import update_progress_artifact

    try:
        update_progress_artifact(artifact_id=UUID(artifact_id), progress=progress, description=description,
                                 _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not update progress artifact {artifact_id}: {exc}") from exc


def latest_progress(key: str) -> float | None:
    """The progress (0-100) of the newest artifact with this key, None when there is none."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    try:
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    progress = [a for a in found if a.type == "progress"]
    return float(progress[-1].data) if progress else None  # type: ignore[arg-type]

# --- recovery of flow runs that died with their process (aftersales.sla.recovery) ------------------------------

# Automations the stack creates on the Prefect server (by name, so creating them again changes nothing).
ZOMBIE_AUTOMATION = "aftersales: crash flow runs whose heartbeat stopped"
PENDING_AUTOMATION = "aftersales: crash flow runs stuck in Pending"
CRASHED_AUTOMATION = "aftersales: sweep at once when a case's run crashed"
# Every state a run leaves Pending for (events are named after the state's name).
AFTER_PENDING = ("Running", "Retrying", "Crashed", "Failed", "Cancelled", "Cancelling", "Completed", "Scheduled",
                 "Late", "AwaitingRetry", "Resuming", "Paused", "Suspended")


@dataclass(frozen=True)
class RunStatus:
    """A flow run as recovery sees it."""

    id: str
    state: str  # state type name: CRASHED, PENDING, RUNNING, ...
    state_id: str  # changes with every state: a recovery is claimed once per state
    since: datetime  # when it entered the state
    message: str


@contextmanager
def client_on(api_url: str | None) -> Iterator[Any]:
    """A sync client, on `api_url` when given (the launcher is no configured Prefect process)."""
    from prefect import get_client

    with _on_api(api_url), get_client(sync_client=True) as client:
        yield client


def _on_api(url: str | None) -> AbstractContextManager[Any]:
    """Prefect's settings with its API URL set to `url`, only when they differ: each `temporary_settings` builds a
    whole new settings object (~50-200 ms of CPU, py-spy and cProfile of the sweep: it was the sweep's largest cost
    per gate it acted on, through `emit`)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not url or PREFECT_API_URL.value() == url:
        return nullcontext()
    return temporary_settings(updates={PREFECT_API_URL: url})



def recovery_automations(heartbeat_seconds: int, pending_seconds: float, sweep_deployment_id: str | None,
                         case_deployment_ids: list[str]) -> list[Any]:
    """The automations that find dead runs: Prefect's "detect zombie flows", the same for Pending, and a sweep
    started as soon as a case's run crashed (the sweep reschedules it, counting tries)."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState, RunDeployment
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    runs: dict[str, str | list[str]] = {"prefect.resource.id": "prefect.flow-run.*"}
    found = [
        AutomationCore(
            name=ZOMBIE_AUTOMATION,
            description="A running flow run that sent no event for 3 heartbeats has no process any more: "
                        "mark it Crashed (Prefect docs, 'Detect zombie flows'). Also after Running, for a process "
                        "that died before its first heartbeat.",
            trigger=EventTrigger(match=runs, after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
                                 expect={"prefect.flow-run.*"}, for_each={"prefect.resource.id"},
                                 posture=Posture.Proactive, threshold=1,
                                 within=timedelta(seconds=3 * heartbeat_seconds)),
            actions=[ChangeFlowRunState(name=None, state=StateType.CRASHED, force=False,
                                        message="Flow run marked as crashed: its heartbeat stopped")],
        ),
        AutomationCore(
            name=PENDING_AUTOMATION,
            description="A flow run still Pending after this long was never started by a live worker.",
            trigger=EventTrigger(match=runs, after={"prefect.flow-run.Pending"},
                                 expect={f"prefect.flow-run.{name}" for name in AFTER_PENDING},
                                 for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                                 within=timedelta(seconds=pending_seconds)),
            actions=[ChangeFlowRunState(name=None, state=StateType.CRASHED, force=False,
                                        message="Flow run marked as crashed: it stayed Pending with no process")],
        ),
    ]
    if sweep_deployment_id and case_deployment_ids:  # only cases' runs: a crashing sweep must not start sweeps
        found.append(AutomationCore(
            name=CRASHED_AUTOMATION,
            description="Run the escalation sweep now, which reschedules a crashed run of an open case.",
            trigger=EventTrigger(match=runs, expect={"prefect.flow-run.Crashed"},
                                 match_related={"prefect.resource.role": "deployment",
                                                "prefect.resource.id": [f"prefect.deployment.{d}"
                                                                        for d in case_deployment_ids]},
                                 posture=Posture.Reactive, threshold=1, within=timedelta(0)),
            actions=[RunDeployment(source="selected", deployment_id=UUID(sweep_deployment_id), parameters=None,
                                   job_variables=None)],
        ))
    return found


def ensure_recovery_automations(heartbeat_seconds: int, pending_seconds: float, *, sweep_deployment: str,
                                case_deployments: list[str], api_url: str | None = None) -> list[str]:
    """Create or update the recovery automations (idempotent: one of each name); returns their names."""
    try:
        with client_on(api_url) as client:
            sweep_id = _deployment_id(client, sweep_deployment)
            case_ids = [d for d in (_deployment_id(client, name) for name in case_deployments) if d]
            wanted = recovery_automations(heartbeat_seconds, pending_seconds, sweep_id, case_ids)
            for automation in wanted:
                existing = client.read_automations_by_name(automation.name)
                for extra in existing[1:]:  # two `up`s raced: keep one
                    client.delete_automation(extra.id)
                if existing:
                    client.update_automation(existing[0].id, automation)
                else:
                    client.create_automation(automation)
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not create the recovery automations: {exc}") from exc
    return [a.name for a in wanted]


def _deployment_id(client: Any, name: str) -> str | None:
    from prefect.exceptions import ObjectNotFound

    try:
        return str(client.read_deployment_by_name(name).id)
    except ObjectNotFound:
        return None


# Above this many runs, the runs in the states are read by flow name and matched here, not asked for by id.
RUNS_BY_ID_LIMIT = 1000


def runs_in_states(run_ids: list[str], states: list[str], flow_names: list[str] | None = None) -> list[RunStatus]:
    """The runs among `run_ids` that are in one of `states`.

    A few runs: asked for by id, 200 a query. Many (10,000 waiting cases were 50 queries, ~4 s of every sweep,
    benchmarks/waiting_bench.py): given the flows' names, the runs of those flows in these states are read instead
    (executing or dead ones: few, whatever the number waiting) and matched with `run_ids` here.
    """
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    in_states = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in states]))
    page = 200  # the server's default page limit
    runs: list[Any] = []
    try:
        with client_on(None) as client:
            if flow_names and len(run_ids) > RUNS_BY_ID_LIMIT:
                wanted = set(run_ids)
                while batch := client.read_flow_runs(flow_run_filter=FlowRunFilter(state=in_states),
                                                     flow_filter=FlowFilter(name=FlowFilterName(any_=flow_names)),
                                                     limit=page, offset=len(runs)):
                    runs += batch
                runs = [r for r in runs if str(r.id) in wanted]
            else:
                for start in range(0, len(run_ids), page):
                    ids = [UUID(r) for r in run_ids[start:start + page]]
                    runs += client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids),
                                                                                state=in_states), limit=page)
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    return [RunStatus(id=str(r.id), state=r.state.type.value, state_id=str(r.state.id), since=r.state.timestamp,
                      message=r.state.message or "") for r in runs if r.state is not None]


def last_heartbeats(run_ids: list[str], since: datetime) -> dict[str, datetime]:
    """When each of these runs last sent a heartbeat after `since` (runs without one are absent)."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

    if not run_ids:
        return {}
    resources = [f"prefect.flow-run.{r}" for r in run_ids]
    beats: dict[str, datetime] = {}
    try:
        with client_on(None) as client:
            page = client.read_events(EventFilter(
                occurred=EventOccurredFilter(since=since),  # type: ignore[arg-type]  # pendulum-free DateTime
                event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                resource=EventResourceFilter(id=resources, distinct=True)), limit=50)  # the server refuses more (422)
            while True:
                for event in page.events:
                    run_id = event.resource.id.removeprefix("prefect.flow-run.")
                    beats[run_id] = max(beats.get(run_id, event.occurred), event.occurred)
                if not page.next_page:
                    break
                page = client.read_events_page(str(page.next_page))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    return beats


def reschedule_run(flow_run_id: str) -> None:
    """Run a dead run again under its own id. Forced, so the server keeps its answered pause keys (earlier
    answers replay) and its persisted task results are reused: what it did is not done again."""
    from prefect.states import Scheduled

    try:
        with client_on(None) as client:
            client.set_flow_run_state(UUID(flow_run_id), Scheduled(message="rescheduled by recovery"), force=True)
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not reschedule flow run {flow_run_id}: {exc}") from exc


# --- the case as the Prefect UI shows it (aftersales.cases.prefect_view) ---------------------------------------


def api_url() -> str:
    """The Prefect API this process talks to: Prefect's own setting, else AFTERSALES_PREFECT_API_URL."""
    from prefect.settings import PREFECT_API_URL

    from aftersales.config.settings import get_settings

    return PREFECT_API_URL.value() or get_settings().prefect_api_url


def replace_run_tags(flow_run_id: str, managed: Callable[[str], bool], wanted: list[str]) -> list[str]:
    """Set the run's tags: those `managed` says are ours become `wanted`, every other tag stays; returns them.

    Writes nothing when the tags are already so (idempotent).
    """
    try:
        with client_on(api_url()) as client:
            run = client.read_flow_run(UUID(flow_run_id))
            kept = [t for t in run.tags if not managed(t)]
            tags = list(dict.fromkeys(kept + wanted))
            if sorted(tags) != sorted(run.tags):
                client.update_flow_run(UUID(flow_run_id), tags=tags)
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not tag flow run {flow_run_id}: {exc}") from exc
    return tags


def publish_run_markdown(key: str, markdown: str, description: str, flow_run_id: str | None) -> None:
    """A new version of a keyed markdown artifact, attached to a flow run (callable outside any run)."""
    from prefect.client.schemas.actions import ArtifactCreate

    try:
        with client_on(api_url()) as client:
            client.create_artifact(ArtifactCreate(key=key, type="markdown", data=markdown, description=description,
                                                  flow_run_id=UUID(flow_run_id) if flow_run_id else None))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not publish artifact {key}: {exc}") from exc


def latest_markdown(key: str) -> str | None:
    """The newest version of a keyed artifact's text (None when there is none)."""
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    try:
        with client_on(api_url()) as client:
            found = client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key])), limit=1)
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    return str(found[0].data) if found else None


def emit(event: str, resource: dict[str, str], related: list[dict[str, str]], payload: dict[str, Any]) -> None:
    """Send one event to Prefect's event system. Queued and sent by Prefect's background worker: returns at once,
    and an unreachable server costs a logged warning there, never an exception here."""
    from prefect.events import emit_event

    try:
        # Without an API URL Prefect would emit to an ephemeral server it starts in this process: never that.
        with _on_api(api_url()):
            emit_event(event=event, resource=resource, related=related, payload=payload)
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not emit {event}: {exc}") from exc


@dataclass(frozen=True)
class EventRecord:
    """An event as read back from Prefect."""

    event: str
    occurred: datetime
    resource: dict[str, str]
    related: list[dict[str, str]]
    payload: dict[str, Any]


def read_events(resource_id: str, prefix: str, since: datetime) -> list[EventRecord]:
    """The events of one resource whose names start with `prefix`, oldest first."""
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventOrder,
        EventResourceFilter,
    )

    found: list[EventRecord] = []
    try:
        with client_on(api_url()) as client:
            page = client.read_events(EventFilter(
                occurred=EventOccurredFilter(since=since),  # type: ignore[arg-type]
                event=EventNameFilter(prefix=[prefix]), resource=EventResourceFilter(id=[resource_id]),
                order=EventOrder.ASC), limit=50)  # the server takes at most 50 a page
            while True:
                found += [EventRecord(e.event, e.occurred, dict(e.resource.root),
                                      [dict(r.root) for r in e.related], dict(e.payload)) for e in page.events]
                if not page.next_page:
                    break
                page = client.read_events_page(str(page.next_page))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    return sorted(found, key=lambda e: e.occurred)


def find_runs_named(text: str) -> list[tuple[str, str, list[str]]]:
    """(id, name, tags) of the flow runs whose name contains `text`, as the UI's search box finds them."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    try:
        with client_on(api_url()) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=text)))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    return [(str(r.id), r.name, list(r.tags)) for r in runs]


def ensure_automation(automation: Any, api_url_: str | None = None) -> str:
    """Create or update one automation by name (running it again leaves one); returns its id."""
    try:
        with client_on(api_url_ or api_url()) as client:
            existing = client.read_automations_by_name(automation.name)
            for extra in existing[1:]:
                client.delete_automation(extra.id)
            if existing:
                client.update_automation(existing[0].id, automation)
                return str(existing[0].id)
            return str(client.create_automation(automation))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"could not create automation {automation.name!r}: {exc}") from exc


def event_automation(name: str, description: str, event: str, match: dict[str, str],
                     match_related: dict[str, str]) -> Any:
    """An automation that fires on each `event` whose resource and related resource match (labels, `*` allowed).

    Its action does nothing: no block is needed, and each firing shows in the Event Feed and on the automation's
    page; in the UI a manager swaps it for "Send a notification" once a notification block exists.
    """
    from prefect.events.actions import DoNothing
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=name, description=description,
        trigger=EventTrigger(expect={event}, match=match, match_related=match_related,  # type: ignore[arg-type]
                             posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=[DoNothing()])
