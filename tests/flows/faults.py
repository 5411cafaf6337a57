"""Faults the flow tests cause on a stack (an SMTP server that hangs, flow-run processes killed), and the stack's
own minute sweep paused; benchmarks/waiting_bench.py uses them too.

A fault meant to hit a run while it executes must find it executing: a resumed run of ours is in its flow code for
a second or two, and a loaded machine moved that second (the kill came while the run was still Pending or already
Paused). A hung mail server holds it there: the run's first mail after the resume waits on a server that accepted
the connection and never answers, for as long as the test keeps it hung (each try waits Apprise's 4 s timeout, and
the stacks of the fault tests try many times).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from aftersales.runtime.leftovers import STACK_ID
from aftersales.runtime.stack import Stack

# Sends tried per message on the fault tests' stacks: with Apprise's 4 s timeout and the growing pause between
# tries, a run sending to the hung server stays in its flow code about a minute, longer than any fault takes.
HUNG_MAIL_ATTEMPTS = 10


class HungMailServer:
    """The stack's SMTP server, stopped; `let_through` lets it run for a moment (a few mails get through)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def let_through(self, seconds: float) -> None:
        os.kill(self.pid, signal.SIGCONT)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.pid, signal.SIGSTOP)


@contextmanager
def mail_server_hung(stack: Stack) -> Iterator[HungMailServer]:
    """The stack's SMTP server stops answering (SIGSTOP: connections are accepted, nothing is read or said) until
    the block ends, however it ends; a mail sent meanwhile waits, then fails and is retried (never lost)."""
    sink = stack.children["mailsink"].pid
    os.kill(sink, signal.SIGSTOP)
    try:
        yield HungMailServer(sink)
    finally:
        try:
            os.kill(sink, signal.SIGCONT)
        except ProcessLookupError:  # the fault killed it (a power cut)
            pass


def kill_flow_runs(stack: Stack) -> int:
    """SIGKILL every flow-run process of the stack; how many.

    A killed worker does not take its runs with it (they outlive the SIGKILL of its process group); a host that
    restarts or runs out of memory kills both, so the fault tests kill the runs as well."""
    victims = []
    for process in flow_run_processes(stack):
        try:
            process.kill()
            victims.append(process)
        except psutil.Error:
            continue
    psutil.wait_procs(victims, timeout=10)
    return len(victims)


def flow_run_processes(stack: Stack) -> list[psutil.Process]:
    """The stack's flow-run processes alive now: `python -m prefect.engine`, or forked by its fork server and the
    `forkrun` client standing for it (other stacks' on the same machine are not counted)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(STACK_ID) == stack.stack_id and _is_flow_run(process):
                found.append(process)
        except psutil.Error:
            continue
    return found


SWEEP_DEPLOYMENT = "escalation-sweep/escalation-sweep"


@contextmanager
def sweep_paused() -> Iterator[None]:
    """The stack's own minute sweep paused until the block ends (on the Prefect API this process is set to).

    Pausing deletes the schedule's waiting runs; a run already Pending or Running is waited out, so no sweep but
    the caller's runs in the block.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(SWEEP_DEPLOYMENT)
        client.pause_deployment(deployment.id)
        try:
            in_flight = FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING])))
            end = time.monotonic() + 180
            while client.read_flow_runs(flow_run_filter=in_flight, limit=1):
                assert time.monotonic() < end, "the stack's sweep run did not end within 180 s"
                time.sleep(1)
            yield
        finally:
            client.resume_deployment(deployment.id)


def _is_flow_run(process: psutil.Process) -> bool:
    command = " ".join(process.cmdline())
    if "prefect.engine" in command or "aftersales.runtime.forkrun" in command:
        return True
    parent = process.parent()  # a run forked by the fork server carries its command line
    return "aftersales.runtime.forkserver" in command and parent is not None and \
        "aftersales.runtime.forkserver" in " ".join(parent.cmdline())
