"""A fork server for flow runs: one process per worker machine that has imported Prefect's engine and every flow,
and forks a child per flow run (or resume) asked for by `aftersales.runtime.forkrun`.

Why: every flow run and every resume is a new interpreter with Prefect's process worker, and importing Prefect's
engine and our flows cost ~3.5 CPU s of each click on a gate link (benchmarks/click_bench.py "start"); a forked
child starts with all of it in memory. The child is what the engine would have been: the run's environment,
working folder and standard streams (passed over the socket), `python -m prefect.engine` run as __main__, exit
code reported back. The server itself never runs a flow, opens no database connection and starts no thread, so
there is nothing a fork could duplicate or leave locked; it is single-threaded by design.

Only the owner may ask: the socket lives in a folder only the owner can enter, and the peer's uid is checked.
Code changed on disk needs a restart of the fork server (as of the worker): `aftersales up` starts both.

    python -m aftersales.runtime.forkserver SOCKET_PATH
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import select
import signal
import socket
import struct
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import yaml

from aftersales.config.settings import PROJECT_ROOT

log = logging.getLogger("aftersales.forkserver")
REQUEST_LIMIT = 1 << 20  # bytes: an environment and a folder; a client that sends more is refused
REAP_EVERY = 0.05  # seconds between looks for ended children (their exit codes go back to their clients)


def warm_up() -> list[str]:
    """Import what every flow run needs: Prefect's engine and every deployment's flow module (prefect.yaml); then
    do once what each run would do again (see _ready_for_every_run)."""
    import prefect.engine  # noqa: F401 - the point is the import
    import prefect.flow_engine  # noqa: F401
    import prefect.task_engine  # noqa: F401

    modules = []
    deployments = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text()).get("deployments") or []
    for deployment in deployments:
        path = str(deployment["entrypoint"]).split(":", 1)[0]
        module = path.removesuffix(".py").replace("/", ".")
        __import__(module)
        modules.append(module)
    import apprise

    apprise.Apprise.instantiate("mailto://localhost", suppress_exceptions=True)  # loads the plugins, sends nothing
    _ready_for_every_run()
    return modules


# Imported by every run after its fork (py-spy on the children during benchmarks/click_bench.py, ~0.1 s a run):
# the deployment's pull step loads prefect.deployments.steps (and with it prefect.runner), the first task run
# prefect.utilities.visualization, the engine's loop anyio's asyncio backend, the case store the SQLite driver.
RUN_IMPORTS = ("prefect.deployments.steps", "prefect.runner", "prefect.utilities.visualization",
               "anyio._backends._asyncio", "sqlite3", "encodings.unicode_escape")


def _ready_for_every_run() -> None:
    """What each forked run would otherwise do again, ~0.4 s of its start (py-spy): the imports above, Prefect's
    response models that pydantic completes on first use, the project's files (policy, staff, texts; cached by
    path and time of change, so a child still sees an edit), and one verified TLS context for every client."""
    import importlib

    from pydantic import BaseModel

    from aftersales.runtime import tls

    for name in RUN_IMPORTS:
        importlib.import_module(name)
    pending = [BaseModel]
    while pending:  # every model class defined so far, Prefect's and ours
        model = pending.pop()
        pending += model.__subclasses__()
        if not model.__pydantic_complete__:
            try:
                model.model_rebuild()
            except Exception:  # noqa: BLE001 - one that cannot be completed yet is completed in the run, as before
                pass
    tls.preload()
    _observe_suspension_in_the_background()
    try:
        _read_project_files()
    except Exception as exc:  # noqa: BLE001 - a broken file is the run's error to report, with its own message
        log.warning("project files not preloaded: %s", exc)


def _observe_suspension_in_the_background() -> None:
    """Let a run's code start while Prefect's suspension observer connects, instead of after (~0.2 s a run).

    Prefect 3.8 starts, for every deployment run, a thread that watches for someone suspending the run from
    outside (the UI's Suspend), and holds the run until that thread has connected to the event stream and read
    the run once (py-spy: ~0.2 s of each resume, the largest wait of the engine's start). Entered in a thread of
    its own here, it is ready a moment later all the same; the engine stops the run at its next step if a
    suspension was asked in between, as it does for one asked at any time. Left as Prefect has it if Prefect no
    longer has this function (a later version).
    """
    import contextvars
    from contextlib import contextmanager

    import prefect.flow_engine as flow_engine

    original = getattr(flow_engine, "observe_flow_run_suspension", None)
    if original is None or getattr(original, "_in_the_background", False):
        return

    @contextmanager
    def observe_in_the_background(*args: Any, **kwargs: Any) -> Any:
        observing = original(*args, **kwargs)
        starting = threading.Thread(target=contextvars.copy_context().run, args=(observing.__enter__,),
                                    name="suspension observer start", daemon=True)
        starting.start()
        try:
            yield
        finally:
            starting.join(timeout=2)  # Prefect's own bound on the observer's end
            if not starting.is_alive():
                observing.__exit__(None, None, None)

    observe_in_the_background._in_the_background = True  # type: ignore[attr-defined]
    flow_engine.observe_flow_run_suspension = observe_in_the_background  # type: ignore[assignment]


def _read_project_files() -> None:
    """Fill the caches of the project's files keyed by their path (the settings' own cache is cleared again)."""
    from aftersales.config.policy import get_policy
    from aftersales.config.settings import get_settings
    from aftersales.config.staff import get_staff
    from aftersales.messaging.labels import label
    from aftersales.messaging.texts import load_texts
    from models.case import LANGUAGES

    get_policy()
    get_staff()
    for language in LANGUAGES:
        label("procedures", "repair", language)
        load_texts(language)
    get_settings.cache_clear()


def serve(path: str) -> None:
    """Accept requests on the Unix socket at `path` until SIGTERM or SIGINT."""
    modules = warm_up()
    if threading.active_count() != 1:  # a thread would be copied into every child without its lock holders
        raise SystemExit(f"fork server: {threading.active_count()} threads after the imports; refusing to fork")
    from aftersales.runtime.db import engine_for

    if engine_for.cache_info().currsize:  # its pooled connections would be shared by every child
        raise SystemExit("fork server: an import opened a database engine; refusing to fork")
    server_pid = os.getpid()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    Path(path).unlink(missing_ok=True)
    old_umask = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(64)
    clients: dict[int, socket.socket] = {}  # child pid → the client waiting for its exit code
    log.info("fork server on %s: %d flow modules imported (%s)", path, len(modules), ", ".join(modules))
    try:
        while not stopping:
            readable, _, _ = select.select([listener], [], [], REAP_EVERY)
            if readable:
                _accept(listener, clients)
            _reap(clients)
    finally:
        if os.getpid() == server_pid:  # a child unwinding through here must not remove the server's socket
            listener.close()
            Path(path).unlink(missing_ok=True)
            for conn in clients.values():
                conn.close()


def _accept(listener: socket.socket, clients: dict[int, socket.socket]) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]
        if uid != os.getuid():
            log.warning("fork server: refused a client of uid %d", uid)
            conn.close()
            return
        conn.settimeout(10)  # the client sends at once; a silent one must not hold every other run
        request, fds = _read_request(conn)
    except _Probe:  # someone checked that the server listens (the launcher does)
        conn.close()
        return
    except (OSError, ValueError) as exc:
        log.warning("fork server: bad request: %s", exc)
        for fd in fds:
            os.close(fd)
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        _become_the_run(listener, [conn, *clients.values()], request, fds)
    for fd in fds:
        os.close(fd)
    log.info("flow run %s forked as pid %d", request["env"].get("PREFECT__FLOW_RUN_ID", "?"), pid)
    try:
        conn.sendall(f"pid {pid}\n".encode())
    except OSError:
        pass  # the client is gone: the run goes on, as it would have after its worker died
    clients[pid] = conn


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    if not data and not fds:
        raise _Probe()
    while not data.endswith(b"\n"):
        if len(data) > REQUEST_LIMIT:
            raise ValueError("request too large")
        more = conn.recv(65536)
        if not more:
            raise ValueError("request cut short")
        data += more
    if len(fds) != 3:
        raise ValueError(f"{len(fds)} file descriptors instead of 3")
    request = json.loads(data)
    if not isinstance(request.get("env"), dict) or not isinstance(request.get("cwd"), str):
        raise ValueError("request without env and cwd")
    return request, fds


def _reap(clients: dict[int, socket.socket]) -> None:
    while clients:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = clients.pop(pid, None)
        if conn is None:
            continue
        try:
            conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
        except OSError:
            pass
        conn.close()


def _become_the_run(listener: socket.socket, inherited: list[socket.socket], request: dict[str, Any],
                    fds: list[int]) -> None:
    """In the child: take the run's streams, folder and environment, then run `python -m prefect.engine`."""
    code = 1
    try:
        listener.close()
        for conn in inherited:
            conn.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the engine installs its own while the flow runs
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [sys.executable, *[str(a) for a in request.get("argv", [])]]
        _fresh_settings()
        for handler in list(log.handlers):  # the server's lines are not the run's
            log.removeHandler(handler)
        # Running an imported module as __main__ is the point here (its imports are done), not a mistake to warn of.
        warnings.filterwarnings("ignore", message=".*found in sys.modules after import of package",
                                category=RuntimeWarning)
        runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - what the engine's interpreter would print before exiting 1
        import traceback

        traceback.print_exc()
    # Leave as an interpreter does: threads joined and exit handlers run (Prefect ships its last logs and events
    # there), never back into the server's loop.
    raise _ChildExit(code)


class _Probe(Exception):
    """A connection closed without a request."""


class _ChildExit(SystemExit):
    """Raised in a child to end it with the run's exit code (caught nowhere in the server)."""


def _fresh_settings() -> None:
    """Settings read at import in the server are read again from the run's environment.

    A cache without arguments read the server's environment (the settings): it is cleared. One keyed by its
    arguments (a file's path and time of change, a URL, a language) answers the same in any environment: kept.
    """
    import prefect.context

    prefect.context.refresh_global_settings_context()
    for name, module in list(sys.modules.items()):
        if not name.startswith(("aftersales", "models", "tasks", "flows")) or module is None:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name and not _keyed(value):
                clear()


def _keyed(cached: Any) -> bool:
    """True for a cached function that takes arguments (its entries are keyed by them)."""
    import inspect

    try:
        return bool(inspect.signature(cached.__wrapped__).parameters)
    except (AttributeError, TypeError, ValueError):
        return False


def _log_to_stderr() -> logging.Handler:
    """The server's own lines, on its logger only: a child keeps the logging a fresh interpreter would have."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


if __name__ == "__main__":  # `python -m aftersales.runtime.forkserver PATH`: how the launcher starts it
    _log_to_stderr()
    serve(sys.argv[1])
