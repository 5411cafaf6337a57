"""Tasks of the complaint procedure: its closing clock (004:485), and reads its flow repeats safely."""

from __future__ import annotations

from typing import Any

from prefect import task
from pydantic import ValidationError
from sqlmodel import select

from aftersales.config.staff import get_staff
from aftersales.errors import NotFound
from aftersales.procedures import registry
from aftersales.procedures.complaint import start_closing_clock
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from models import Gate
from models.case import CaseSnapshot
from models.goods import GoodsClaim
from models.inputs import GoodsFactsInput
from tasks.records import RETRY

PROOF_FIELDS = ("purchase_voucher", "photo", "delivery_confirmation", "invoice")  # models/goods.py ProofKind


@task(**RETRY, task_run_name="closing deadline from {acceptance_key}")  # type: ignore[call-overload]
def set_close_deadline(number: str, case_id: int, overseas: bool, acceptance_key: str) -> str:
    """Start the closing clock when the GM's office accepted (004:485): 5 days domestic, 7 overseas."""
    with session_scope() as session:
        gate = session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == acceptance_key)).first()
    accepted_at = gate.answered_at if gate is not None and gate.answered_at is not None else clock.now()
    return start_closing_clock(number, overseas, accepted_at)


def is_staff_member(person_id: str) -> bool:
    """Whether an id names someone in the staff directory (a GM's appointee, 004:463); a read, safe to repeat."""
    try:
        get_staff().person(person_id)
    except NotFound:
        return False
    return True


def goods_claim(case: CaseSnapshot[Any], kind: str, facts: GoodsFactsInput) -> tuple[dict[str, Any] | None,
                                                                                     list[str]]:
    """The goods facts the returns group gave, as the linked return/exchange's `goods` block, checked like an
    intake of that procedure (its declared checks: catalogue, proofs); (facts, []) or (None, problems)."""
    proofs = [{"kind": name, "ref": getattr(facts, name).strip()} for name in PROOF_FIELDS
              if getattr(facts, name).strip()]
    raw = {"delivered_on": facts.delivered_on, "order_number": facts.order_number, "quantity": facts.quantity,
           "reason": facts.claim_reason, "unused": facts.unused, "packaging_complete": facts.packaging_complete,
           "proofs": proofs}
    try:
        claim = GoodsClaim.model_validate(raw)
    except ValidationError as exc:
        return None, [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    problems = [f"{'.'.join(where)}: {why}" for check in registry.get(kind).intake_checks
                for where, why in check(case, claim)]
    return (None, problems) if problems else (claim.model_dump(mode="json"), [])
