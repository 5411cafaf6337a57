"""The bare-Prefect baseline of click_bench.py: a flow of the same shape as a procedure, without the product.

Each step runs one persisted task that sends one mail to the SMTP sink, then suspends the run (no process held)
until it is resumed through the API. A resume re-runs the flow from the top, as ours does, so the cached steps
before it are replayed; the server, pool and worker are the product's own.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from prefect import flow, task
from prefect.flow_runs import suspend_flow_run
from prefect.runtime import flow_run


@task(persist_result=True)
def send(step: int, port: int) -> int:
    """One mail to the sink saying which step of which run waits (the next person's message)."""
    message = EmailMessage()
    message["From"] = "bare@example.com"
    message["To"] = "bare@example.com"
    message["Subject"] = f"bare {flow_run.get_id()} step {step}"
    message.set_content(f"step {step} waits")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)
    return step


@flow(name="bare-steps", persist_result=True)
def bare_steps(steps: int, port: int) -> int:
    """Send, then suspend, `steps` times."""
    for step in range(steps):
        send(step, port)
        suspend_flow_run(key=f"step-{step}", timeout=None)
    return steps
