"""No case is stranded: flow runs killed with their worker, or with the whole stack, are found and run again;
cases running and waiting outlive a restart of the Prefect server.

These tests start a stack of their own (they kill it; after the power cut the real `aftersales up` starts it
again); recovery is by the stack's own means: heartbeats, the automations it creates, the sweep deployment. Each
case must reach its next step with nobody asked twice and no message sent twice. Each fault lands while a resumed
run executes: its SMTP server hangs meanwhile, which keeps the run in its flow code, sending (tests/flows/faults.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import psutil
import pytest

from aftersales.config.settings import PROJECT_ROOT
from aftersales.runtime.leftovers import STACK_ID, read_record, write_record
from aftersales.runtime.stack import Stack, StackConfig, free_port
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.flows.faults import HUNG_MAIL_ATTEMPTS, kill_flow_runs, mail_server_hung
from tests.flows.test_repair_flow import TRIAGE, assert_no_message_twice
from tests.signin import HOTLINE_KEY

pytestmark = pytest.mark.stack
CASES = 3
RECOVERED_WITHIN = 300  # seconds: five minutes on the embedded stack, as the issue asks


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Stack]]:
    """A stack of this module's own (the power cut kills it; `aftersales up` starts it again on the same folder)."""
    config = StackConfig(data_dir=tmp_path_factory.mktemp("recovery"), prefect_port=free_port(),
                         web_port=free_port(), smtp_port=free_port(), heartbeat_seconds=30, pending_seconds=120,
                         extra_env={"AFTERSALES_INTAKE_API_KEYS": f"hotline:{HOTLINE_KEY}",  # cases come by key
                                    "AFTERSALES_NOTIFY_ATTEMPTS": str(HUNG_MAIL_ATTEMPTS),
                                    "AFTERSALES_POLICY_FILE": str(policy_for_tests(config_dir(tmp_path_factory)))})
    running = [Stack(config, progress=lambda message: None)]
    try:
        running[0].start()
        yield running
    finally:
        running[-1].stop()


def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recovery-config")


def policy_for_tests(folder: Path) -> Path:
    """policy.yaml with a run "Pending" 2 minutes taken for dead (3 shipped): the bound the stack's automation
    gets here, so that `aftersales up`, which reads it from the policy, finds the runs the cut left as fast."""
    shipped = (PROJECT_ROOT / "policy.yaml").read_text()
    assert "  pending_minutes: 3 " in shipped
    path = folder / "policy.yaml"
    path.write_text(shipped.replace("  pending_minutes: 3 ", "  pending_minutes: 2 ", 1))
    return path


@pytest.fixture(scope="module")
def relaunched() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The `aftersales up` started after the power cut; Ctrl-C'd however the module ends."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for up in started:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)


@pytest.fixture(scope="module")
def stack(stacks: list[Stack]) -> Stack:
    """Overrides the session's stack for stack_env and driver in this module."""
    return stacks[0]


def run_states(driver: Driver, numbers: list[str]) -> dict[str, str]:
    """Each case's flow-run state on the Prefect server."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        found = {}
        for number in numbers:
            run = client.read_flow_run(UUID(driver.case(number)["flow_run_id"]))
            found[number] = run.state.type.value if run.state else "-"
        return found


def triage_links(driver: Driver, numbers: list[str]) -> list[str]:
    """The link of each case's first step, from the mail customer service received (before a fault hangs mail)."""
    links = []
    for number in numbers:  # three flows start at once: give a loaded machine time
        gate = driver.wait_for_gate(number, "repair.triage", timeout=240)
        links.append(driver.link_for_gate("li.na", gate["id"])[1])
    return links


def answer_and_catch_a_run_executing(driver: Driver, numbers: list[str], links: list[str]) -> dict[str, str]:
    """Answer each case's first step from its link, then return once one of the resumed runs is Running.

    Called with the mail server hung: the run then stays Running, sending its next step's mail, until it is let go.
    """
    for link in links:
        response = driver.answer(link, TRIAGE)
        assert response.status_code == 200, response.text[:2000]
    end = time.monotonic() + 120  # a new process per run: a loaded machine takes its time to start one
    states: dict[str, str] = {}
    while time.monotonic() < end:
        states = run_states(driver, numbers)
        if "RUNNING" in states.values():
            return states
        time.sleep(0.2)
    raise AssertionError(f"no run executing to hit: {states}")


