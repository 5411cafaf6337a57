"""Click on a gate link → the next person's message received, on the embedded stack, with a bare-Prefect baseline.

Starts the whole product like `aftersales up` (aftersales.runtime.stack.Stack: embedded PostgreSQL for Prefect,
Prefect server, the `process` pool and its one worker, SQLite, the mail sink, the web app) in a temporary folder,
then measures two things in the same run, on the same server, pool and worker:

- **ours**: one repair case driven from the links in its mails: triage, remote diagnosis, plan, then progress
  reports (`repair.execution`, not done) until --steps answers. A step is timed from the POST of the gate's form
  (a person submitting the page the link opened) to the moment the sink stored the next mail carrying a gate
  link (the next person's message, its `received_at`).
- **bare**: benchmarks/bare_steps.py, deployed to the same pool: one persisted task sends one mail, then the run
  suspends; each step is timed from `resume_flow_run` to the next mail stored.

Before each click the run is left to reach its suspended state (a person never answers within milliseconds).
For each step the flow run's state history and its task runs (read from the API afterwards) split the time:

    answer   click → the run is rescheduled (web app: checks, records the answer, resume via the API)
    pickup   rescheduled → Pending (the worker's polling, PREFECT_WORKER_QUERY_SECONDS)
    start    Pending → Running (new Python process, imports, loading the flow, engine set-up)
    replay   Running → the last cached task of the steps already done (re-running the flow from the top)
    work     → the next mail stored (our new tasks: history, notices, next gate, its mail)

The import cost is measured apart in the same run (a fresh interpreter, median of --import-repeat).
The replay figures (resume time of the 1st vs the 20th step of the case) come from the same steps.

    .venv/bin/python benchmarks/click_bench.py [--steps 50] [--bare-steps 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aftersales.config.settings import PROJECT_ROOT, get_settings  # noqa: E402
from aftersales.runtime.leftovers import STACK_ID  # noqa: E402
from aftersales.runtime.stack import POOL, Stack, StackConfig, free_port  # noqa: E402

LINK = re.compile(r"https?://[^\s\"'<>]+/gates/(\d+)\?t=([A-Za-z0-9_.\-]+)")
FIELDS: dict[str, dict[str, str]] = {
    "repair.triage": {"urgent": "false", "complexity": "general", "man_made_damage": "false", "warranty": "auto",
                      "remote_possible": "true"},
    "repair.remote_diagnosis": {"solved": "false", "diagnosis": "主板故障"},
    "repair.plan": {"mode": "send_in", "plan": "客户寄回维修", "fee": "0"},
    "repair.execution": {"done": "false", "work_done": "更换部件中"},
}
PARTS = ("answer", "pickup", "start", "replay", "work")


@dataclass
class Step:
    """One click and what followed it."""

    index: int
    kind: str
    clicked: float  # epoch seconds
    received: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    cached: int = 0  # cached task runs replayed before the new work

    @property
    def seconds(self) -> float:
        return self.received - self.clicked


def epoch(value: datetime | str) -> float:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Sink:
    """The stack's mailbox table, read as the SMTP sink writes it."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def last_id(self) -> int:
        with sqlite3.connect(self.db, timeout=30) as con:
            return int(con.execute("SELECT coalesce(max(id), 0) FROM mailbox").fetchone()[0])

    def wait(self, after: int, match: Any, timeout: float = 180) -> tuple[int, float, str, str]:
        """The first mail after id `after` for which match(subject, text) holds: id, received (epoch), subject, text."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with sqlite3.connect(self.db, timeout=30) as con:
                rows = con.execute("SELECT id, received_at, subject, text FROM mailbox WHERE id > ? ORDER BY id",
                                   (after,)).fetchall()
            for mail_id, received, subject, text in rows:
                if match(subject, text):
                    return int(mail_id), epoch(received), subject, text
            time.sleep(0.05)
        raise TimeoutError(f"no matching mail after id {after} within {timeout:.0f} s")


def start_stack(data_dir: Path, fork_runs: bool) -> Stack:
    from tests.signin import HOTLINE_KEY

    config = StackConfig(data_dir=data_dir, prefect_port=free_port(), web_port=free_port(), smtp_port=free_port(),
                         fork_runs=fork_runs, extra_env={"AFTERSALES_INTAKE_API_KEYS": f"hotline:{HOTLINE_KEY}"})
    stack = Stack(config, progress=lambda message: print(f"  {message}", flush=True))
    stack.start()
    for key, value in stack.env().items():  # this process talks to the stack like its parts do
        if key.startswith(("AFTERSALES_", "PREFECT_")) and key != STACK_ID:
            os.environ[key] = value
    get_settings.cache_clear()
    return stack


def wait_suspended(run_id: str, timeout: float = 120) -> None:
    from aftersales.runtime.prefect import flow_run_state

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if flow_run_state(run_id)[0] == "PAUSED":
            return
        time.sleep(0.05)
    raise TimeoutError(f"run {run_id} never suspended")


# --- ours --------------------------------------------------------------------------------------------------
def run_ours(stack: Stack, steps: int) -> tuple[str, list[Step]]:
    import httpx

    from tests.signin import bearer, session_cookie

    web = stack.config.web_url
    sink = Sink(stack.config.data_dir / "aftersales.db")
    body = {"procedure": "repair", "customer_name": "测试客户", "customer_phone": "13900000000",
            "customer_email": "customer@example.com", "product_model": "PT-3000", "serial_number": "SN-B-1",
            "purchase_date": (date.today() - timedelta(days=100)).isoformat(),
            "problem_description": "无法开机", "channel": "hotline", "language": "zh"}
    created = httpx.post(f"{web}/api/cases", json=body, headers=bearer(), timeout=60)
    created.raise_for_status()
    number = created.json()["number"]
    api = httpx.Client(timeout=60, cookies=session_cookie())
    people = httpx.Client(timeout=60)
    _, _, _, text = sink.wait(0, lambda subject, text: number in subject and LINK.search(text) is not None)
    link = LINK.search(text)
    result: list[Step] = []
    for index in range(1, steps + 1):
        assert link is not None
        gate_id = int(link.group(1))
        case = api.get(f"{web}/api/cases/{number}").json()
        kind = next(g["kind"] for g in case["waiting_gates"] if g["id"] == gate_id)
        wait_suspended(case["flow_run_id"])
        page = people.get(link.group(0))
        assert page.status_code == 200, page.text[:300]
        after = sink.last_id()
        step = Step(index, kind, time.time())
        answered = people.post(f"{web}/gates/{gate_id}", data={"t": link.group(2), **FIELDS[kind]})
        assert answered.status_code == 200, answered.text[:500]

        def next_gate(subject: str, text: str, gate_id: int = gate_id) -> bool:
            found = LINK.search(text)
            return number in subject and found is not None and int(found.group(1)) != gate_id

        _, step.received, _, text = sink.wait(after, next_gate)
        link = LINK.search(text)
        result.append(step)
        print(f"  ours step {index:3d} {kind:24s} {step.seconds:6.2f} s", flush=True)
    return str(api.get(f"{web}/api/cases/{number}").json()["flow_run_id"]), result


# --- bare --------------------------------------------------------------------------------------------------
def run_bare(stack: Stack, steps: int, *, forked: bool = False) -> tuple[str, list[Step]]:
    """The bare flow as Prefect runs it (a new interpreter per resume), or `forked` by our fork server like ours:
    then nothing of the product is in the step, and what is left is the floor of Prefect's own resume path."""
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run
    from prefect.flows import Flow

    sink = Sink(stack.config.data_dir / "aftersales.db")
    bare = Flow.from_source(source=str(PROJECT_ROOT), entrypoint="benchmarks/bare_steps.py:bare_steps")
    name = "bare-forked" if forked else "bare"
    # Prefect's own way whatever the pool's default: a new interpreter per run and per resume, no fork server;
    # forked: the pool's own command (aftersales.runtime.forkrun), as our deployments have it.
    bare.deploy(name=name, work_pool_name=POOL, print_next_steps=False,  # type: ignore[union-attr]
                job_variables={} if forked else {"command": f"{sys.executable} -m prefect.engine"})
    run: Any = run_deployment(f"bare-steps/{name}", parameters={"steps": steps + 1, "port": stack.config.smtp_port},
                              timeout=0)
    run_id = str(run.id)
    sink.wait(0, lambda subject, text: subject == f"bare {run_id} step 0")
    result: list[Step] = []
    for index in range(1, steps + 1):
        wait_suspended(run_id)
        after = sink.last_id()
        step = Step(index, name, time.time())
        resume_flow_run(run.id)
        _, step.received, _, _ = sink.wait(after, lambda subject, text, i=index: subject == f"bare {run_id} step {i}")
        result.append(step)
        print(f"  {name} step {index:3d} {step.seconds:6.2f} s", flush=True)
    return run_id, result


