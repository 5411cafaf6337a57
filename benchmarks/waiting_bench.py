"""10,000 waiting cases on the embedded stack: processes held, RSS, the sweep and the operations page, with bare-
Prefect baselines measured in the same run.

Starts the whole product like `aftersales up` (aftersales.runtime.stack.Stack, fork server on) in a temporary
folder, pauses the stack's own minute sweep (the measured sweeps are the only ones), then:

1. **real waits**: opens --real repair cases through the intake API and waits until each flow run has sent its
   first step's mail and suspended; as a baseline, as many bare Prefect flows (benchmarks/bare_flow.py: one mail,
   then suspend) on the same pool;
2. **many waits**: bulk-inserts the other --n cases with their waiting steps (benchmarks/ops_bench.populate, all
   due later, so a sweep has nothing to send) and creates a suspended flow run for each on the Prefect server,
   as a case waiting on its gate has;
3. measures, with --n cases waiting: flow-run processes alive (goal 0: a wait holds no process), RSS of the
   worker, the fork server, the web app and the Prefect server (against the same before step 2), the sweep
   (`aftersales.sla.sweep.sweep` as the deployment calls it, in this process; goal ≤ 1 s) and the sweep deployment
   run on the stack against a bare no-op flow run on the same pool (the floor of any scheduled flow run), and the
   operations page /ops over HTTP against /healthz.

    flock /tmp/aftersales-stack.lock .venv/bin/python benchmarks/waiting_bench.py [--n 10000] [--real 20] [--profile K]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aftersales.config.settings import PROJECT_ROOT  # noqa: E402
from aftersales.runtime.stack import POOL, Stack  # noqa: E402
from benchmarks.click_bench import _interrupt, percentile, start_stack  # noqa: E402
from tests.flows.faults import SWEEP_DEPLOYMENT, flow_run_processes, sweep_paused  # noqa: E402

CREATE_AT_ONCE = 16  # flow runs created concurrently on the server


def rss(stack: Stack) -> dict[str, float]:
    """Resident memory (MiB) of the stack's long-lived processes."""
    figures = {}
    for name in ("worker", "forkserver", "web", "prefect-server"):
        child = stack.children.get(name)
        if child is not None:
            process = psutil.Process(child.pid)
            family = [process, *process.children(recursive=True)] if name == "prefect-server" else [process]
            figures[name] = sum(p.memory_info().rss for p in family if p.is_running()) / 2**20
    return figures


def open_real_cases(stack: Stack, count: int) -> tuple[list[str], float]:
    """Open `count` repair cases through the API and wait until every run has suspended on its first step."""
    import httpx

    from aftersales.runtime.prefect import flow_run_state
    from tests.signin import bearer, session_cookie

    web = stack.config.web_url
    body = {"procedure": "repair", "customer_name": "测试客户", "customer_phone": "13900000000",
            "customer_email": "customer@example.com", "product_model": "PT-3000",
            "purchase_date": (date.today() - timedelta(days=100)).isoformat(),
            "problem_description": "无法开机", "channel": "hotline", "language": "zh"}
    started = time.perf_counter()
    numbers = []
    for index in range(count):
        created = httpx.post(f"{web}/api/cases", json={**body, "serial_number": f"SN-W-{index}"}, headers=bearer(),
                             timeout=60)
        created.raise_for_status()
        numbers.append(created.json()["number"])
    api = httpx.Client(timeout=60, cookies=session_cookie())
    waiting = set(numbers)
    end = time.monotonic() + 60 + 15 * count
    while waiting and time.monotonic() < end:
        for number in list(waiting):
            run = api.get(f"{web}/api/cases/{number}").json().get("flow_run_id")
            if run and flow_run_state(run)[0] == "PAUSED":
                waiting.discard(number)
        time.sleep(0.5)
    if waiting:
        raise SystemExit(f"{len(waiting)} real cases never suspended: {sorted(waiting)[:5]}")
    return numbers, time.perf_counter() - started


