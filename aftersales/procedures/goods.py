"""Return (退货) and exchange (换货) under 三包: declarations and their intake checks.

Flows: flows/returns.py, flows/exchange.py (shared steps flows/_goods.py) · facts: models/goods.py ·
rules: aftersales/rules/eligibility.py with eligibility-profiles.yaml, products.yaml · texts:
templates/notices/*.yaml `goods.*` · policy: policy.yaml `returns:` and gates `returns.*` ·
deployments: prefect.yaml `return`, `exchange`.
"""

from __future__ import annotations

from typing import Any

from aftersales.config.catalogue import product
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.procedures.registry import Problem, Procedure, register
from aftersales.rules.eligibility import load_profiles
from aftersales.rules.goods_claim import missing_proofs
from aftersales.runtime import clock
from models.goods import GoodsClaim


def goods_checks(request: Any, goods: GoodsClaim | None) -> list[Problem]:
    """What the catalogue and the eligibility profile say of a goods claim before it is stored."""
    if goods is None:
        return []
    item = product(request.product_model)
    if item is None:
        return [(["product_model"], f"unknown product {request.product_model!r} (not in the catalogue)")]
    profile = load_profiles(get_settings().eligibility_file).get(item.profile)
    problems: list[Problem] = []
    if profile is None or goods.goods_category not in profile.goods_categories:
        problems.append((["goods", "goods_category"],
                         f"{goods.goods_category!r} goods are not covered by profile {item.profile!r}"))
    requested_on = (request.reported_at or clock.now()).date()
    if goods.delivered_on > requested_on:
        problems.append((["goods", "delivered_on"], "the delivery date lies after the request (reported_at)"))
    # policy.yaml returns.missing_proofs: "review" (default) lets the request in, to be refused through the
    # refusal review with the customer's notice (F1:316 "有权拒绝", F1:318 "可能导致"); "reject" is a 422 here.
    returns = get_policy().returns
    if profile is not None and returns is not None and returns.missing_proofs == "reject":
        problems += [(["goods", "proofs"], f"{why} ({kind})") for kind, why in missing_proofs(goods, profile)]
    return problems


RETURN = register(Procedure(
    name="return", prefix="RT", flow="flows/returns.py:return_goods", deployment="return/return",
    policy_section="returns", facts_key="goods", facts_model=GoodsClaim, intake_checks=(goods_checks,),
    description="Return (退货): spec §3, 三包",
))
EXCHANGE = register(Procedure(
    name="exchange", prefix="EX", flow="flows/exchange.py:exchange", deployment="exchange/exchange",
    policy_section="returns", facts_key="goods", facts_model=GoodsClaim, intake_checks=(goods_checks,),
    description="Exchange (换货): spec §4, 三包",
))
