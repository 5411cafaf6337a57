"""The exchange procedure (换货): spec 000-002 §4 and 三包, sequencing in flows/_goods.py."""

from __future__ import annotations

from prefect import flow

from flows._goods import run_goods_procedure
from models.requests import CaseRef


@flow(name="exchange", persist_result=True)
def exchange(ref: CaseRef) -> str:
    """Run one exchange from request to the signed acceptance of the replacement; a repair need opens a repair."""
    return run_goods_procedure("exchange", ref.case_number)
