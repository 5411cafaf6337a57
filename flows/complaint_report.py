"""Monthly complaint statistics (004:475): a scheduled flow, see prefect.yaml; sequencing only."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aftersales.cases.reports import monthly_complaint_report, report_markdown


@flow(name="complaint-report", persist_result=False)
def complaint_report(today: date | None = None) -> dict[str, object]:
    """Summarise last month's closed complaints, publish them as an artifact and send them to the managers once."""
    stats = monthly_complaint_report(today)
    key = f"complaint-report-{stats.month}"  # "complaint-report-2026-11": lowercase, digits and dashes only
    create_markdown_artifact(key=key, markdown=report_markdown(stats),
                             description=f"客户投诉月度统计 / Complaints closed in {stats.month} (004:475)")
    get_run_logger().info("complaint report %s: %d closed, on time %d/%d, %d escalated",
                          stats.month, stats.total, stats.on_time, stats.measured, stats.escalated_cases)
    return {**stats.as_dict(), "artifact_key": key}
