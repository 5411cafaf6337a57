"""Steps shared by the return and exchange procedures (spec §3-§4, 三包): review, eligibility, approval, execution."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from aftersales.config.catalogue import product
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.messaging.labels import label
from aftersales.messaging.summaries import row, say
from aftersales.rules.eligibility import (
    Claim,
    Decision,
    Profile,
    decide,
    load_profiles,
    warranty_start_after_exchange,
)
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
from tasks.gates import ask
from tasks.records import (
    attach_flow_run,
    goods_history,
    load_case,
    notify_customer,
    open_linked_case,
    publish_record,
    record_step,
    set_case,
)

Kind = Literal["return", "exchange"]



def goods_summary(case: dict[str, Any], **extra: Any) -> list[dict[str, str]]:
    """The request as staff see it: product, order, delivery, reason, proofs (no contact details)."""
    goods = case["data"]["goods"]
    rows = [
        row(case, "product_model", case["product_model"]),
        row(case, "serial_number", case["serial_number"] or "-"),
        {"label": "order", "value": goods["order_number"]},
        {"label": "delivered_on", "value": goods["delivered_on"]},
        {"label": "reason", "value": goods["reason"]},
        row(case, "problem_description", case["problem_description"]),
        {"label": "proofs", "value": ", ".join(f"{p['kind']}:{p['ref']}" for p in goods["proofs"])},
    ]
    rows += [{"label": key, "value": str(value)} for key, value in extra.items()]
    return rows



def claim_of(
    kind: Kind, case: dict[str, Any], review: GoodsReviewInput, history: dict[str, int], quality_no_defect: bool | None
) -> Claim:
    """The rule set's view of the request: what the customer sent plus what staff verified."""
    goods = case["data"]["goods"]
    reported = case["data"].get("reported_at") or case["opened_at"].isoformat()
    defect = goods["reason"] in ("defect", "still_failing") or review.quality_problem
    return Claim(
        kind=kind,
        delivered_on=date.fromisoformat(goods["delivered_on"]),
        requested_on=date.fromisoformat(reported[:10]),
        in_warranty=True,
        unused=review.unused,
        manufacturing_defect=defect and review.unused,
        non_man_made_quality_problem=defect,
        not_as_described=goods["reason"] == "not_as_described",
        transit_damage_found_at_delivery=goods["reason"] == "transit_damage" and not review.transit_damage_not_refused,
        packaging_complete=review.packaging_complete,
        man_made_damage=review.man_made_damage,
        labels_tampered=review.labels_tampered,
        force_majeure=review.force_majeure,
        damaged_in_transit_not_refused_on_delivery=review.transit_damage_not_refused,
        quality_dept_found_no_defect=quality_no_defect,
        consumer_returned_goods_not_intact=review.not_intact,
        has_purchase_voucher=review.voucher_valid,
        voucher_forged=False,
        previous_exchanges=history["exchanges"],
        in_warranty_repairs_same_serial=history["repairs"],
        still_failing=goods["reason"] == "still_failing",
        goods_category=goods.get("goods_category", "durable"),
        signed_at=datetime.fromisoformat(goods["signed_at"]) if goods.get("signed_at") else None,
        requested_at=datetime.fromisoformat(reported) if goods.get("signed_at") else None,
        returns_on_this_order=goods.get("returns_on_this_order", 0),
    )


