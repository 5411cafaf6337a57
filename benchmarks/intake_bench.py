"""Intake → first gate message, cases/s: our repair procedure vs a bare Prefect flow of the same shape, same stack.

Starts the production topology on this machine (`aftersales.runtime.stack`: Prefect server and the project's
data on the embedded PostgreSQL, the web app, the mail sink, the process pool) and deploys the baseline
`benchmarks/bare_flow.py` (one persisted task sends one plain mail, then `suspend_flow_run`) beside the
procedures. Then, for each worker count in --workers (workers are added, never restarted):

- bare: --n flow runs of the baseline created at once (8 client threads), timed until the sink holds all --n mails;
- ours: --n repair cases opened at once through `POST /api/cases` (8 client threads, as intake systems would),
  timed until every case's first gate message (triage, to customer service, with its link) is in the sink.

Between rounds it waits until every run of the round is suspended, so a round starts on a quiet pool. Prints
cases/s of both and their ratio (goal ≥ 0.9) per worker count.

    flock /tmp/aftersales-stack.lock .venv/bin/python benchmarks/intake_bench.py [--n 30] [--workers 1,3]
"""

from __future__ import annotations

import argparse
import contextvars
import os
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from aftersales.config.settings import PROJECT_ROOT, get_settings  # noqa: E402
from aftersales.runtime import prefect as orchestrator  # noqa: E402
from aftersales.runtime.leftovers import STACK_ID  # noqa: E402
from aftersales.runtime.stack import Stack, StackConfig, free_port  # noqa: E402

KEY = secrets.token_urlsafe(24)
BARE = "bare-intake/bare-intake"


def start(data_dir: Path, sqlite: bool, fork_runs: bool) -> Stack:
    """The stack with one worker, the baseline deployed, and this process configured like its parts."""
    config = StackConfig(data_dir=data_dir, prefect_port=free_port(), web_port=free_port(), smtp_port=free_port(),
                         postgres_data=not sqlite, workers=1, fork_runs=fork_runs,
                         extra_env={"AFTERSALES_INTAKE_API_KEYS": f"hotline:{KEY}",
                                    "AFTERSALES_INTAKE_RATE_PER_MINUTE": "100000"})
    stack = Stack(config, progress=lambda message: print(f"  · {message}", flush=True))
    stack.start()
    prefect = Path(sys.executable).parent / "prefect"
    subprocess.run([str(prefect), "--no-prompt", "deploy", "--all", "--prefect-file",
                    str(PROJECT_ROOT / "benchmarks" / "bare.prefect.yaml")],
                   env={**stack.env(), "AFTERSALES_BENCH_PYTHON": sys.executable}, cwd=PROJECT_ROOT, check=True,
                   capture_output=True, timeout=300)
    for key, value in stack.env().items():
        if key.startswith(("AFTERSALES_", "PREFECT_")) and key != STACK_ID:
            os.environ[key] = value
    get_settings.cache_clear()
    return stack


def mailbox(after: int) -> list[tuple[int, str, str]]:
    """(id, subject, text) of the sink's messages after an id."""
    from sqlalchemy import text

    from aftersales.runtime.db import get_engine

    with get_engine().connect() as conn:
        return [tuple(row) for row in conn.execute(  # type: ignore[misc]
            text("SELECT id, subject, text FROM mailbox WHERE id > :after ORDER BY id"), {"after": after})]


def last_mail_id() -> int:
    rows = mailbox(0)
    return rows[-1][0] if rows else 0


def wait_until(arrived: set[str], expected: set[str], after: int, match, timeout: float = 900) -> float:  # type: ignore[no-untyped-def]
    """Poll the sink (every 0.2 s) until every expected name matched a message; the monotonic time it did."""
    end = time.monotonic() + timeout
    seen = after
    while not expected <= arrived:
        if time.monotonic() > end:
            raise SystemExit(f"only {len(arrived & expected)} of {len(expected)} first messages within {timeout} s")
        for mail_id, subject, body in mailbox(seen):
            seen = mail_id
            arrived.update(name for name in expected if match(name, subject, body))
        time.sleep(0.2)
    return time.monotonic()


def settle(run_ids: list[str], timeout: float = 600) -> None:
    """Wait until every run of the round is suspended (its process gone), so the next round starts quiet."""
    end = time.monotonic() + timeout
    while len(orchestrator.runs_in_states(run_ids, ["PAUSED"])) < len(run_ids):
        if time.monotonic() > end:
            raise SystemExit("runs of the round never all suspended")
        time.sleep(1)
    time.sleep(3)