# --- where the time goes ---------------------------------------------------------------------------------
def breakdown(run_id: str, result: list[Step]) -> None:
    """Split each step by the run's state history and its task runs (read from the API after the run)."""
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        states = sorted(client.read_flow_run_states(UUID(run_id)), key=lambda s: s.timestamp)
        tasks: list[Any] = []
        while True:
            page = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])),
                                         sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200, offset=len(tasks))
            tasks += page
            if len(page) < 200:
                break
    moments = [(epoch(s.timestamp), s.type.value) for s in states]
    task_moments = sorted((epoch(t.state.timestamp), t.state.name == "Cached") for t in tasks if t.state)
    for step in result:
        def first(kind: str, after: float) -> float | None:
            return next((at for at, type_ in moments if type_ == kind and at >= after), None)

        scheduled = first("SCHEDULED", step.clicked)
        pending = first("PENDING", scheduled or step.clicked)
        running = first("RUNNING", pending or step.clicked)
        if not (scheduled and pending and running) or running > step.received:
            continue
        window = [(at, cached) for at, cached in task_moments if running <= at <= step.received]
        new = [at for at, cached in window if not cached]
        replayed = [at for at, cached in window if cached and (not new or at <= new[0])]
        replay_end = max(replayed) if replayed else running
        step.cached = len(replayed)
        step.parts = {"answer": scheduled - step.clicked, "pickup": pending - scheduled, "start": running - pending,
                      "replay": replay_end - running, "work": step.received - replay_end}