def run_goods_procedure(kind: Kind, number: str) -> str:
    """The whole return or exchange: review, eligibility, refusal review, choice, approval, execution, record."""
    policy = get_policy()
    assert policy.returns is not None, "policy.yaml has no 'returns' section"
    case = load_case(number)
    goods = case["data"]["goods"]
    item = product(case["product_model"])
    assert item is not None, f"{case['product_model']} left the catalogue"
    profile = load_profiles(get_settings().eligibility_file)[item.profile]
    attach_flow_run(number)
    record_step(case["id"], "registered", "registered", f"{kind} request for order {goods['order_number']}")
    notify_customer(
        number,
        "received",
        say(
            f"我们已收到您的{'退货' if kind == 'return' else '换货'}申请 {number}",
            f"We received your {kind} request {number}",
        ),
        {"zh": ["我们将在24小时内答复。"], "en": ["We will answer within 24 hours."]},
    )
    history = goods_history(case["serial_number"], case["id"])

    review = ask(case, "review", "returns.review", GoodsReviewInput, goods_summary(case, **history))
    if review.needs_repair_instead:
        return _convert_to_repair(case, "the review found the product needs a repair")
    decision = decide(claim_of(kind, case, review, history, None), profile)
    if decision.needs:
        test = ask(case, "quality_test", "returns.quality_test", QualityTestInput, goods_summary(case))
        record_step(
            case["id"],
            "quality_test",
            "test",
            f"quality test: {'defect found' if test.defect_found else 'no defect'} — {test.report}",
        )
        decision = decide(claim_of(kind, case, review, history, not test.defect_found), profile)
    _record_decision(case, decision)

    offered: tuple[str, ...] = decision.offered
    if not decision.eligible:
        if not _refusal_overridden(case, decision):
            return "refused"
        offered = (kind,)
    remedy = _choose(case, kind, offered)
    if remedy == "repair":
        return _convert_to_repair(case, "the customer chose a repair")
    amount = item.price * goods["quantity"]
    approval = ask(
        case,
        "approval",
        policy.returns.approval_gate(amount),
        ApprovalInput,
        goods_summary(case, remedy=remedy, amount=f"{amount:.2f}"),
    )
    record_step(
        case["id"],
        "approval",
        "approval",
        f"{remedy} of {amount:.2f} CNY {'approved' if approval.approved else 'refused'}: {approval.comment}",
    )
    if not approval.approved:
        notify_customer(
            number,
            "not-approved",
            say("申请未获批准", "Your request was not approved"),
            {"zh": [approval.comment or "详情请联系客服。"], "en": [approval.comment or "Please contact us."]},
        )
        set_case(number, status="refused", closed=True)
        publish_record(number)
        return "refused"
    done = _refund(case, amount) if remedy == "return" else _replace(case, profile)
    if done != "done":
        return done
    if policy.step_enabled("returns", "satisfaction_survey"):
        survey = ask(
            case, "survey", "returns.survey", SurveyInput, [row(case, "product_model", case["product_model"])]
        )
        record_step(case["id"], "survey", "survey", f"satisfaction {survey.score}/5 {survey.comment}".strip())
    status = "refunded" if remedy == "return" else "exchanged"
    set_case(number, status=status, closed=True, data={"remedy_done": remedy})
    record_step(case["id"], "closed", "closed", f"case closed: {status}")
    publish_record(number)
    return status


def _record_decision(case: dict[str, Any], decision: Decision) -> None:
    lines = [f"{r.code} ({r.source})" for r in decision.reasons]
    verdict = "eligible" if decision.eligible else "refused"
    record_step(
        case["id"],
        "eligibility",
        "decision",
        f"{verdict}; offered {list(decision.offered)}: " + "; ".join(lines),
        data={
            "eligible": decision.eligible,
            "offered": list(decision.offered),
            "refusals": [{"code": r.code, "source": r.source, "text": r.text_en} for r in decision.refusals],
        },
    )


def _refusal_overridden(case: dict[str, Any], decision: Decision) -> bool:
    """A manager confirms the refusal (the customer then gets the reasons in their language) or overrides it."""
    rows = goods_summary(case) + [
        {"label": f"refused: {r.code}", "value": f"{r.text_en} ({r.source})"} for r in decision.refusals
    ]
    verdict = ask(case, "refusal_review", "returns.refusal_review", RefusalReviewInput, rows)
    if verdict.override:
        record_step(case["id"], "override", "override", f"refusal overridden: {verdict.reason}")
        return True
    lang = "zh" if case["language"] == "zh" else "en"
    reasons = [r.text(lang) for r in decision.refusals]
    notify_customer(
        case["number"],
        "refused",
        say("很抱歉,您的申请不符合退换货条件", "We are sorry: your request cannot be accepted"),
        {lang: reasons + ([verdict.reason] if verdict.reason else [])},
    )
    set_case(case["number"], status="refused", closed=True, data={"refusals": [r.code for r in decision.refusals]})
    record_step(
        case["id"],
        "refused",
        "closed",
        "refused, reasons sent to the customer: " + "; ".join(f"{r.code} ({r.source})" for r in decision.refusals),
    )
    publish_record(case["number"])
    return False


