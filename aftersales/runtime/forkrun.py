"""The command a worker runs for a flow run: the machine's fork server starts it, else `python -m prefect.engine`.

Prefect's process worker starts a new interpreter per flow run and per resume, and importing Prefect's engine with
our flows costs it ~3.5 CPU seconds before the run does anything (benchmarks/click_bench.py). This client stands in
for that interpreter: it hands its environment, working folder and standard streams to the fork server
(aftersales/runtime/forkserver.py), whose child, forked from a process that has imported everything, runs the flow
run; it passes on the signals the worker sends (cancel, stop) and exits with the child's exit code, so the worker
sees what it would have seen. With no fork server (none configured, or it is down) it becomes the usual engine.

It imports only the standard library: it is itself a new interpreter per run, and must stay a cheap one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

SOCKET_ENV = "AFTERSALES_FORK_SOCKET"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def main() -> None:
    path = os.environ.get(SOCKET_ENV, "")
    conn = _connect(path) if path else None
    if conn is None:  # no fork server here: the interpreter Prefect would have started
        os.execv(sys.executable, [sys.executable, "-m", "prefect.engine", *sys.argv[1:]])
    request = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv[1:]}).encode() + b"\n"
    socket.send_fds(conn, [request], [0, 1, 2])
    reader = conn.makefile("r", encoding="utf-8")
    first = reader.readline().split()
    if first[:1] != ["pid"]:  # the server refused (e.g. it is stopping): run here after all
        conn.close()
        os.execv(sys.executable, [sys.executable, "-m", "prefect.engine", *sys.argv[1:]])
    child = int(first[1])
    for sig in FORWARDED:  # the worker's cancel or shutdown reaches the run, as it would the engine it stands for
        signal.signal(sig, lambda signum, _frame: _send(child, signum))
    last = reader.readline().split()
    if last[:1] == ["exit"]:
        code = int(last[1])
        if code < 0:  # the run died of a signal: so does its stand-in, for the worker to see the same
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        sys.exit(code)
    # The fork server died first: the run, reparented, may still be going; wait it out. Its exit code is lost: 0,
    # because a nonzero one makes the worker report the run Crashed, which would undo a run that had paused on its
    # next step; the run reports its own state, and one that died without doing so stops its heartbeat and is found
    # by the recovery automations.
    while _alive(child):
        time.sleep(0.5)
    sys.exit(0)


def _connect(path: str) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    return conn


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    """Whether the process runs: an ended one that no parent has reaped yet (a zombie) counts as ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


if __name__ == "__main__":
    main()
