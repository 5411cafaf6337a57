"""The escalation sweep: a scheduled flow that reminds, escalates and retries (see prefect.yaml)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from aftersales.sla.sweep import sweep


@flow(name="escalation-sweep", persist_result=False)
def escalation_sweep(now: datetime | None = None) -> dict[str, int]:
    """Remind before deadlines, escalate at them, retry failed messages and resumes (each once)."""
    report = sweep(now)
    summary = {"reminded": len(report.reminded), "escalated": len(report.escalated),
               "resumed": len(report.resumed), "resent": report.resent, "recovered": len(report.recovered),
               "attention": len(report.attention), "errors": len(report.errors)}
    get_run_logger().info("sweep: %s", summary)
    return summary