def _choose(case: dict[str, Any], kind: str, offered: tuple[str, ...]) -> str:
    """The customer's choice among the remedies the law allows; one remedy needs no question."""
    if len(offered) == 1:
        return offered[0]
    for attempt in range(1, 3):
        rows = [{"label": "offered", "value": ", ".join(label("values", o, case["language"]) for o in offered)}]
        choice = ask(case, f"choice#{attempt}", "returns.choice", RemedyChoiceInput, rows).choice
        if choice in offered:
            record_step(case["id"], "choice", "decision", f"customer chose {choice} (offered {list(offered)})")
            return choice
        record_step(case["id"], f"choice#{attempt}:invalid", "decision", f"{choice} is not among {list(offered)}")
    return kind if kind in offered else offered[0]


def _refund(case: dict[str, Any], amount: float) -> str:
    """Return: date and refund method to the customer (F1:318), goods back in, finance refunds (F1:94)."""
    number = case["number"]
    schedule = ask(case, "schedule", "returns.schedule", ReturnScheduleInput, goods_summary(case))
    method = label("values", schedule.refund_method, case["language"])
    notify_customer(
        number,
        "schedule",
        say("退货安排", "Your return is scheduled"),
        {
            "zh": [f"退货日期:{schedule.return_date}", f"退款方式:{method}"],
            "en": [f"Return date: {schedule.return_date}", f"Refund method: {method}"],
        },
    )
    received = ask(case, "goods_received", "returns.goods_received", GoodsReceivedInput, goods_summary(case))
    record_step(
        case["id"],
        "goods_received",
        "receipt",
        f"goods {'received' if received.received else 'not received'}, {'intact' if received.intact else 'NOT intact'}",
    )
    refund = ask(case, "refund", "returns.refund", RefundInput, goods_summary(case, amount=f"{amount:.2f}"))
    record_step(case["id"], "refund", "refund", f"refund {refund.amount:.2f} CNY, reference {refund.reference}")
    notify_customer(
        number,
        "refunded",
        say("退款已完成", "Your refund has been paid"),
        {"zh": [f"金额:{refund.amount:.2f} 元"], "en": [f"Amount: {refund.amount:.2f} CNY"]},
    )
    acceptance = ask(case, "acceptance", "returns.acceptance", AcceptanceInput, goods_summary(case))
    record_step(
        case["id"],
        "acceptance",
        "sign_off",
        f"customer {'confirmed' if acceptance.accepted else 'disputes'} the refund ({acceptance.signature_name})",
    )
    return "done"


def _replace(case: dict[str, Any], profile: Profile) -> str:
    """Exchange: ship the replacement, the customer signs its acceptance; warranty restarts (三包 ¶4)."""
    number = case["number"]
    shipped = ask(
        case, "replacement_shipped", "returns.replacement_shipped", ReplacementShippedInput, goods_summary(case)
    )
    start = warranty_start_after_exchange(case["purchase_date"] or shipped.shipped_on, shipped.shipped_on, profile)
    set_case(number, data={"replacement_serial": shipped.new_serial_number, "warranty_start": start.isoformat()})
    record_step(
        case["id"],
        "replacement",
        "shipment",
        f"replacement {shipped.new_serial_number} shipped {shipped.shipped_on}; warranty from {start}",
    )
    notify_customer(
        number,
        "shipped",
        say("换货已发出", "Your replacement is on its way"),
        {"zh": [f"新机序列号:{shipped.new_serial_number}"], "en": [f"New serial: {shipped.new_serial_number}"]},
    )
    acceptance = ask(case, "acceptance", "returns.acceptance", AcceptanceInput, goods_summary(case))
    record_step(
        case["id"],
        "acceptance",
        "sign_off",
        f"customer {'accepted' if acceptance.accepted else 'did not accept'} the replacement "
        f"({acceptance.signature_name})",
    )
    if not acceptance.accepted:
        return _convert_to_repair(case, f"the replacement was not accepted: {acceptance.comment}")
    return "done"


def _convert_to_repair(case: dict[str, Any], why: str) -> str:
    """An exchange or return that turns out to need a repair opens a repair case linked to it."""
    child = open_linked_case(case["number"], "repair", "needs-repair")
    record_step(case["id"], "converted", "linked", f"{why}: repair case {child} opened")
    notify_customer(
        case["number"],
        "converted",
        say("已为您转为维修处理", "We will repair your product"),
        {"zh": [f"维修单号 {child}"], "en": [f"Repair case {child}"]},
    )
    set_case(case["number"], status="converted", closed=True, data={"linked_cases": [child]})
    publish_record(case["number"])
    return "converted"