def start_bare_run(context: contextvars.Context, name: str) -> str:
    """Create one baseline run, in a copy of the caller's context: Prefect keeps its settings (the stack's API URL)
    in a context variable that a pool thread does not inherit; without it each thread started a temporary server."""
    return context.copy().run(orchestrator.run_deployment_once, BARE, {"number": name}, f"bench-{name}")


def bare_round(tag: str, n: int) -> tuple[float, list[str]]:
    names = {f"{tag}-{i}" for i in range(n)}
    after = last_mail_id()
    began = time.monotonic()
    context = contextvars.copy_context()
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda name: start_bare_run(context, name), sorted(names)))
    done = wait_until(set(), names, after, lambda name, subject, _: subject == f"bare {name}")
    return done - began, runs


def repair_case(web_url: str, i: int) -> tuple[str, str]:
    body = {"procedure": "repair", "customer_name": f"客户{i}", "customer_phone": "13900000000",
            "customer_email": f"bench{i}@example.com", "product_model": "PT-3000", "serial_number": f"SN-B-{i}",
            "purchase_date": (date.today() - timedelta(days=100)).isoformat(), "problem_description": "无法开机",
            "channel": "hotline", "language": "zh"}
    response = httpx.post(f"{web_url}/api/cases", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    response.raise_for_status()
    if not response.json()["flow_started"]:
        raise SystemExit(f"flow not started: {response.text}")
    return str(response.json()["number"]), str(response.json()["flow_run_id"])


def ours_round(web_url: str, first: int, n: int) -> tuple[float, list[str]]:
    after = last_mail_id()
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        opened = list(pool.map(lambda i: repair_case(web_url, i), range(first, first + n)))
    numbers = {number for number, _ in opened}
    done = wait_until(set(), numbers, after, lambda number, subject, body: number in subject and "/gates/" in body)
    return done - began, [run for _, run in opened]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="cases (and bare runs) per round")
    parser.add_argument("--workers", default="1,3", help="worker counts, ascending, comma-separated")
    parser.add_argument("--sqlite", action="store_true", help="the project's data in SQLite, not PostgreSQL")
    parser.add_argument("--no-fork-runs", action="store_true",
                        help="our runs as new interpreters too, not forked from the fork server (the default)")
    args = parser.parse_args()
    counts = [int(part) for part in args.workers.split(",")]
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        started = time.monotonic()
        stack = start(Path(tmp), args.sqlite, fork_runs=not args.no_fork_runs)
        print(f"  stack up in {time.monotonic() - started:.0f} s ({'SQLite' if args.sqlite else 'PostgreSQL'}; our "
              f"runs {'forked by the fork server' if stack.config.fork_runs else 'new interpreters'}, bare runs new "
              "interpreters)")
        from prefect.settings import PREFECT_API_URL, temporary_settings

        results = []
        try:
            with temporary_settings(updates={PREFECT_API_URL: stack.config.prefect_api}):
                # Warm-up: the first runs read every module from disk; neither side should pay for that.
                _, warm = bare_round("warm", 2)
                _, warm2 = ours_round(stack.config.web_url, 10_000, 2)
                settle(warm + warm2)
                workers, first = 1, 0
                for count in counts:
                    while workers < count:
                        workers += 1
                        stack.start_worker(workers)
                    time.sleep(5 if count > 1 else 0)  # the new workers have polled the pool
                    bare_s, bare_runs = bare_round(f"w{count}", args.n)
                    settle(bare_runs)
                    ours_s, ours_runs = ours_round(stack.config.web_url, first, args.n)
                    first += args.n
                    settle(ours_runs)
                    results.append((count, bare_s, ours_s))
                    print(f"  {count} worker(s): bare {args.n} in {bare_s:.1f} s, ours {args.n} in {ours_s:.1f} s",
                          flush=True)
        finally:
            stack.stop()
    print(f"load average at end: {os.getloadavg()}")
    print(f"\nintake → first gate message, {args.n} cases at once per round")
    print(f"{'workers':>7} | {'bare cases/s':>12} | {'ours cases/s':>12} | {'ratio':>5}")
    for count, bare_s, ours_s in results:
        bare_rate, ours_rate = args.n / bare_s, args.n / ours_s
        print(f"{count:>7} | {bare_rate:>12.2f} | {ours_rate:>12.2f} | {ours_rate / bare_rate:>5.2f}")


if __name__ == "__main__":
    main()