def open_bare_waits(count: int) -> float:
    """As many bare flows (one mail, then suspend) on the same pool; seconds until all suspended."""
    from prefect.deployments import run_deployment
    from prefect.flows import Flow

    from aftersales.runtime.prefect import flow_run_state

    bare = Flow.from_source(source=str(PROJECT_ROOT), entrypoint="benchmarks/bare_flow.py:bare_intake")
    bare.deploy(name="bare-waits", work_pool_name=POOL, print_next_steps=False,  # type: ignore[union-attr]
                ignore_warnings=True)
    started = time.perf_counter()
    runs = [str(run_deployment("bare-intake/bare-waits", parameters={"number": f"W{i}"}, timeout=0).id)
            for i in range(count)]
    end = time.monotonic() + 60 + 15 * count
    while runs and time.monotonic() < end:
        runs = [run for run in runs if flow_run_state(run)[0] != "PAUSED"]
        time.sleep(0.5)
    if runs:
        raise SystemExit(f"{len(runs)} bare flows never suspended")
    return time.perf_counter() - started


def many_waiting_cases(count: int) -> float:
    """Insert `count` cases waiting on a step (none due yet) and a suspended run on the server for each."""
    from sqlalchemy import text, update
    from sqlmodel import col

    from aftersales.runtime.db import session_scope
    from benchmarks.ops_bench import populate
    from models import Gate

    started = time.perf_counter()
    now = datetime.now(UTC)
    with session_scope() as session:
        first = int(session.execute(text("SELECT coalesce(max(id), 0) FROM cases")).scalar_one()) + 1
    populate(count, 0, 0, now, seed=11)
    later, opened = now + timedelta(days=3), now - timedelta(hours=1)
    with session_scope() as session:  # opened an hour ago, due later: the sweeps measure the steady cost of waiting
        session.execute(update(Gate).where(col(Gate.case_id) >= first, col(Gate.status) == "waiting")
                        .values(opened_at=opened, deadline_at=later, due_at=later - timedelta(hours=1), rung=0))
        session.execute(text("UPDATE cases SET opened_at = :opened WHERE id >= :first"),
                        {"opened": opened, "first": first})
        cases = session.execute(text("SELECT id FROM cases WHERE id >= :first ORDER BY id"), {"first": first})
        case_ids = [int(row[0]) for row in cases]
    run_ids = asyncio.run(_suspended_runs(case_ids))
    with session_scope() as session:
        session.execute(text("UPDATE cases SET flow_run_id = :run WHERE id = :id"),
                        [{"run": run, "id": case_id} for case_id, run in zip(case_ids, run_ids, strict=True)])
        session.execute(text("UPDATE gates SET flow_run_id = :run WHERE case_id = :id"),
                        [{"run": run, "id": case_id} for case_id, run in zip(case_ids, run_ids, strict=True)])
    return time.perf_counter() - started


async def _suspended_runs(case_ids: list[int]) -> list[str]:
    """A suspended run of the repair deployment per case, as a case waiting on its gate has on the server."""
    from prefect import get_client
    from prefect.states import Suspended

    gate = asyncio.Semaphore(CREATE_AT_ONCE)
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("repair/repair")

        async def one(case_id: int) -> str:
            async with gate:
                run = await client.create_flow_run_from_deployment(
                    deployment.id, parameters={"ref": {"case_number": f"BENCH-{case_id}"}},
                    state=Suspended(pause_key=f"gate:bench-{case_id}"), tags=["aftersales", "waiting-bench"])
                return str(run.id)

        ids = []
        for start in range(0, len(case_ids), 1000):
            ids += await asyncio.gather(*(one(i) for i in case_ids[start:start + 1000]))
            print(f"    {len(ids)} suspended runs created", flush=True)
        return ids


def time_sweeps(repeat: int, profile: int = 0) -> list[float]:
    """Seconds of `sweep()` with the deployment's defaults (resend and resume on), in this process; with
    `profile`, each sweep's cProfile is printed too (its `profile` slowest calls, cumulative)."""
    from aftersales.sla.sweep import sweep

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            report = profiler.runcall(sweep)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
        else:
            report = sweep()
        times.append(time.perf_counter() - started)
        if report.errors:
            print(f"    sweep errors: {report.errors[:3]}", flush=True)
    return times


def flow_run_seconds(deployment: str, parameters: dict[str, Any] | None = None) -> tuple[float, float]:
    """Run a deployment on the stack's pool: seconds from creation to Completed, and its Running time."""
    from prefect.deployments import run_deployment

    started = time.perf_counter()
    run: Any = run_deployment(deployment, parameters=parameters or {}, timeout=300, poll_interval=0.2)
    if run.state is None or not run.state.is_completed():
        raise SystemExit(f"{deployment} ended {run.state}")
    return time.perf_counter() - started, float(run.total_run_time.total_seconds())


