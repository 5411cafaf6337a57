"""The daily check of the standing reserve of passport-holding repair staff (5.1, F2:420-421)."""

from __future__ import annotations

from prefect import flow, task

from aftersales.procedures.dispatch import check_standing_reserve


@task(retries=2, retry_delay_seconds=10)
def check() -> dict[str, int]:
    """Check the reserve and tell HR what is new (each finding once)."""
    report = check_standing_reserve()
    return {"short": len(report.short), "expiring": len(report.expiring), "told": report.told}


@flow(name="dispatch-reserve")
def dispatch_reserve() -> dict[str, int]:
    """Departments short of passport holders, passports expiring within the warning period: HR is told."""
    return check()