def assert_every_case_moves_on(driver: Driver, numbers: list[str], killed_at: float) -> float:
    """Every case reaches its next step within the bound; returns the seconds it took for the last one."""
    for number in numbers:
        left = RECOVERED_WITHIN - (time.monotonic() - killed_at)
        driver.wait_for_gate(number, "repair.remote_diagnosis", timeout=max(left, 1))
    took = time.monotonic() - killed_at
    for number in numbers:
        assert_no_message_twice(driver, number)
        view = driver.case(number)
        assert [g["kind"] for g in view["gates"]] == ["repair.triage", "repair.remote_diagnosis"]
        assert view["needs_attention"] is None
    return took


def test_runs_killed_with_their_worker_are_run_again_and_send_nothing_twice(stack_env: Stack,
                                                                            driver: Driver) -> None:
    numbers = [new_case(stack_env) for _ in range(CASES)]
    links = triage_links(driver, numbers)
    with mail_server_hung(stack_env):
        states = answer_and_catch_a_run_executing(driver, numbers, links)
        stack_env.stop_worker(kill=True)  # SIGKILL of the worker's process group
        killed = kill_flow_runs(stack_env)  # and of its runs, which live in sessions of their own
        killed_at = time.monotonic()
    assert killed >= 1, f"no flow-run process to kill: {states}"
    stack_env.start_worker()
    took = assert_every_case_moves_on(driver, numbers, killed_at)
    print(f"\nworker and {killed} flow-run processes killed with runs {states}: every case at its next step "
          f"{took:.0f} s later")


def test_cases_running_and_waiting_survive_a_restart_of_the_prefect_server(stack_env: Stack,
                                                                           driver: Driver) -> None:
    running, answered_while_down, answered_after = (new_case(stack_env) for _ in range(3))
    numbers = [running, answered_while_down, answered_after]
    first, while_down, after = triage_links(driver, numbers)
    with mail_server_hung(stack_env):  # the run of `running` stays in its flow code through the restart
        states = answer_and_catch_a_run_executing(driver, [running], [first])
        stack_env.stop_server()  # SIGTERM to the server; its PostgreSQL, the worker and the web app keep running
        stopped_at = time.monotonic()
        response = driver.answer(while_down, TRIAGE)  # the answer is kept; its resume waits for the server
        assert response.status_code == 200, response.text[:2000]
        stack_env.start_server()
        down = time.monotonic() - stopped_at
    response = driver.answer(after, TRIAGE)
    assert response.status_code == 200, response.text[:2000]
    took = assert_every_case_moves_on(driver, numbers, stopped_at)
    for number in numbers:
        [triage] = [g for g in driver.case(number)["gates"] if g["kind"] == "repair.triage"]
        assert triage["status"] == "answered"
    print(f"\nPrefect server down {down:.0f} s with runs {states} and an answer given meanwhile: every case at "
          f"its next step {took:.0f} s after the stop")


def power_cut(stack: Stack) -> int:
    """SIGKILL every process of the stack at once: its children, their flow runs, its watcher, its PostgreSQL."""
    victims = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(STACK_ID) == stack.stack_id:
                victims.append(process)
        except psutil.Error:
            continue
    assert stack.watcher is not None
    victims.append(psutil.Process(stack.watcher.pid))
    postmaster = int((stack.pgdata / "postmaster.pid").read_text().split()[0])
    os.killpg(postmaster, signal.SIGKILL)  # the postmaster leads the group of its backends (pg_ctl's setsid)
    for process in victims:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=10)
    return len(victims) + 1


def launcher_died_too(stack: Stack) -> None:
    """This test process launched the stack and stands for the `aftersales up` the cut killed: the record of the
    stack names, as after a real cut, a launcher that no longer runs (a process that has ended)."""
    record = read_record(stack.config.data_dir)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record["owner"] = gone.pid  # its start time stays this process's: a later process on that pid is no owner
    write_record(stack.config.data_dir, record)


