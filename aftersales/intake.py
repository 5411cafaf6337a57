"""Checks on a new case that need configuration (catalogue, proof rules): problems as (field path, message)."""

from __future__ import annotations

from aftersales.catalogue import product
from models import CaseCreate


def request_problems(request: CaseCreate) -> list[tuple[list[str], str]]:
    """What is wrong with a request beyond its types; empty when it may be stored."""
    problems: list[tuple[list[str], str]] = []
    if request.procedure in ("return", "exchange") and request.goods is not None:
        if product(request.product_model) is None:
            problems.append((["product_model"], f"unknown product {request.product_model!r} (not in the catalogue)"))
        kinds = {p.kind for p in request.goods.proofs}
        if "purchase_voucher" not in kinds:  # F1:316(3): no legal purchase voucher, no return or exchange
            problems.append((["goods", "proofs"], "a purchase voucher (purchase_voucher) is required (F1:316(3))"))
        if request.goods.reason in ("defect", "transit_damage", "still_failing") and "photo" not in kinds:
            problems.append((["goods", "proofs"], "photos of the problem (photo) are required (F1:318 三、)"))
    return problems
