"""A recall's fan-out at scale: N customers notified through a real SMTP server on loopback, N acknowledgements
recorded from their links over real HTTP; with a baseline of the per-message delivery path in the same run.

Sets up its own world in a temporary directory: a SQLite database with N registered units (one customer each,
spread over four lots), the project's mail sink (`python -m aftersales.messaging.mailsink`, the same aiosmtpd
server `aftersales up` starts) in its own process storing what it receives in a database of its own (an outside
mail server does not write into ours), and the web app under uvicorn, as the stack runs it.

Then, timed:
1. the recall's outbox built from the register (affected units by lot);
2. `aftersales.recall.fanout.send_pending` with the shipped policy (batches of 500 shared by 4 SMTP
   connections, each reused across the batch, at most 400 messages/s): messages/s, CPU s, delivered vs
   expected, anyone received twice;
3. the baseline: the platform's recorded per-message delivery (`messaging.delivery.deliver`, Apprise, a new SMTP
   connection and TLS context per mail) on --baseline messages of the same template;
4. every link read from the delivered mails and POSTed to /recall/ack by --clients concurrent HTTP clients with
   keep-alive: acknowledgements/s, how many recorded, then every link again (nothing may change).
Peak RSS of this process (which sends) and of the web and sink processes.

    .venv/bin/python benchmarks/recall_bench.py [--n 10000] [--baseline 200] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"/recall/ack\?t=([A-Za-z0-9._-]+)")
RECALL = "RC-BENCH-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, what: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on {port} within {seconds} s")


def peak_rss_mib(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a child process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def configure(data_dir: Path, smtp_port: int, web_port: int) -> dict[str, str]:
    env = {
        "AFTERSALES_DATA_DIR": str(data_dir),
        "AFTERSALES_DATABASE_URL": f"sqlite:///{data_dir / 'aftersales.db'}",
        "AFTERSALES_SMTP_HOST": "127.0.0.1",
        "AFTERSALES_SMTP_PORT": str(smtp_port),
        "AFTERSALES_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "AFTERSALES_SECRET_KEY": "bench-" + os.urandom(16).hex(),
    }
    for name, file in (("AFTERSALES_STAFF_FILE", "staff.yaml"), ("AFTERSALES_POLICY_FILE", "policy.yaml")):
        shutil.copyfile(ROOT / file, data_dir / file)
        env[name] = str(data_dir / file)
    os.environ.update(env)
    os.environ.pop("AFTERSALES_CUSTOMER_APPRISE_URL", None)
    from aftersales.config.settings import get_settings

    get_settings.cache_clear()
    return env


def mailbox(sink_db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(sink_db, timeout=30) as conn:
        return list(conn.execute("SELECT rcpt_to, text FROM mailbox"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="customers (one unit each)")
    parser.add_argument("--baseline", type=int, default=200, help="messages sent through deliver() for comparison")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients acknowledging")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="recall-bench-"))
    smtp_port, web_port = free_port(), free_port()
    env = configure(data_dir, smtp_port, web_port)
    children: list[subprocess.Popen[bytes]] = []
    try:
        run(args, data_dir, env, smtp_port, web_port, children)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: Path, env: dict[str, str], smtp_port: int, web_port: int,
        children: list[subprocess.Popen[bytes]]) -> None:
    import httpx

    from aftersales.config.policy import get_policy
    from aftersales.recall.fanout import RecallText, send_pending
    from aftersales.recall.outbox import UnitSelection, build_outbox
    from aftersales.recall.units import UnitRow, write_units
    from aftersales.runtime.db import create_schema

    t0 = time.monotonic()
    create_schema()
    lots = ("L2026-01", "L2026-02", "L2026-03", "L2026-04")
    rows = [UnitRow(serial=f"SN-{i:07d}", batch=lots[i % 4], product_model="PT-3000", customer_ref=f"C{i:07d}",
                    customer_name=f"客户{i}", customer_email=f"c{i}@example.com", language="zh" if i % 3 else "en",
                    sale_date=date(2025, 6, 1)) for i in range(args.n)]
    write_units(rows, source="bench")
    print(f"registered {args.n} units in {time.monotonic() - t0:.1f} s")

    sink_db = data_dir / "sink.db"
    logs = (data_dir / "sink.log").open("wb")
    sink = subprocess.Popen([sys.executable, "-m", "aftersales.messaging.mailsink"], cwd=ROOT, stdout=logs,
                            stderr=subprocess.STDOUT,
                            env={**os.environ, **env, "AFTERSALES_DATABASE_URL": f"sqlite:///{sink_db}",
                                 "PYTHONPATH": str(ROOT)})
    children.append(sink)
    web_log = (data_dir / "web.log").open("wb")
    web = subprocess.Popen([sys.executable, "-m", "uvicorn", "aftersales.web.app:app_factory", "--factory",
                            "--host", "127.0.0.1", "--port", str(web_port), "--log-level", "warning",
                            "--no-access-log"], cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT,
                           env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    children.append(web)
    wait_port(smtp_port, "mail sink", sink)
    wait_port(web_port, "web app", web)

    t = time.monotonic()
    outbox = build_outbox(RECALL, UnitSelection(product_model="PT-3000", batches=list(lots)))
    print(f"outbox: {outbox.units} units, {outbox.customers} customers, built in {time.monotonic() - t:.2f} s")

    fanout = get_policy().recall.fanout
    text = RecallText(recall_number=RECALL, recall_class="I", product_model="PT-3000",
                      hazard="The heating element may overheat.", remedy="free repair or exchange")
    cpu, wall, sink_cpu = time.process_time(), time.monotonic(), cpu_seconds(sink.pid)
    report = send_pending(text)
    wall, cpu, sink_cpu = time.monotonic() - wall, time.process_time() - cpu, cpu_seconds(sink.pid) - sink_cpu
    received = mailbox(sink_db)
    per_address: dict[str, int] = {}
    for rcpt, _text in received:
        per_address[rcpt] = per_address.get(rcpt, 0) + 1
    twice = sum(1 for c in per_address.values() if c > 1)
    print(f"fan-out (batch {fanout.batch_size}, {fanout.connections} SMTP connections reused across it, "
          f"cap {fanout.messages_per_second:g}/s):")
    print(f"  sent {report.sent} in {report.batches} batches, {wall:.1f} s wall, {cpu:.1f} s CPU (sender)")
    print(f"  messages/s: {report.sent / wall:.0f}   CPU ms/message: sender {1000 * cpu / max(report.sent, 1):.2f}, "
          f"SMTP sink {1000 * sink_cpu / max(report.sent, 1):.2f}")
    print(f"  delivered {len(received)} of {outbox.customers} expected, {len(per_address)} distinct, "
          f"{twice} received twice, failed {report.failed}")

    # Baseline: the per-message delivery path of gates and notices, same template, same sink, same run.
    from aftersales.messaging.delivery import deliver
    from aftersales.messaging.transport import smtp_url

    context = {"customer_name": "客户", "recall_number": RECALL, "recall_class": "I", "product_model": "PT-3000",
               "hazard": text.hazard, "remedy": text.remedy, "serials": ["SN-0000000"], "ack_url": "http://x/"}
    cpu, wall = time.process_time(), time.monotonic()
    for i in range(args.baseline):
        deliver(key=f"bench:{i}", case_id=None, template="recall_notice", recipient="customer", language="zh",
                context=context, urls=[smtp_url(f"baseline{i}@example.com")])
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    print(f"baseline deliver() via Apprise, {args.baseline} messages: {args.baseline / wall:.0f} messages/s, "
          f"{1000 * cpu / args.baseline:.1f} CPU ms/message")

    # Acknowledgements from every delivered link, over HTTP.
    tokens = [m.group(1) for _rcpt, body in received if (m := LINK.search(body))]
    base = f"http://127.0.0.1:{web_port}"
    local = threading.local()

    def post(token: str) -> int:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=30)
        return client.post("/recall/ack", data={"t": token}).status_code

    def ack_all() -> tuple[float, dict[int, int]]:
        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(post, tokens))
        statuses: dict[int, int] = {}
        for code in codes:
            statuses[code] = statuses.get(code, 0) + 1
        return time.monotonic() - started, statuses

    web_cpu = cpu_seconds(web.pid)
    elapsed, statuses = ack_all()
    web_cpu = cpu_seconds(web.pid) - web_cpu
    with sqlite3.connect(data_dir / "aftersales.db") as conn:
        recorded = conn.execute("SELECT count(acknowledged_at) FROM recall_notices WHERE recall = ?",
                                (RECALL,)).fetchone()[0]
        first_times = conn.execute("SELECT group_concat(acknowledged_at) FROM recall_notices").fetchone()[0]
    print(f"acknowledgements: {len(tokens)} links POSTed by {args.clients} clients in {elapsed:.1f} s: "
          f"{len(tokens) / elapsed:.0f} acks/s, HTTP {statuses}, recorded {recorded} of {outbox.customers}, "
          f"web CPU ms/ack {1000 * web_cpu / max(len(tokens), 1):.2f}")
    again, statuses = ack_all()
    with sqlite3.connect(data_dir / "aftersales.db") as conn:
        unchanged = conn.execute("SELECT group_concat(acknowledged_at) FROM recall_notices").fetchone()[0]
    print(f"  every link again: {len(tokens) / again:.0f} acks/s, HTTP {statuses}, first times kept: "
          f"{unchanged == first_times}")
    print(f"peak RSS MiB: sender {peak_rss_mib():.0f}, web {peak_rss_mib(web.pid):.0f}, "
          f"sink {peak_rss_mib(sink.pid):.0f}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 vCPU)")
    ok = (len(received) == outbox.customers and twice == 0 and recorded == outbox.customers)
    print("check:", "OK" if ok else "FAILED")


if __name__ == "__main__":
    main()
