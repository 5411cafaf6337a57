"""Recovery's question to Prefect, "which of these runs are dead or executing?", asked both ways on a real server:
by the runs' ids (a few cases) and by their flows' names (many waiting cases), with the same answer."""

from __future__ import annotations

import pytest
from prefect import get_client
from prefect.states import Crashed, Suspended

from aftersales.runtime import prefect as orchestrator
from aftersales.runtime.stack import Stack

pytestmark = pytest.mark.stack


def test_dead_runs_are_found_by_id_and_by_flow_name_alike(stack_env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("repair/repair")
        ref = {"ref": {"case_number": "RP-QUERY-1"}}
        crashed = client.create_flow_run_from_deployment(deployment.id, parameters=ref,
                                                         state=Crashed(message="killed"))
        waiting = client.create_flow_run_from_deployment(deployment.id, parameters=ref,
                                                         state=Suspended(pause_key="gate:query"))
        elsewhere = client.create_flow_run_from_deployment(  # another flow's dead run: not one of ours
            client.read_deployment_by_name("escalation-sweep/escalation-sweep").id, state=Crashed())
    ids = [str(crashed.id), str(waiting.id)]
    by_id = orchestrator.runs_in_states(ids, ["CRASHED", "RUNNING"], ["repair"])
    monkeypatch.setattr(orchestrator, "RUNS_BY_ID_LIMIT", 0)  # as with thousands of waiting cases
    by_name = orchestrator.runs_in_states(ids, ["CRASHED", "RUNNING"], ["repair"])
    assert [(r.id, r.state) for r in by_id] == [(r.id, r.state) for r in by_name] == [(str(crashed.id), "CRASHED")]
    assert str(elsewhere.id) not in {r.id for r in by_name}
