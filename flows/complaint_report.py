"""Monthly complaint statistics (004:475): a scheduled flow, see prefect.yaml; sequencing only."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger

from aftersales.cases.reports import monthly_complaint_report, report_markdown
from aftersales.runtime.prefect import publish_markdown


@flow(name="complaint-report", persist_result=False)
def complaint_report(today: date | None = None) -> dict[str, object]:
    """Summarise last month's closed complaints, publish them as an artifact and send them to the managers once."""
    stats = monthly_complaint_report(today)
    key = f"complaint-report-{stats.month}"  # "complaint-report-2026-11": lowercase, digits and dashes only
    publish_markdown(key, report_markdown(stats), f"客户投诉月度统计 / Complaints closed in {stats.month} (004:475)")
    get_run_logger().info("complaint report %s: %d closed, on time %d/%d, %d escalated",
                          stats.month, stats.total, stats.on_time, stats.measured, stats.escalated_cases)
    return {**stats.as_dict(), "artifact_key": key}
