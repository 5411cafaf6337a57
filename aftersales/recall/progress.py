"""A fan-out's progress as a Prefect progress artifact of the run that sends (the recall page shows the ledger)."""

from __future__ import annotations

import logging

from aftersales.errors import IntegrationError
from aftersales.recall.fanout import FanoutReport, Progress
from aftersales.runtime import prefect

log = logging.getLogger(__name__)


def artifact_progress(recall: str) -> Progress:
    """A send_pending progress callback: creates the artifact on the first batch, moves it on the next ones.

    Best effort: the notices are sent whether or not the Prefect API takes the artifact (a warning is logged).
    """
    state: dict[str, str] = {}
    key = "recall-" + "".join(c if c.isalnum() else "-" for c in recall.lower())

    def update(report: FanoutReport) -> None:
        text = (f"Recall {recall}: {report.by_status.get('sent', 0)} of {report.total} notices sent, "
                f"{report.by_status.get('failed', 0)} failed")
        try:
            if "id" not in state:
                state["id"] = prefect.create_progress(key, report.percent, text)
            else:
                prefect.update_progress(state["id"], report.percent, text)
        except IntegrationError as exc:
            log.warning("recall %s: progress not shown in Prefect: %s", recall, exc)

    return update
