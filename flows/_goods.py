"""Steps shared by the return and exchange procedures (spec §3-§4, 三包): review, eligibility, approval, execution."""

from __future__ import annotations

from typing import Any, Literal

from aftersales.config.catalogue import product
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError
from aftersales.messaging.labels import label
from aftersales.messaging.summaries import row
from aftersales.rules.eligibility import Decision, Profile, decide, load_profiles, warranty_start_after_exchange
from aftersales.rules.goods_claim import claim_from_review, missing_proofs, receipt_refusals
from aftersales.rules.satisfaction import is_low_score
from models.case import LANGUAGES, CaseSnapshot
from models.goods import GoodsClaim
from models.inputs import (
    AcceptanceInput,
    ApprovalInput,
    GoodsReceivedInput,
    GoodsReviewInput,
    QualityTestInput,
    RefundInput,
    RefusalReviewInput,
    RemedyChoiceInput,
    ReplacementShippedInput,
    ReturnScheduleInput,
    SurveyInput,
)
from tasks.gates import ask, follow_up_low_score
from tasks.goods import goods_history
from tasks.records import (
    attach_flow_run,
    close_case,
    load_case,
    notify_customer,
    open_linked_case,
    record_step,
    set_case,
)

Kind = Literal["return", "exchange"]



Case = CaseSnapshot[GoodsClaim]


def goods_summary(case: Case, **extra: Any) -> list[dict[str, str]]:
    """The request as staff see it: product, order, delivery, reason, proofs (no contact details)."""
    goods = case.facts
    rows = [
        row(case, "product_model", case.product_model),
        row(case, "serial_number", case.serial_number or "-"),
        {"label": "order", "value": goods.order_number},
        {"label": "delivered_on", "value": goods.delivered_on.isoformat()},
        {"label": "reason", "value": goods.reason},
        row(case, "problem_description", case.problem_description),
        {"label": "proofs", "value": ", ".join(f"{p.kind}:{p.ref}" for p in goods.proofs)},
    ]
    rows += [{"label": key, "value": str(value)} for key, value in extra.items()]
    return rows



def run_goods_procedure(kind: Kind, number: str) -> str:
    """The whole return or exchange: review, eligibility, refusal review, choice, approval, execution, record."""
    policy = get_policy()
    if policy.returns is None:
        raise ConfigurationError("policy.yaml: returns: the section is missing")
    case: Case = load_case(number, GoodsClaim)
    goods = case.facts
    item = product(case.product_model)
    if item is None:
        raise ConfigurationError(f"products.yaml: {case.product_model}: the product left the catalogue")
    profile = load_profiles(get_settings().eligibility_file)[item.profile]
    attach_flow_run(number)
    record_step(case.id, "registered", "registered", f"{kind} request for order {goods.order_number}")
    notify_customer(number, "received", "goods.received", {"kind": kind})
    history = goods_history(case.serial_number, case.id)
    absent = missing_proofs(goods, profile)  # shown to the reviewer; decided through the refusal review
    lacking = {"missing": "; ".join(why for _, why in absent)} if absent else {}

    review = ask(case, "review", "returns.review", GoodsReviewInput, goods_summary(case, **history, **lacking))
    if review.needs_repair_instead:
        return _convert_to_repair(case, "the review found the product needs a repair")
    decision = decide(claim_from_review(kind, goods, case.reported_at, review, history, None, profile), profile)
    if decision.needs:
        test = ask(case, "quality_test", "returns.quality_test", QualityTestInput, goods_summary(case))
        record_step(
            case.id,
            "quality_test",
            "test",
            f"quality test: {'defect found' if test.defect_found else 'no defect'} — {test.report}",
        )
        decision = decide(claim_from_review(kind, goods, case.reported_at, review, history, not test.defect_found,
                                            profile), profile)
    _record_decision(case, decision)

    offered: tuple[str, ...] = decision.offered
    if not decision.eligible:
        if not _refusal_overridden(case, decision):
            return "refused"
        offered = (kind,)
    remedy = _choose(case, kind, offered)
    if remedy == "repair":
        return _convert_to_repair(case, "the customer chose a repair")
    amount = item.price * goods.quantity
    approval = ask(
        case,
        "approval",
        policy.returns.approval_gate(amount),
        ApprovalInput,
        goods_summary(case, remedy=remedy, amount=f"{amount:.2f}"),
    )
    record_step(
        case.id,
        "approval",
        "approval",
        f"{remedy} of {amount:.2f} CNY {'approved' if approval.approved else 'refused'}: {approval.comment}",
    )
    if not approval.approved:
        notify_customer(number, "not-approved", "goods.not_approved", {"comment": approval.comment})
        return close_case(number, "refused", f"{remedy} not approved: case closed")
    done = _refund(case, amount) if remedy == "return" else _replace(case, profile)
    if done != "done":
        return done
    if policy.step_enabled("returns", "satisfaction_survey"):
        survey = ask(
            case, "survey", "returns.survey", SurveyInput, [row(case, "product_model", case.product_model)]
        )
        record_step(case.id, "survey", "survey", f"satisfaction {survey.score}/5 {survey.comment}".strip())
        if is_low_score(survey.score, policy.returns.low_satisfaction_at_most):
            follow_up_low_score(case, "returns.low_satisfaction", survey.score, survey.comment)
    status = "refunded" if remedy == "return" else "exchanged"
    return close_case(number, status, f"case closed: {status}", data={"remedy_done": remedy})


def _record_decision(case: Case, decision: Decision, key: str = "eligibility") -> None:
    lines = [f"{r.code} ({r.source})" for r in decision.reasons]
    verdict = "eligible" if decision.eligible else "refused"
    record_step(
        case.id,
        key,
        "decision",
        f"{verdict}; offered {list(decision.offered)}: " + "; ".join(lines),
        data={
            "eligible": decision.eligible,
            "offered": list(decision.offered),
            "refusals": [{"code": r.code, "source": r.source, "text": r.text_en} for r in decision.refusals],
        },
    )


