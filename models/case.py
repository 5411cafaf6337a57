"""Cases (one per procedure instance) and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import EmailStr, ValidationInfo, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow

Procedure = Literal["repair", "return", "exchange", "complaint", "dispatch", "recall"]
Channel = Literal["hotline", "website", "app", "email", "online_chat", "in_person", "letter", "agent", "other"]
Language = Literal["zh", "en"]


class CaseBase(SQLModel):
    """Registration fields shared by every procedure (spec §1.3)."""

    customer_name: str = Field(min_length=1, max_length=120)
    customer_phone: str = Field(min_length=3, max_length=40)
    customer_email: str | None = Field(default=None, max_length=200)
    customer_address: str | None = Field(default=None, max_length=300)
    product_model: str = Field(min_length=1, max_length=80)
    serial_number: str | None = Field(default=None, max_length=80)
    purchase_date: date | None = None
    problem_description: str = Field(min_length=1, max_length=4000)
    channel: str = Field(default="hotline", max_length=20)
    language: str = Field(default="zh", max_length=5)


ComplaintCategory = Literal[
    "quality_safety", "consumer_rights", "major_service_error", "serious_grievance",  # F1:200-202, 004:407
    # 004:419-429
    "non_quality", "staff_neglect", "staff_attitude", "slow_return_repair", "repair_price", "repair_quality",
    "product_quality", "other",
]


class ComplaintDetails(SQLModel):
    """The fields of 客户抱怨处理表 (004:461) beyond the registration fields."""

    category: ComplaintCategory
    customer_demand: str = Field(min_length=1, max_length=2000, description="What the customer asks for")
    order_number: str | None = Field(default=None, max_length=60)
    ship_date: date | None = None
    quantity: int | None = Field(default=None, ge=0)
    defective_quantity: int | None = Field(default=None, ge=0)
    overseas: bool = Field(default=False, description="Overseas customer: 7-day closing limit (004:485)")

    @model_validator(mode="after")
    def _defects_within_quantity(self) -> ComplaintDetails:
        counted = self.quantity is not None and self.defective_quantity is not None
        if counted and self.defective_quantity > self.quantity:  # type: ignore[operator]
            raise ValueError("defective_quantity cannot exceed quantity")
        if self.ship_date is not None and self.ship_date > date.today():
            raise ValueError("ship_date lies in the future")
        return self


ProofKind = Literal["purchase_voucher", "photo", "delivery_confirmation", "invoice"]


class Proof(SQLModel):
    """A piece of evidence, by reference (a file id or URL in the company's document store)."""

    kind: ProofKind
    ref: str = Field(min_length=1, max_length=500)


class GoodsClaim(SQLModel):
    """A return or exchange request: delivery, order, reason and proof (spec §3.5 step 2, F1:316, F1:318)."""

    delivered_on: date
    order_number: str = Field(min_length=1, max_length=60)
    quantity: int = Field(default=1, ge=1, le=10_000)
    reason: Literal["defect", "no_reason", "not_as_described", "transit_damage", "still_failing"]
    unused: bool = False
    packaging_complete: bool = True
    proofs: list[Proof] = Field(default_factory=list)
    goods_category: Literal["durable", "fresh", "non_fresh"] = "durable"  # F1:318 grocery profile
    signed_at: datetime | None = Field(default=None, description="When the delivery was signed for (F1:318)")
    returns_on_this_order: int = Field(default=0, ge=0, description="Earlier returns on the order (F1:318)")

    @field_validator("delivered_on")
    @classmethod
    def _delivered_in_the_past(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("delivery date lies in the future")
        return value


class CaseCreate(CaseBase):
    """What a caller sends to open a case; validated strictly (422 names the field)."""

    # "   " is not a name: strip first, so min_length rejects blank text.
    model_config = {"str_strip_whitespace": True}  # type: ignore[assignment]

    procedure: Procedure = "repair"
    channel: Channel = "hotline"  # type: ignore[assignment]
    language: Language = "zh"  # type: ignore[assignment]
    customer_email: EmailStr | None = None  # type: ignore[assignment]
    urgent: bool = False
    reported_at: datetime | None = None
    # validate_default: a missing block is checked too (it is required for its procedure).
    complaint: ComplaintDetails | None = PydanticField(default=None, validate_default=True)
    goods: GoodsClaim | None = PydanticField(default=None, validate_default=True)

    @field_validator("goods")
    @classmethod
    def _goods_for_returns_only(cls, value: GoodsClaim | None, info: ValidationInfo) -> GoodsClaim | None:
        procedure = info.data.get("procedure")
        if procedure in ("return", "exchange") and value is None:
            raise ValueError(f"a {procedure} needs its goods details (delivered_on, order_number, reason)")
        if procedure not in ("return", "exchange") and value is not None:
            raise ValueError("goods details belong to procedures 'return' and 'exchange' only")
        return value

    @field_validator("complaint")
    @classmethod
    def _complaint_details(cls, value: ComplaintDetails | None, info: ValidationInfo) -> ComplaintDetails | None:
        procedure = info.data.get("procedure")
        if procedure == "complaint" and value is None:
            raise ValueError("a complaint needs its details (category, customer_demand)")
        if procedure != "complaint" and value is not None:
            raise ValueError("complaint details belong to procedure 'complaint' only")
        return value

    @field_validator("purchase_date")
    @classmethod
    def _purchase_not_in_future(cls, value: date | None) -> date | None:
        if value is not None and value > date.today():
            raise ValueError("purchase date lies in the future")
        return value


class Case(CaseBase, table=True):
    """One run of one procedure for one customer problem."""

    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, index=True, unique=True, max_length=40)
    procedure: str = Field(max_length=20, index=True)
    status: str = Field(default="open", max_length=20, index=True)
    urgent: bool = False
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    flow_run_id: str | None = Field(default=None, max_length=40)
    parent_case_id: int | None = Field(default=None, foreign_key="cases.id")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class CaseEvent(SQLModel, table=True):
    """One line of a case's history: what happened, when, by whom."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_case_event_key"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    key: str = Field(max_length=120, description="Idempotency key: a replayed step records nothing twice.")
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(max_length=40)
    actor: str = Field(default="system", max_length=120)
    summary: str = Field(max_length=1000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class CaseEventPublic(SQLModel):
    """A history line as the API shows it."""

    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, Any]