def aftersales_up(stack: Stack, output: Path) -> subprocess.Popen[bytes]:
    """The real `aftersales up` on the stack's folder and ports, as an operator types it after the cut."""
    c = stack.config
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_", "PREFECT_")) and k != STACK_ID}
    env.update({k: v for k, v in c.extra_env.items() if k.startswith("AFTERSALES_")})
    return subprocess.Popen([sys.executable, "-m", "aftersales.cli", "up", "--data-dir", str(c.data_dir),
                             "--prefect-port", str(c.prefect_port), "--web-port", str(c.web_port),
                             "--smtp-port", str(c.smtp_port), "--no-demo"],
                            env=env, cwd=PROJECT_ROOT, stdout=output.open("wb"), stderr=subprocess.STDOUT)


def wait_until_up(up: subprocess.Popen[bytes], output: Path, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while "All parts are running." not in output.read_text(errors="replace"):
        assert up.poll() is None, f"aftersales up ended with {up.returncode}:\n{output.read_text()[-3000:]}"
        assert time.monotonic() < end, f"aftersales up not running after {timeout} s:\n{output.read_text()[-3000:]}"
        time.sleep(0.5)


def test_after_a_power_cut_aftersales_up_starts_the_stack_again_and_every_case_moves_on(
        stack_env: Stack, driver: Driver, relaunched: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    numbers = [new_case(stack_env) for _ in range(CASES)]
    links = triage_links(driver, numbers)
    with mail_server_hung(stack_env):
        states = answer_and_catch_a_run_executing(driver, numbers, links)
        killed = power_cut(stack_env)
    killed_at = time.monotonic()
    assert read_record(stack_env.config.data_dir)["stack_id"] == stack_env.stack_id, "the record outlives the cut"
    launcher_died_too(stack_env)

    output = tmp_path / "up.out"
    relaunched.append(up := aftersales_up(stack_env, output))
    wait_until_up(up, output)  # ends nothing (all dead), replaces the stale PostgreSQL pid file, same data and ports
    started = time.monotonic() - killed_at
    took = assert_every_case_moves_on(driver, numbers, killed_at)
    print(f"\npower cut ({killed} processes) with runs {states}: `aftersales up` running again in {started:.0f} s, "
          f"every case at its next step {took:.0f} s after the cut")


def test_a_worker_of_aftersales_up_that_dies_is_started_again(
        stacks: list[Stack], relaunched: list[subprocess.Popen[bytes]]) -> None:
    # Prefect's worker can die of its own error (one was seen in the production test): `aftersales up` starts it
    # again instead of stopping everything, as a service manager would.
    [up] = relaunched
    second = read_record(stacks[0].config.data_dir)["stack_id"]

    def workers() -> list[int]:
        return [p.pid for p in psutil.process_iter() if _carries(p, second)
                and "worker start" in " ".join(p.cmdline())]

    [worker] = workers()
    os.kill(worker, signal.SIGKILL)
    end = time.monotonic() + 60
    while not (again := [pid for pid in workers() if pid != worker]):
        assert up.poll() is None, f"aftersales up ended with {up.returncode}"
        assert time.monotonic() < end, "the dead worker was not started again within 60 s"
        time.sleep(0.5)
    assert len(again) == 1 and up.poll() is None


def test_nothing_of_the_first_stack_runs_and_ctrl_c_ends_all_of_the_second(
        stacks: list[Stack], relaunched: list[subprocess.Popen[bytes]]) -> None:
    first = stacks[0]
    assert [p.pid for p in psutil.process_iter() if _carries(p, first.stack_id)] == []
    [up] = relaunched
    second = read_record(first.config.data_dir)["stack_id"]
    assert second != first.stack_id and [p for p in psutil.process_iter() if _carries(p, second)]
    assert Path(first.pgdata / "postmaster.pid").exists(), "the second stack's PostgreSQL runs on the same folder"
    up.send_signal(signal.SIGINT)  # Ctrl-C
    assert up.wait(timeout=90) == 0
    assert [p.pid for p in psutil.process_iter() if _carries(p, second)] == []
    assert not Path(first.pgdata / "postmaster.pid").exists(), "its PostgreSQL stopped with it"


def _carries(process: psutil.Process, stack_id: str) -> bool:
    try:
        return process.environ().get(STACK_ID) == stack_id
    except psutil.Error:
        return False