def import_costs(env: dict[str, str], repeat: int) -> dict[str, float]:
    """Wall seconds of a fresh interpreter: empty, importing Prefect's engine, and also the repair flow."""
    programs = {"python": "pass", "prefect engine": "import prefect.engine",
                "prefect engine + flows.repair": "import prefect.engine, flows.repair"}
    costs = {}
    for name, code in programs.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, check=True)
            times.append(time.perf_counter() - started)
        costs[name] = statistics.median(times)
    return costs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, result: list[Step]) -> dict[str, Any]:
    seconds = [s.seconds for s in result]
    summary: dict[str, Any] = {"steps": len(seconds), "p50": statistics.median(seconds),
                               "p95": percentile(seconds, 0.95), "max": max(seconds)}
    split = [s for s in result if s.parts]
    print(f"\n{name}: {len(seconds)} steps, p50 {summary['p50']:.2f} s, p95 {summary['p95']:.2f} s, "
          f"max {summary['max']:.2f} s")
    if split:
        medians = {part: statistics.median(s.parts[part] for s in split) for part in PARTS}
        summary["parts_p50"] = medians
        print("  where it goes (p50 of each part, s): " + ", ".join(f"{p} {medians[p]:.2f}" for p in PARTS))
    by_index = {s.index: s for s in result}
    if 1 in by_index and 20 in by_index:
        first, twentieth = by_index[1], by_index[20]
        summary["replay"] = {"step1": first.seconds, "step20": twentieth.seconds,
                             "ratio": twentieth.seconds / first.seconds,
                             "cached1": first.cached, "cached20": twentieth.cached,
                             "replay1": first.parts.get("replay"), "replay20": twentieth.parts.get("replay")}
        early = statistics.median(s.seconds for s in result[:5])
        late = statistics.median(s.seconds for s in result[17:22])
        summary["replay"].update(early_p50=early, late_p50=late)
        print(f"  replay: step 1 {first.seconds:.2f} s ({first.cached} cached tasks replayed), step 20 "
              f"{twentieth.seconds:.2f} s ({twentieth.cached} cached); p50 of steps 1-5 {early:.2f} s vs "
              f"18-22 {late:.2f} s: ×{late / early:.2f}")
    if split and 20 in by_index and by_index[20].parts:
        per_task = [s.parts["replay"] / s.cached for s in split if s.cached]
        if per_task:
            print(f"  replay per cached task p50 {statistics.median(per_task) * 1000:.0f} ms")
    return summary


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50, help="answers on our repair case (at most 52)")
    parser.add_argument("--bare-steps", type=int, default=50, help="resumes of the bare flow (0: skip)")
    parser.add_argument("--bare-forked-steps", type=int, default=0,
                        help="resumes of the bare flow forked by the fork server: Prefect's floor (0: skip)")
    parser.add_argument("--import-repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-fork-runs", action="store_true",
                        help="our runs as new interpreters too, not forked from the fork server (the default)")
    args = parser.parse_args()
    if not 1 <= args.steps <= 52:
        parser.error("--steps must be 1-52 (the repair flow takes at most 49 progress reports)")
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)  # `timeout` or kill: stop the stack on the way out
    with tempfile.TemporaryDirectory(prefix="click-bench-") as tmp:
        print("starting the embedded stack …", flush=True)
        stack = start_stack(Path(tmp), fork_runs=not args.no_fork_runs)
        try:
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings(updates={PREFECT_API_URL: stack.config.prefect_api}):
                print(f"load average {os.getloadavg()[0]:.1f}; worker polls every "
                      f"{stack.env()['PREFECT_WORKER_QUERY_SECONDS']} s; our runs "
                      f"{'forked by the fork server' if stack.config.fork_runs else 'new interpreters'}, bare runs "
                      "new interpreters", flush=True)
                imports = import_costs(stack.env(), args.import_repeat)
                print(f"fresh interpreter, wall s (median of {args.import_repeat}): "
                      + ", ".join(f"{name} {cost:.2f}" for name, cost in imports.items()), flush=True)
                figures: dict[str, Any] = {"imports": imports}
                # Each side is summed up as soon as it is measured: a run cut short still tells its figures.
                sides = (("ours", run_ours, args.steps), ("bare", run_bare, args.bare_steps),
                         ("bare_forked", lambda stack, steps: run_bare(stack, steps, forked=True),
                          args.bare_forked_steps))
                titles = {"ours": "ours", "bare": "bare Prefect (same server, pool, worker)",
                          "bare_forked": "bare Prefect forked by the fork server (the floor without the product)"}
                for name, measure, steps in sides:
                    if not steps:
                        continue
                    if name == "bare_forked" and not stack.config.fork_runs:
                        print("--bare-forked-steps needs the fork server (drop --no-fork-runs)", flush=True)
                        continue
                    run_id, result = measure(stack, steps)
                    try:
                        breakdown(run_id, result)
                    except Exception as exc:  # noqa: BLE001 - the timings stand without the split
                        print(f"breakdown of {run_id} failed: {exc!r}", flush=True)
                    figures[name] = report(titles[name], result)
                    figures[f"{name}_steps"] = [[s.index, s.kind, round(s.seconds, 3), s.cached,
                                                 {k: round(v, 3) for k, v in s.parts.items()}] for s in result]
                    if args.json:
                        args.json.write_text(json.dumps(figures, indent=2))
                figures["load_average"] = os.getloadavg()[0]
        finally:
            stack.stop()
    print(f"load average at the end {os.getloadavg()[0]:.1f}; whole run {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
