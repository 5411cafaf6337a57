"""The intake benchmark's baseline: a bare Prefect flow of a case's first shape (one persisted task sends one mail,
then the run suspends), with nothing of the platform (no database, no templates, no Apprise)."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from prefect import flow, task
from prefect.cache_policies import INPUTS
from prefect.flow_runs import suspend_flow_run


@task(persist_result=True, cache_policy=INPUTS, task_run_name="send {number}")
def send_one(number: str) -> str:
    """One plain mail to the stack's sink (the SMTP port the launcher gives every child)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "bench@localhost", "bare@example.com", f"bare {number}"
    message.set_content(f"bare flow {number}")
    with smtplib.SMTP(os.environ.get("AFTERSALES_SMTP_HOST", "127.0.0.1"),
                      int(os.environ["AFTERSALES_SMTP_PORT"]), timeout=30) as smtp:
        smtp.send_message(message)
    return number


@flow(name="bare-intake", persist_result=True)
def bare_intake(number: str) -> str:
    """Send, then wait for an answer as a case's first gate does (the process ends while suspended)."""
    send_one(number)
    suspend_flow_run(timeout=24 * 3600, key=f"first-{number}")
    return number


@flow(name="bare-noop", persist_result=False)
def bare_noop() -> None:
    """Nothing at all: the floor of any scheduled flow run on the stack (benchmarks/waiting_bench.py)."""
