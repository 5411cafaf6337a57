"""The return procedure (退货): spec 000-002 §3 and 三包, sequencing in flows/_goods.py."""

from __future__ import annotations

from prefect import flow

from flows._goods import run_goods_procedure
from models.requests import CaseRef


@flow(name="return", persist_result=True)
def return_goods(ref: CaseRef) -> str:
    """Run one return from request to refund and record; the customer may choose an exchange or repair instead."""
    return run_goods_procedure("return", ref.case_number)
