"""Prefect's command line, tuned for workers: how the stack starts them.

py-spy on a worker during benchmarks/click_bench.py found two costs in each submission of a run that do not
change between runs: a new TLS context for the Prefect client it opens (~25 CPU ms, 40 % of a submission; now
one per CA bundle, aftersales.runtime.tls), then the worker's whole settings written out as the run's
environment (~60 ms, half of what was left; now once per settings object). It also keeps a worker with a
`--limit` alive when a run is resumed before its previous process has ended (`_runs_still_held_wait`). Same
arguments as `prefect`:

    python -m aftersales.runtime.prefect_cli worker start --pool aftersales --type process
"""

from __future__ import annotations

import sys
from typing import Any

from aftersales.runtime import tls


def _settings_environment_once() -> None:
    """The environment a worker gives every run from its own settings, computed once per settings object.

    Prefect's `BaseJobConfiguration._base_environment` serialises every setting (secrets unmasked) for each run;
    the worker's settings do not change while it runs. A copy is handed out each time (callers add to it).
    Left as Prefect has it if a later version has no such method.
    """
    from prefect.settings import get_current_settings
    from prefect.workers.base import BaseJobConfiguration

    original = getattr(BaseJobConfiguration, "_base_environment", None)
    if original is None:
        return
    computed: list[tuple[Any, dict[str, str]]] = []  # (settings, environment): the settings kept alive

    def base_environment(cls: type[BaseJobConfiguration]) -> dict[str, str]:
        settings = get_current_settings()
        for known, environment in computed:
            if known is settings:
                return dict(environment)
        environment = original.__func__(cls)
        computed[:] = [*computed[-3:], (settings, environment)]
        return dict(environment)

    BaseJobConfiguration._base_environment = classmethod(base_environment)  # type: ignore[method-assign,assignment]


def _runs_still_held_wait() -> None:
    """A run resumed while its previous process still holds this worker's limit slot waits for the next poll.

    A suspended run's process ends a second or two after it suspended (Prefect ships its last logs and events and
    joins its heartbeat thread), and the slot of `--limit` is freed only then. A person quick to answer resumes
    the run before that: the next poll returns it, and Prefect 3.8's worker asks the limiter for a second slot for
    the same run, which raises "this borrower is already holding one of this CapacityLimiter's tokens" and ends
    the worker (seen in the 60-case production test). Left out of this poll, the run is taken by the next one
    once its old process is gone (or by another worker). Left as Prefect has it if a later version has no such
    method.
    """
    from prefect.workers.base import BaseWorker

    original = getattr(BaseWorker, "_submit_scheduled_flow_runs", None)
    if original is None:
        return

    async def submit_scheduled(self: BaseWorker[Any, Any, Any], flow_run_response: list[Any]) -> list[Any]:
        limiter = getattr(self, "_limiter", None)
        if limiter is not None:
            held = set(limiter.statistics().borrowers)
            flow_run_response = [entry for entry in flow_run_response if entry.flow_run.id not in held]
        result: list[Any] = await original(self, flow_run_response)
        return result

    BaseWorker._submit_scheduled_flow_runs = submit_scheduled  # type: ignore[method-assign]


def main() -> None:
    """Run `prefect` with this process's verified TLS contexts shared (it exits as `prefect` does)."""
    tls.share_verified_contexts()
    _settings_environment_once()
    _runs_still_held_wait()
    from prefect.cli import app

    sys.argv[0] = "prefect"
    app()


if __name__ == "__main__":
    main()
