"""The worker's tuning (aftersales.runtime.prefect_cli): the run environment from its settings, computed once per
settings object, still a fresh copy for each run and still following a change of settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.workers.base import BaseJobConfiguration

from aftersales.runtime import prefect_cli


@pytest.fixture
def tuned() -> Iterator[None]:
    original = BaseJobConfiguration.__dict__["_base_environment"]
    prefect_cli._settings_environment_once()
    try:
        yield
    finally:
        BaseJobConfiguration._base_environment = original  # type: ignore[method-assign]


@pytest.mark.usefixtures("tuned")
def test_each_run_gets_its_own_copy_of_the_same_environment() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        first = BaseJobConfiguration._base_environment()
        first["PREFECT__FLOW_RUN_ID"] = "one run's own"
        second = BaseJobConfiguration._base_environment()
    assert second["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert "PREFECT__FLOW_RUN_ID" not in second


@pytest.mark.usefixtures("tuned")
def test_other_settings_give_their_own_environment() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        before = BaseJobConfiguration._base_environment()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4300/api"}):
        after = BaseJobConfiguration._base_environment()
    assert (before["PREFECT_API_URL"], after["PREFECT_API_URL"]) == ("http://127.0.0.1:4200/api",
                                                                     "http://127.0.0.1:4300/api")


def test_a_run_resumed_while_its_old_process_holds_the_slot_waits_instead_of_ending_the_worker() -> None:
    # Prefect 3.8 asked the limiter a second slot for the same run and the worker died of the RuntimeError.
    import asyncio
    from types import SimpleNamespace
    from uuid import uuid4

    import anyio
    from prefect.workers.base import BaseWorker
    from prefect.workers.process import ProcessWorker

    original = BaseWorker.__dict__["_submit_scheduled_flow_runs"]
    run_id = uuid4()

    async def poll_returns_the_held_run() -> list[object]:
        worker = ProcessWorker(work_pool_name="aftersales", limit=2)
        worker._limiter = anyio.CapacityLimiter(2)
        worker._limiter.acquire_on_behalf_of_nowait(run_id)  # its old process has not ended yet
        return await worker._submit_scheduled_flow_runs([SimpleNamespace(flow_run=SimpleNamespace(id=run_id))])

    with pytest.raises(RuntimeError, match="already holding"):
        asyncio.run(poll_returns_the_held_run())  # as Prefect has it
    prefect_cli._runs_still_held_wait()
    try:
        assert asyncio.run(poll_returns_the_held_run()) == []  # left for the next poll
    finally:
        BaseWorker._submit_scheduled_flow_runs = original  # type: ignore[method-assign]
