"""Checks on a new case that need configuration (catalogue, proof rules): problems as (field path, message)."""

from __future__ import annotations

from aftersales.config.catalogue import product
from models import CaseCreate


def _profile_categories(name: str) -> tuple[str, ...]:
    from aftersales.config.settings import get_settings
    from aftersales.rules.eligibility import load_profiles

    profile = load_profiles(get_settings().eligibility_file).get(name)
    return tuple(profile.goods_categories) if profile else ()


def request_problems(request: CaseCreate) -> list[tuple[list[str], str]]:
    """What is wrong with a request beyond its types; empty when it may be stored."""
    problems: list[tuple[list[str], str]] = []
    if request.procedure in ("return", "exchange") and request.goods is not None:
        item = product(request.product_model)
        if item is None:
            problems.append((["product_model"], f"unknown product {request.product_model!r} (not in the catalogue)"))
        elif request.goods.goods_category not in _profile_categories(item.profile):
            problems.append((["goods", "goods_category"],
                             f"{request.goods.goods_category!r} goods are not covered by profile {item.profile!r}"))
        kinds = {p.kind for p in request.goods.proofs}
        if "purchase_voucher" not in kinds:  # F1:316(3): no legal purchase voucher, no return or exchange
            problems.append((["goods", "proofs"], "a purchase voucher (purchase_voucher) is required (F1:316(3))"))
        if request.goods.reason in ("defect", "transit_damage", "still_failing") and "photo" not in kinds:
            problems.append((["goods", "proofs"], "photos of the problem (photo) are required (F1:318 三、)"))
    return problems