def deploy_noop() -> str:
    """The bare baseline of a scheduled flow run: a flow that does nothing, on the same pool and command."""
    from prefect.flows import Flow

    noop = Flow.from_source(source=str(PROJECT_ROOT), entrypoint="benchmarks/bare_flow.py:bare_noop")
    noop.deploy(name="noop", work_pool_name=POOL, print_next_steps=False,  # type: ignore[union-attr]
                ignore_warnings=True)
    return "bare-noop/noop"


def page_times(stack: Stack, path: str, repeat: int) -> tuple[float, float]:
    """p50 and p95 ms of GET `path` over HTTP, signed in as operations (after two warm-ups)."""
    import httpx

    from tests.signin import session_cookie

    with httpx.Client(base_url=stack.config.web_url, cookies=session_cookie(), timeout=60) as client:
        for _ in range(2):
            client.get(path).raise_for_status()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(path).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), percentile(times, 0.95)


def held(stack: Stack, settle: float = 30) -> tuple[int, float]:
    """Flow-run processes alive once the runs have had `settle` s to end after suspending (a wait must hold
    none), and how long they took to be gone (a suspended run's process ends within seconds: Prefect ships its
    last logs and events and stops its heartbeat thread first)."""
    started = time.monotonic()
    while (alive := len(flow_run_processes(stack))) and time.monotonic() - started < settle:
        time.sleep(0.5)
    return alive, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="cases waiting in all (10,000)")
    parser.add_argument("--real", type=int, default=20, help="of them, cases opened and suspended by their flow (20)")
    parser.add_argument("--repeat", type=int, default=5, help="sweeps and flow runs timed (5)")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="print each timed sweep's cProfile, its K slowest calls (0: none)")
    args = parser.parse_args()
    if not 1 <= args.real <= args.n:
        parser.error("--real must be between 1 and --n")
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="waiting-bench-") as tmp:
        print("starting the embedded stack …", flush=True)
        stack = start_stack(Path(tmp), fork_runs=True)
        try:
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings(updates={PREFECT_API_URL: stack.config.prefect_api}), sweep_paused():
                print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
                before = rss(stack)
                _, real_s = open_real_cases(stack, args.real)
                bare_s = open_bare_waits(args.real)
                alive, gone = held(stack)
                print(f"{args.real} real cases suspended on their first step in {real_s:.1f} s "
                      f"(bare flows: {bare_s:.1f} s); flow-run processes {alive} after {gone:.1f} s", flush=True)
                print(f"creating {args.n - args.real} more waiting cases with suspended runs …", flush=True)
                bulk_s = many_waiting_cases(args.n - args.real)
                print(f"  done in {bulk_s:.0f} s", flush=True)
                processes, _ = held(stack)
                after = rss(stack)
                sweeps = time_sweeps(args.repeat, args.profile)
                noop = deploy_noop()
                ours = [flow_run_seconds(SWEEP_DEPLOYMENT) for _ in range(args.repeat)]
                bare = [flow_run_seconds(noop) for _ in range(args.repeat)]
                ops = page_times(stack, "/ops", 20)
                health = page_times(stack, "/healthz", 20)
                processes = max(processes, held(stack)[0])
        finally:
            stack.stop()
    print(f"\n{args.n} cases waiting ({args.real} suspended by their flow, the rest inserted with suspended runs)")
    print(f"  flow-run processes held: {processes} (goal 0)")
    print("  RSS MiB, 0 → N waiting: " + ", ".join(f"{name} {before.get(name, 0):.0f} → {after[name]:.0f}"
                                                 for name in after))
    print(f"  sweep() in-process, s: median {statistics.median(sweeps):.2f}, max {max(sweeps):.2f} "
          f"(goal ≤ 1 s; runs {', '.join(f'{s:.2f}' for s in sweeps)})")
    ours_total, ours_running = statistics.median(o[0] for o in ours), statistics.median(o[1] for o in ours)
    bare_total, bare_running = statistics.median(b[0] for b in bare), statistics.median(b[1] for b in bare)
    print(f"  sweep deployment run, s (created → completed / running): median {ours_total:.2f} / {ours_running:.2f}; "
          f"bare no-op flow run, same pool: {bare_total:.2f} / {bare_running:.2f}")
    print(f"  /ops over HTTP, ms: p50 {ops[0]:.0f}, p95 {ops[1]:.0f}; baseline /healthz p50 {health[0]:.0f}, "
          f"p95 {health[1]:.0f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}; whole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
