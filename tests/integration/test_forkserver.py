"""The fork server and its client: a run forked with the client's streams, environment and exit code; signals
passed on; the engine run in place when there is no server; only the owner's clients served.

The real server (it imports Prefect's engine and every flow) and the real client, as the worker starts it; the
"flow run" is Prefect's engine given a run id it refuses, or a Prefect API that accepts and never answers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from aftersales.config.settings import PROJECT_ROOT
from aftersales.runtime.forkrun import SOCKET_ENV

CLIENT = [sys.executable, "-m", "aftersales.runtime.forkrun"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A fork server on a socket in a private folder, and its log; stopped however the module ends."""
    with fork_server(tmp_path_factory.mktemp("fork")) as (path, log, _):
        yield path, log


@contextmanager
def fork_server(logs: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    folder = Path(tempfile.mkdtemp(prefix="fork-test-"))  # as the stack's: 0700, every parent traversable
    path, log = str(folder / "runs.sock"), logs / "forkserver.log"
    proc = subprocess.Popen([sys.executable, "-m", "aftersales.runtime.forkserver", path], cwd=PROJECT_ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.monotonic() + 120
        while not _listens(path):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < end, "the fork server did not listen within 120 s"
            time.sleep(0.2)
        yield path, log, proc
    finally:
        killed = proc.poll() is not None
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        removed = not Path(path).exists()
        shutil.rmtree(folder, ignore_errors=True)
    assert removed or killed, "the server removes its socket when it stops"


def _listens(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(path) == 0


def _client_env(socket_path: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT__")}
    env.update({SOCKET_ENV: socket_path, **extra})
    return env


def _forked_pid(log: Path, run_id: str, timeout: float = 30) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = re.search(rf"flow run {re.escape(run_id)} forked as pid (\d+)", log.read_text())
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError(f"the server never forked {run_id}:\n{log.read_text()[-2000:]}")


def test_the_run_is_forked_with_the_clients_streams_folder_environment_and_exit_code(
        server: tuple[str, Path], tmp_path: Path) -> None:
    path, log = server
    done = subprocess.run(CLIENT, env=_client_env(path, PREFECT__FLOW_RUN_ID="not-a-run"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done  # the engine's own exit code for a run id it cannot read
    assert "Invalid flow run id" in done.stdout + done.stderr  # written by the child to the client's streams
    _forked_pid(log, "not-a-run")  # by the server, not by an engine the client started itself


def test_without_a_fork_server_the_client_becomes_the_engine(tmp_path: Path) -> None:
    done = subprocess.run(CLIENT, env=_client_env(str(tmp_path / "nobody.sock"), PREFECT__FLOW_RUN_ID="not-a-run"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Invalid flow run id" in done.stdout + done.stderr, done


@pytest.fixture
def silent_api() -> Iterator[str]:
    """A "Prefect API" that accepts connections and never answers: a run asking it waits."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_a_signal_to_the_client_reaches_the_run_and_the_client_ends_as_the_run_did(
        server: tuple[str, Path], silent_api: str, tmp_path: Path) -> None:
    path, log = server
    run_id = str(uuid.uuid4())
    client = subprocess.Popen(CLIENT, env=_client_env(path, PREFECT__FLOW_RUN_ID=run_id, PREFECT_API_URL=silent_api),
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child = _forked_pid(log, run_id)
        time.sleep(1)
        assert client.poll() is None and psutil.pid_exists(child), "the run waits on the silent API"
        client.send_signal(signal.SIGTERM)  # what the worker sends to cancel or stop a run
        code = client.wait(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
    assert code != 0
    end = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < end, "the run outlived the signal"
        time.sleep(0.1)


def test_a_client_of_another_user_is_refused(server: tuple[str, Path]) -> None:
    path, log = server
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another user")
    # The folder and the socket are the owner's only; opened up here, the server's own check of the peer remains.
    folder, modes = Path(path).parent, (Path(path).parent.stat().st_mode, Path(path).stat().st_mode)
    folder.chmod(0o755)
    Path(path).chmod(0o777)
    try:
        pid = os.fork()
        if pid == 0:  # as nobody: ask for a run, say how the server answered (its own exit code)
            code = 2
            try:
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                    conn.connect(path)
                    try:
                        socket.send_fds(conn, [b'{"env": {"PREFECT__FLOW_RUN_ID": "other-user-run"}, "cwd": "/"}\n'],
                                        [0, 1, 2])
                        code = 0 if conn.recv(100) == b"" else 3
                    except (BrokenPipeError, ConnectionResetError):  # hung up before the request was read
                        code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        folder.chmod(modes[0] & 0o7777)
        Path(path).chmod(modes[1] & 0o7777)
    assert os.waitstatus_to_exitcode(status) == 0, "the server hangs up on another user's client"
    assert "other-user-run forked" not in log.read_text() and "refused a client of uid 65534" in log.read_text()


def test_the_socket_is_the_owners_only(server: tuple[str, Path]) -> None:
    path, _ = server
    assert Path(path).stat().st_mode & 0o077 == 0


def test_when_the_fork_server_dies_first_its_runs_go_on_and_the_client_waits_for_the_end(
        silent_api: str, tmp_path: Path) -> None:
    with fork_server(tmp_path) as (path, log, proc):
        run_id = str(uuid.uuid4())
        client = subprocess.Popen(CLIENT, env=_client_env(path, PREFECT__FLOW_RUN_ID=run_id,
                                                          PREFECT_API_URL=silent_api),
                                  cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            child = _forked_pid(log, run_id)
            proc.kill()  # the server alone (SIGKILL): its run is not in the way of the kill
            proc.wait(timeout=30)
            time.sleep(1)
            assert psutil.pid_exists(child) and client.poll() is None, "the run goes on, its client waits"
            os.kill(child, signal.SIGKILL)  # the run ends
            # Its exit code is lost with the server: 0, never a "crashed" report over a run that may have paused.
            assert client.wait(timeout=30) == 0
        finally:
            if client.poll() is None:
                client.kill()
            if psutil.pid_exists(child):
                os.kill(child, signal.SIGKILL)


def test_a_run_keeps_the_files_the_server_read_but_reads_its_own_settings() -> None:
    # The server reads the policy once for all runs (a cache keyed by the file's path and time of change, so an
    # edit still reaches the next run); the settings come from each run's own environment.
    from aftersales.config.policy import _cached_policy, get_policy
    from aftersales.config.settings import get_settings
    from aftersales.runtime import forkserver

    get_policy()
    get_settings()
    forkserver._fresh_settings()
    assert get_settings.cache_info().currsize == 0
    assert _cached_policy.cache_info().currsize >= 1
