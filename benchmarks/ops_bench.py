"""Server time of the operations pages with many open cases (aftersales.web.ops), on SQLite.

Builds a fresh SQLite database in a temporary directory (migrated to head, indexes included) and bulk-inserts,
without flows: N open cases (default 10,000) over the four procedures, each waiting on one step of its procedure
(role from policy.yaml, a third named to one holder), deadlines spread so that ~15 % are late (half of them a
rung up, with an escalation row), ~15 % due soon, the rest on time; plus --history closed cases whose steps were
answered (half on time) over the last 60 days for the on-time rates, --failed failed messages, and a history of
40 lines on the case whose page is measured.

Each page is then requested --repeat times through the real app in this process (FastAPI's TestClient: the
ASGI app, routing, the database and rendering, without a socket), after two warm-up requests, and p50/p95 in
ms are printed per page (wall time, and the CPU time the process spent, which a busy machine does not inflate),
with the trivial /healthz measured in the same run as the baseline.

    .venv/bin/python benchmarks/ops_bench.py [--n 10000] [--history 20000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK = 5000
PROCEDURES = {"repair": ("repair", "RP"), "complaint": ("complaint", "CP"), "return": ("returns", "RT"),
              "exchange": ("returns", "EX")}


def configure(data_dir: Path) -> None:
    """Point the settings at the temporary database, with copies of the shipped staff and policy files."""
    os.environ["AFTERSALES_DATA_DIR"] = str(data_dir)
    os.environ["AFTERSALES_DATABASE_URL"] = f"sqlite:///{data_dir / 'aftersales.db'}"
    os.environ["AFTERSALES_TRUSTED_HOSTS"] = "testserver"  # the Host the TestClient sends
    from aftersales.config.settings import PROJECT_ROOT, get_settings

    for name, file in (("AFTERSALES_STAFF_FILE", "staff.yaml"), ("AFTERSALES_POLICY_FILE", "policy.yaml")):
        shutil.copyfile(PROJECT_ROOT / file, data_dir / file)
        os.environ[name] = str(data_dir / file)
    get_settings.cache_clear()


def populate(n: int, history: int, failed: int, now: datetime, seed: int) -> dict[str, Any]:
    """Bulk-insert the open cases with their waiting steps, the answered history and the failures."""
    from sqlalchemy import insert, select

    from aftersales.config.policy import get_policy
    from aftersales.config.staff import get_staff
    from aftersales.runtime.db import create_schema, session_scope
    from models import Case, CaseEvent, Escalation, Gate, Notification

    create_schema()
    rng = random.Random(seed)
    policy = get_policy()
    staff = get_staff()
    kinds = {name: [k for k in policy.gates if k.split(".")[0] == section and policy.gates[k].role != "customer"]
             for name, (section, _) in PROCEDURES.items()}
    base = {"customer_phone": "13800000000", "customer_email": "c@example.com", "product_model": "AS-200",
            "problem_description": "无法开机 / will not start", "channel": "hotline", "language": "zh", "urgent": False,
            "data": {}}
    counts = {"late": 0, "due_soon": 0, "escalated": 0}

    def add_cases(first: int, count: int, closed: bool) -> None:
        names = list(PROCEDURES)
        with session_scope() as session:
            rows = []
            for i in range(first, first + count):
                procedure = names[i % len(names)]
                opened = now - timedelta(days=rng.uniform(0, 60) if closed else rng.uniform(0, 20))
                rows.append({**base, "number": f"{PROCEDURES[procedure][1]}-BENCH-{i:07d}", "procedure": procedure,
                             "status": "closed" if closed else "open", "customer_name": f"客户{i}",
                             "opened_at": opened, "closed_at": now if closed else None})
            session.execute(insert(Case), rows)
            ids = session.execute(select(Case.id, Case.procedure, Case.opened_at)  # type: ignore[call-overload]
                                  .where(Case.number.in_([r["number"] for r in rows]))).all()  # type: ignore[union-attr]
            gates, escalations = [], []
            for case_id, procedure, opened in ids:
                kind = rng.choice(kinds[procedure])
                role = policy.gates[kind].role
                holders = [p.id for p in staff.people if role in p.roles]
                person = rng.choice(holders) if holders and rng.random() < 0.33 else None
                bucket = rng.random()
                if closed:  # answered: half on time, half late, over the last 60 days
                    deadline = now - timedelta(days=rng.uniform(1, 60))
                    answered = deadline + timedelta(hours=rng.uniform(-20, 20))
                    status, rung = "answered", 0
                else:
                    answered = None
                    status = "waiting"
                    if bucket < 0.15:
                        deadline, rung = now - timedelta(hours=rng.uniform(1, 72)), int(rng.random() < 0.5)
                        counts["late"] += 1
                        counts["escalated"] += rung
                    elif bucket < 0.30:
                        deadline, rung = now + timedelta(minutes=rng.uniform(5, 120)), 0
                        counts["due_soon"] += 1
                    else:
                        deadline, rung = now + timedelta(days=rng.uniform(1, 10)), 0
                gates.append({"case_id": case_id, "key": kind.split(".")[1], "kind": kind, "input_model": "TriageInput",
                              "assignee_role": role, "assignee_person": person, "customer_gate": False, "rung": rung,
                              "status": status, "opened_at": min(opened, deadline - timedelta(hours=2)),
                              "deadline_at": deadline, "due_at": None if closed else deadline,
                              "reminded_rung": -1, "answered_at": answered, "context": {"summary": []}})
            session.execute(insert(Gate), gates)
            if not closed:
                late_rung = session.execute(select(Gate.id, Gate.case_id, Gate.assignee_role)  # type: ignore[call-overload]
                                            .where(Gate.case_id.in_([c for c, _, _ in ids]), Gate.rung > 0)).all()  # type: ignore[attr-defined]
                escalations = [{"gate_id": g, "case_id": c, "at": now - timedelta(hours=rng.uniform(0, 24 * 10)),
                                "from_role": r, "to_role": "after_sales_supervisor", "rung": 1,
                                "reason": "deadline passed", "told": "chen.jing"} for g, c, r in late_rung]
                if escalations:
                    session.execute(insert(Escalation), escalations)

    for first in range(0, n, CHUNK):
        add_cases(first, min(CHUNK, n - first), closed=False)
    for first in range(0, history, CHUNK):
        add_cases(n + first, min(CHUNK, history - first), closed=True)
    with session_scope() as session:
        if failed:
            session.execute(insert(Notification), [
                {"key": f"bench:failed:{j}", "case_id": 1 + j % max(n, 1), "template": "gate_request",
                 "recipient": "li.na", "channel": "mailto", "destination": "mailto://127.0.0.1/", "subject": "x",
                 "body": "x" * 400, "html": "", "sealed_url": "", "status": "failed", "attempts": 3,
                 "last_error": "Connection refused", "created_at": now - timedelta(hours=j % 48)}
                for j in range(failed)])
        session.execute(insert(CaseEvent), [
            {"case_id": 1, "key": f"bench:{j}", "kind": "notice", "actor": "system", "summary": f"line {j}",
             "data": {}, "at": now - timedelta(minutes=40 - j)} for j in range(40)])
        shown: Any = session.execute(select(Case.number, Gate.id)  # type: ignore[call-overload]
                                     .join(Gate, Gate.case_id == Case.id).where(Case.id == 1)).first()
    return {**counts, "number": shown[0], "gate_id": shown[1]}


def measure(client: Any, path: str, repeat: int) -> tuple[float, float, float, int]:
    """p50 and p95 wall ms of `repeat` GETs (after two warm-ups), the p50 CPU ms of this process, and the status.

    The CPU figure is what the request cost the server (the client thread only waits), whatever else the machine
    runs at the same time; the wall figures include waiting for a CPU on a busy machine."""
    for _ in range(2):
        status = client.get(path).status_code
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        status = response.status_code
    times.sort()
    return (statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
            statistics.median(cpu), status)


def sign_in_as_operations(client: Any) -> None:
    """Sign the client in as the supervisor through the sign-in form, as a person would."""
    import secrets

    from aftersales.access.passwords import set_password

    password = secrets.token_urlsafe(12)
    set_password("chen.jing", password)
    response = client.post("/signin", data={"staff_id": "chen.jing", "password": password, "next": "/ops"},
                           follow_redirects=False)
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed ({response.status_code}): {response.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="open cases, each waiting on one step")
    parser.add_argument("--history", type=int, default=20_000, help="closed cases with an answered step")
    parser.add_argument("--failed", type=int, default=200, help="messages that failed for good")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ops-bench-"))
    try:
        configure(tmp)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        seeded = populate(args.n, args.history, args.failed, now, args.seed)
        print(f"seeded {args.n} open cases ({seeded['late']} late, {seeded['due_soon']} due soon, "
              f"{seeded['escalated']} escalated), {args.history} closed, {args.failed} failed messages "
              f"in {time.perf_counter() - t0:.1f} s; SQLite at {tmp}")
        from fastapi.testclient import TestClient

        from aftersales.web.app import create_app

        number, gate_id = seeded["number"], seeded["gate_id"]
        pages = [
            ("baseline /healthz", "/healthz"),
            ("/ops", "/ops"),
            ("/ops?late=1", "/ops?late=1"),
            ("/ops?person=li.na", "/ops?person=li.na"),
            ("/ops?procedure=repair&escalated=1", "/ops?procedure=repair&escalated=1"),
            ("/ops?since..until (7 days)", f"/ops?since={(now - timedelta(days=7)).date()}&until={now.date()}"),
            ("/ops?offset=5000 (page 51)", "/ops?offset=5000"),
            ("/ops/on-time (30 days)", "/ops/on-time"),
            ("/ops/on-time.csv (60 days)", f"/ops/on-time.csv?from={(now - timedelta(days=60)).date()}"),
            ("/cases/{number}", f"/cases/{number}"),
            ("/cases/{number}/gates/{id}/act", f"/cases/{number}/gates/{gate_id}/act"),
        ]
        print(f"{'page':<38} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8}   "
              f"(TestClient, {args.repeat} requests each; load average {os.getloadavg()[0]:.1f})")
        with TestClient(create_app()) as client:
            sign_in_as_operations(client)  # the pages are for operations staff (policy.yaml access.operations)
            for name, path in pages:
                p50, p95, cpu, status = measure(client, path, args.repeat)
                print(f"{name:<38} {status:>6} {p50:>8.1f} {p95:>8.1f} {cpu:>8.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
