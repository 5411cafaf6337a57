"""Cost of the escalation sweep (aftersales.sla.sweep.sweep) over many waiting gates, sending real mail.

Builds a fresh SQLite database in a temporary directory, inserts N cases each waiting on one
"repair.triage" gate (deadline and reminder time from policy.yaml: 2 natural hours, reminder at 75 %),
with opening times spread so that at `--now` 10 % of the gates are late (escalated to the after-sales
supervisor), 10 % are due their reminder and the rest need nothing (--late, --remind). Notifications go
through Apprise to a real aiosmtpd mail sink (aftersales.messaging.mailsink.MailSink) on a free loopback port,
which stores every mail it receives, in this same process.

It then times one sweep at `--now` (resend=False, resume=False: no Prefect server is involved), then two
more sweeps at the same instant, which find nothing to do: that figure is what every once-a-minute sweep
costs in the steady state. Options add the two things that make a real database slower than a fresh one:
--execution M waiting "repair.execution" gates (the spare-unit check queries each of them on every sweep)
and --history H old notification rows (the "already sent?" check scans that table); --failed F adds
messages that failed for good and times sweeps with resend=True, as the deployment runs them.

    .venv/bin/python benchmarks/sweep_bench.py [--n 2000]
    .venv/bin/python benchmarks/sweep_bench.py --n 1000 --execution 2000 --history 100000 --failed 200
    .venv/bin/python benchmarks/sweep_bench.py --n 1000 --profile 15 --sort tottime
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Wednesday 2025-06-11 10:00 in Shanghai: a working day, inside working hours, no holiday nearby.
DEFAULT_NOW = "2025-06-11T10:00:00+08:00"
CHUNK = 2000  # cases inserted per transaction


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def configure(data_dir: Path, smtp_port: int) -> None:
    """Point the settings at the temporary database and the sink, before anything reads them."""
    os.environ["AFTERSALES_DATA_DIR"] = str(data_dir)
    os.environ["AFTERSALES_DATABASE_URL"] = f"sqlite:///{data_dir / 'aftersales.db'}"
    os.environ["AFTERSALES_SMTP_HOST"] = "127.0.0.1"
    os.environ["AFTERSALES_SMTP_PORT"] = str(smtp_port)
    os.environ.pop("AFTERSALES_CUSTOMER_APPRISE_URL", None)
    from aftersales.config.settings import PROJECT_ROOT, get_settings

    # Copies of the shipped staff.yaml and policy.yaml: both are re-read when their file changes, and an
    # edit made elsewhere during the run must not change what is measured halfway through.
    for name, file in (("AFTERSALES_STAFF_FILE", "staff.yaml"), ("AFTERSALES_POLICY_FILE", "policy.yaml")):
        copy = data_dir / file
        shutil.copyfile(PROJECT_ROOT / file, copy)
        os.environ[name] = str(copy)

    get_settings.cache_clear()


def populate(n: int, execution: int, history: int, now: datetime, seed: int, late: int = 10,
             remind: int = 10) -> dict[str, int]:
    """Insert the cases and their waiting gates; returns how many of each action due_action expects."""
    from sqlalchemy import insert

    from aftersales.config.policy import get_policy
    from aftersales.rules.escalation import GateClock, due_action
    from aftersales.runtime.db import session_scope
    from aftersales.sla.deadlines import due, gate_due_at, remind_time
    from models import Case, CaseEvent, Gate, Notification

    rng = random.Random(seed)
    policy = get_policy()
    expected = {"escalate": 0, "remind": 0, "nothing": 0, "execution": 0}
    total = n + execution
    for first in range(0, total, CHUNK):  # in chunks, so that inserting does not set the peak RSS
        with session_scope() as session:
            cases: list[tuple[Case, str, datetime]] = []
            for i in range(first, min(first + CHUNK, total)):
                bucket = i * 61 % 100  # 61 is coprime to 100: every block of 100 cases has each bucket once
                if i >= n:  # optional repair.execution gates: the sweep queries each of them, every minute
                    kind, opened = "repair.execution", now - timedelta(hours=13, minutes=rng.uniform(0, 60))
                elif bucket < late:  # late: opened 2 h 1 min .. 3 h ago, the 2-hour deadline has passed
                    kind, opened = "repair.triage", now - timedelta(hours=2, minutes=rng.uniform(1, 60))
                elif bucket < late + remind:  # reminder due: opened 1.55 .. 1.95 h ago (past 75 %, not late)
                    kind, opened = "repair.triage", now - timedelta(hours=rng.uniform(1.55, 1.95))
                else:  # not yet: opened within the last 1.4 h
                    kind, opened = "repair.triage", now - timedelta(hours=rng.uniform(0, 1.4))
                case = Case(
                    number=f"RP-BENCH-{i + 1:06d}", procedure="repair", status="open", opened_at=opened,
                    customer_name=f"客户{i + 1}", customer_phone=f"138{i:08d}", customer_email=f"c{i}@example.com",
                    product_model="AS-200", serial_number=f"SN{i:08d}", problem_description="无法开机 / will not start",
                    channel="hotline", language="zh", data={"reported_at": opened.isoformat()},
                )
                cases.append((case, kind, opened))
            session.add_all([c for c, _, _ in cases])
            session.flush()
            for case, kind, opened in cases:
                assert case.id is not None
                deadline = due(policy, opened, policy.gate_deadline(kind, urgent=False))
                remind_at = remind_time(policy, opened, deadline, urgent=False)
                key = "triage" if kind == "repair.triage" else "execution#1.1"
                gate = Gate(
                    case_id=case.id, key=key, kind=kind,
                    input_model="TriageInput" if kind == "repair.triage" else "ExecutionInput",
                    assignee_role=policy.gate(kind).role, opened_at=opened, deadline_at=deadline,
                    remind_at=remind_at, context={"summary": [{"label": "产品型号", "value": case.product_model}]},
                )
                gate.due_at = gate_due_at(policy, gate)  # as open_gate stores it
                session.add(gate)
                if kind == "repair.execution":
                    # Already offered a spare unit by an earlier sweep: what every later sweep sees.
                    session.add(CaseEvent(case_id=case.id, key="spare_unit", kind="spare_unit",
                                          at=opened + timedelta(hours=12), summary="offer the customer a spare unit"))
                    expected["execution"] += 1
                    continue
                action = due_action(GateClock(opened, deadline, remind_at, 0, -1, len(policy.ladder(kind))), now)
                expected[action or "nothing"] += 1
    # Earlier traffic: notifications already sent for other cases (a database that has been in use).
    for first in range(0, history, 5 * CHUNK):
        with session_scope() as session:
            session.execute(insert(Notification), [
                {"key": f"gate:{10_000_000 + j}:request:0:li.na:0", "case_id": None, "template": "gate_request",
                 "recipient": "li.na", "channel": "mailto", "destination": "mailto://127.0.0.1/", "subject": "旧消息",
                 "body": "x" * 400, "html": "<p>" + "x" * 1200 + "</p>", "sealed_url": "", "status": "sent",
                 "attempts": 1, "created_at": now - timedelta(days=1), "sent_at": now - timedelta(days=1)}
                for j in range(first, min(first + 5 * CHUNK, history))
            ])
    return expected


def add_failed(count: int, now: datetime) -> None:
    """Messages that failed for good (retry cap reached): report_failures() looks at them on every sweep."""
    from sqlalchemy import insert

    from aftersales.messaging.delivery import RETRY_CAP
    from aftersales.runtime.db import session_scope
    from models import Notification

    with session_scope() as session:
        session.execute(insert(Notification), [
            {"key": f"gate:{20_000_000 + j}:request:0:li.na:0", "case_id": None, "template": "gate_request",
             "recipient": "li.na", "channel": "mailto", "destination": "mailto://mail.example.com/", "subject": "失败",
             "body": "x" * 400, "html": "<p>x</p>", "sealed_url": "", "status": "failed", "attempts": RETRY_CAP,
             "last_error": "connection refused", "created_at": now - timedelta(days=1)}
            for j in range(count)
        ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="cases, each waiting on one repair.triage gate (2000)")
    parser.add_argument("--now", default=DEFAULT_NOW, help=f"the sweep's instant, ISO 8601 with offset ({DEFAULT_NOW})")
    parser.add_argument("--execution", type=int, default=0, metavar="M",
                        help="also M repair.execution gates opened 13 h ago, spare unit already offered (0)")
    parser.add_argument("--history", type=int, default=0, metavar="H",
                        help="pre-fill H already-sent notification rows, as in a database in use (0)")
    parser.add_argument("--late", type=int, default=10, metavar="PCT", help="percent of triage gates late (10)")
    parser.add_argument("--remind", type=int, default=10, metavar="PCT",
                        help="percent of triage gates due their reminder (10)")
    parser.add_argument("--failed", type=int, default=0, metavar="F",
                        help="then add F messages failed for good and time sweeps with resend=True (0)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="profile the first, second and resend sweeps; print their K costliest functions (0: off)")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime", "ncalls"],
                        help="order of the --profile listing (cumulative)")
    args = parser.parse_args(argv)
    if min(args.n, args.execution, args.history, args.failed) < 0:
        parser.error("--n, --execution, --history and --failed must not be negative")
    if args.late < 0 or args.remind < 0 or args.late + args.remind > 100:
        parser.error("--late and --remind are percentages that add up to at most 100")
    now = datetime.fromisoformat(args.now)
    if now.tzinfo is None:
        parser.error("--now needs a UTC offset, e.g. 2025-06-11T10:00:00+08:00")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")

    tmp = tempfile.TemporaryDirectory(prefix="aftersales-sweep-bench-")
    data_dir = Path(tmp.name)
    try:
        run(args, now, data_dir)
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            tmp.cleanup()


def run(args: argparse.Namespace, now: datetime, data_dir: Path) -> None:
    port = free_port()
    configure(data_dir, port)

    from sqlalchemy import func
    from sqlmodel import col, select

    from aftersales.messaging.mailsink import MailSink
    from aftersales.runtime.db import create_schema, session_scope
    from aftersales.sla.sweep import SweepReport, sweep
    from models import Escalation, Notification

    create_schema()
    t0 = time.perf_counter()
    expected = populate(args.n, args.execution, args.history, now, args.seed, args.late, args.remind)
    insert_s = time.perf_counter() - t0
    rss_before = peak_rss_mib()

    received = 0
    lock = threading.Lock()

    def count(_message: Any) -> None:
        nonlocal received
        with lock:
            received += 1

    cpu: list[float] = []

    def timed_sweep(label: str = "", profile: int = 0, resend: bool = False) -> tuple[SweepReport, float]:
        """One sweep at `now`: its report and wall seconds; its CPU seconds go to `cpu`."""
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
        c, t = time.process_time(), time.perf_counter()
        if profiler is not None:
            report = profiler.runcall(sweep, now, resend=resend, resume=False)
        else:
            report = sweep(now, resend=resend, resume=False)
        elapsed = time.perf_counter() - t
        cpu.append(time.process_time() - c)
        if profiler is not None:
            import pstats

            print(f"--- profile of the {label} sweep (top {profile} by {args.sort}; profiling slows it) ---")
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(profile)
        return report, elapsed

    with MailSink(host="127.0.0.1", port=port, on_message=count):
        first, first_s = timed_sweep("first", args.profile)
        rss_first = peak_rss_mib()
        second, second_s = timed_sweep("second (steady-state)", args.profile)
        third, third_s = timed_sweep()
        messages = received
        if args.failed:
            add_failed(args.failed, now)
            report_s = timed_sweep(resend=True)[1]
            reports_sent = received - messages
            steady_resend_s = timed_sweep("steady resend=True", args.profile, resend=True)[1]

    with session_scope() as session:
        sent = session.exec(select(func.count()).select_from(Notification)
                            .where(Notification.status == "sent", col(Notification.case_id).is_not(None))).one()
        failed = session.exec(select(func.count()).select_from(Notification)
                              .where(Notification.status != "sent")).one()
        escalations = session.exec(select(func.count()).select_from(Escalation)).one()

    gates = args.n + args.execution
    print(f"sweep benchmark: {args.n} repair.triage gates + {args.execution} repair.execution gates, "
          f"{args.history} old notifications, now={now.isoformat()}")
    print(f"database: SQLite in {data_dir} (inserted in {insert_s:.2f} s); mail sink smtp://127.0.0.1:{port}")
    print(f"expected by due_action: {expected['escalate']} escalate, {expected['remind']} remind, "
          f"{expected['nothing']} nothing")
    print()
    print("first sweep (does the work)")
    print(f"  gates scanned          {gates}")
    print(f"  reminders              {len(first.reminded)}")
    print(f"  escalations            {len(first.escalated)}  (Escalation rows: {escalations})")
    print(f"  spare-unit gates       {len(first.spare_unit_gates)}")
    print(f"  errors                 {len(first.errors)}")
    print(f"  messages received      {messages}  (notification rows sent: {sent}, not sent: {failed})")
    print(f"  seconds                {first_s:.3f}" + ("  (under the profiler)" if args.profile else ""))
    print(f"  CPU seconds            {cpu[0]:.3f}  (this process: sweep and the sink's threads)")
    print(f"  gates/second           {gates / first_s:,.0f}")
    print(f"  messages/second        {messages / first_s:,.1f}")
    acted = len(first.reminded) + len(first.escalated) + len(first.spare_unit_gates)
    if acted:
        print(f"  CPU ms per acted gate  {cpu[0] / acted * 1000:.1f}")
        print(f"  wall ms per acted gate {first_s / acted * 1000:.1f}")
    print()
    print("second and third sweep at the same instant (nothing to do: the steady state, run every minute)")
    print(f"  reminders/escalations  {len(second.reminded) + len(third.reminded)}"
          f"/{len(second.escalated) + len(third.escalated)}")
    note = "  (second under the profiler)" if args.profile else ""
    print(f"  seconds                {second_s:.3f}, {third_s:.3f}{note}")
    print(f"  CPU seconds            {cpu[1]:.3f}, {cpu[2]:.3f}")
    steady = third_s if args.profile else min(second_s, third_s)
    print(f"  µs per waiting gate    {steady / max(gates, 1) * 1e6:.1f}")
    if steady > 0:
        print(f"  gates per 60 s sweep   {60 / steady * gates:,.0f}  (if the sweep had the whole minute to itself)")
    print()
    wanted = expected["escalate"] + expected["remind"]
    done = len(first.reminded) + len(first.escalated)
    quiet = not (second.reminded or second.escalated or third.reminded or third.escalated)
    ok = done == wanted and messages == sent == wanted and not first.errors and quiet
    print(f"check: {'OK' if ok else 'MISMATCH'} ({done} acted on, {wanted} expected; one message each)")
    if args.failed:
        print()
        print(f"with {args.failed} messages failed for good in the table, sweeps with resend=True (as deployed)")
        print(f"  first: {report_s:.3f} s, {cpu[3]:.3f} CPU s, sent {reports_sent} failure reports to operations")
        print(f"  later (nothing new): {steady_resend_s:.3f} s, {cpu[4]:.3f} CPU s, "
              f"{(steady_resend_s - steady) / args.failed * 1000:.2f} ms more per failed message, every minute")
    print(f"peak RSS: {rss_before:.0f} MiB after inserting, {rss_first:.0f} MiB after the first sweep, "
          f"{peak_rss_mib():.0f} MiB at the end")


if __name__ == "__main__":
    main()
