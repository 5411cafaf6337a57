"""The recall's fan-out as one flow run: every pending notice sent in batches, progress shown as an artifact.

The recall procedure will run this as its notification step; it carries the recall's number and texts only
(no customer data: the outbox in the project database has it). Rerun after a crash, it first hands the dead
sender's claims back (aftersales.recall.fanout explains why nobody is notified twice).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from aftersales.config.policy import get_policy
from aftersales.recall.fanout import RecallText, release_stale, send_pending
from aftersales.recall.progress import artifact_progress


@flow(name="recall-notices", log_prints=False)
def send_recall_notices(recall_number: str, recall_class: str, product_model: str, hazard: str, remedy: str,
                        batch_size: int | None = None) -> dict[str, Any]:
    """Send the recall's pending notices (batch size: the policy's unless given); what was sent, in how many
    batches, and the outbox's counts by state."""
    release_stale(recall_number)
    text = RecallText(recall_number=recall_number, recall_class=recall_class, product_model=product_model,
                      hazard=hazard, remedy=remedy)
    fanout = get_policy().recall.fanout
    if batch_size is not None:
        fanout = fanout.model_copy(update={"batch_size": batch_size})
    report = send_pending(text, fanout=fanout, progress=artifact_progress(recall_number))
    return {"sent": report.sent, "failed": report.failed, "batches": report.batches, "outbox": report.by_status}