def _refusal_overridden(case: Case, decision: Decision, stage: str = "") -> bool:
    """A manager confirms the refusal (the customer then gets the reasons in their language) or overrides it.

    `stage` tells a later refusal (the returned goods, F1:316(9)) from the eligibility one in keys: a case may
    have its eligibility refusal overridden and still be refused when the goods come back.
    """
    rows = goods_summary(case) + [
        {"label": f"refused: {r.code}", "value": f"{r.text_en} ({r.source})"} for r in decision.refusals
    ]
    verdict = ask(case, f"refusal_review{stage}", "returns.refusal_review", RefusalReviewInput, rows)
    if verdict.override:
        record_step(case.id, f"override{stage}", "override", f"refusal overridden: {verdict.reason}")
        return True
    reasons = {lang: [r.text(lang) for r in decision.refusals] for lang in LANGUAGES}
    notify_customer(case.number, f"refused{stage}", "goods.refused", {"reasons": reasons, "comment": verdict.reason})
    grounds = "; ".join(f"{r.code} ({r.source})" for r in decision.refusals)
    close_case(case.number, "refused", f"refused, reasons sent to the customer: {grounds}",
               data={"refusals": [r.code for r in decision.refusals]})
    return False


def _choose(case: Case, kind: str, offered: tuple[str, ...]) -> str:
    """The customer's choice among the remedies the law allows; one remedy needs no question."""
    if len(offered) == 1:
        return offered[0]
    for attempt in range(1, 3):
        rows = [{"label": "offered", "value": ", ".join(label("values", o, case.language) for o in offered)}]
        choice = ask(case, f"choice#{attempt}", "returns.choice", RemedyChoiceInput, rows).choice
        if choice in offered:
            record_step(case.id, "choice", "decision", f"customer chose {choice} (offered {list(offered)})")
            return choice
        record_step(case.id, f"choice#{attempt}:invalid", "decision", f"{choice} is not among {list(offered)}")
    return kind if kind in offered else offered[0]


def _refund(case: Case, amount: float) -> str:
    """Return: date and refund method to the customer (F1:318), goods back in, finance refunds (F1:94)."""
    number = case.number
    schedule = ask(case, "schedule", "returns.schedule", ReturnScheduleInput, goods_summary(case))
    notify_customer(number, "schedule", "goods.schedule",
                    {"return_date": schedule.return_date.isoformat(), "refund_method": schedule.refund_method})
    received = ask(case, "goods_received", "returns.goods_received", GoodsReceivedInput, goods_summary(case))
    record_step(
        case.id,
        "goods_received",
        "receipt",
        f"goods {'received' if received.received else 'not received'}, {'intact' if received.intact else 'NOT intact'}",
    )
    refused = receipt_refusals(received=received.received, intact=received.intact)
    if refused.refusals:
        # F1:316(9): no refund for goods not sent back intact; the manager confirms (reasons to the customer)
        # or overrides with a recorded reason, like every refusal.
        _record_decision(case, refused, key="eligibility#receipt")
        if not _refusal_overridden(case, refused, "#receipt"):
            return "refused"
    refund = ask(case, "refund", "returns.refund", RefundInput, goods_summary(case, amount=f"{amount:.2f}"))
    record_step(case.id, "refund", "refund", f"refund {refund.amount:.2f} CNY, reference {refund.reference}")
    notify_customer(number, "refunded", "goods.refunded", {"amount": refund.amount})
    acceptance = ask(case, "acceptance", "returns.acceptance", AcceptanceInput, goods_summary(case))
    record_step(
        case.id,
        "acceptance",
        "sign_off",
        f"customer {'confirmed' if acceptance.accepted else 'disputes'} the refund ({acceptance.signature_name})",
    )
    return "done"


def _replace(case: Case, profile: Profile) -> str:
    """Exchange: ship the replacement, the customer signs its acceptance; warranty restarts (三包 ¶4)."""
    number = case.number
    shipped = ask(
        case, "replacement_shipped", "returns.replacement_shipped", ReplacementShippedInput, goods_summary(case)
    )
    start = warranty_start_after_exchange(case.purchase_date or shipped.shipped_on, shipped.shipped_on, profile)
    set_case(number, data={"replacement_serial": shipped.new_serial_number, "warranty_start": start.isoformat()})
    record_step(
        case.id,
        "replacement",
        "shipment",
        f"replacement {shipped.new_serial_number} shipped {shipped.shipped_on}; warranty from {start}",
    )
    notify_customer(number, "shipped", "goods.shipped", {"serial": shipped.new_serial_number})
    acceptance = ask(case, "acceptance", "returns.acceptance", AcceptanceInput, goods_summary(case))
    record_step(
        case.id,
        "acceptance",
        "sign_off",
        f"customer {'accepted' if acceptance.accepted else 'did not accept'} the replacement "
        f"({acceptance.signature_name})",
    )
    if not acceptance.accepted:
        return _convert_to_repair(case, f"the replacement was not accepted: {acceptance.comment}")
    return "done"


def _convert_to_repair(case: Case, why: str) -> str:
    """An exchange or return that turns out to need a repair opens a repair case linked to it."""
    child = open_linked_case(case.number, "repair", "needs-repair")
    record_step(case.id, "converted", "linked", f"{why}: repair case {child} opened")
    notify_customer(case.number, "converted", "goods.converted", {"repair_case": child})
    return close_case(case.number, "converted", f"{why}: converted to repair case {child}",
                      data={"linked_cases": [child]})
