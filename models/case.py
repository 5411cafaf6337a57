"""Cases (one per procedure instance) and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, EmailStr, ModelWrapValidatorHandler, field_validator, model_validator
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, aware_past_moment, plausible_date, utcnow

Channel = Literal["hotline", "website", "app", "email", "online_chat", "in_person", "letter", "agent", "other"]
Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)  # every text a person reads exists in each
DEFAULT_LANGUAGE: Language = "zh"  # the company's language (the seeds are Chinese)


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


class CaseCreate(CaseBase):
    """What a caller sends to open a case; validated strictly (422 names the field).

    `procedure` names a registered procedure; its typed facts come in the request block its declaration
    names (`goods`, `complaint`, ...) and are validated by its facts model, errors located under that block.
    """

    # "   " is not a name: strip first, so min_length rejects blank text.
    model_config = {"str_strip_whitespace": True}  # type: ignore[assignment]

    procedure: str = Field(default="repair", max_length=20)
    channel: Channel = "hotline"  # type: ignore[assignment]
    language: Language = "zh"  # type: ignore[assignment]
    customer_email: EmailStr | None = None  # type: ignore[assignment]
    urgent: bool = False
    reported_at: datetime | None = None
    facts: dict[str, Any] | None = Field(default=None, description="The procedure's typed facts, validated.")

    @model_validator(mode="wrap")
    @classmethod
    def _procedure_and_facts(cls, data: Any, handler: ModelWrapValidatorHandler[CaseCreate]) -> CaseCreate:
        from models.facts import split_facts

        return split_facts(cls, data, handler)

    @field_validator("purchase_date")
    @classmethod
    def _purchase_date_plausible(cls, value: date | None) -> date | None:
        return plausible_date(value, "purchase date")

    @field_validator("reported_at")
    @classmethod
    def _reported_at_aware_and_past(cls, value: datetime | None) -> datetime | None:
        return aware_past_moment(value, "reported_at")

    def typed_facts(self) -> Any:
        """The facts as the procedure's model (None for a procedure without a facts block)."""
        from aftersales.procedures.registry import get

        model = get(self.procedure).facts_model
        return model.model_validate(self.facts) if model is not None and self.facts is not None else None


class Case(CaseBase, table=True):
    """One run of one procedure for one customer problem."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_open", "closed_at", "procedure", "opened_at"),)  # the dashboard's open cases

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
    # Set when its flow run could not be brought back after the policy's tries (aftersales.sla.recovery);
    # cleared by `aftersales retry`. Operations see these cases on /ops.
    needs_attention_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    attention_error: str | None = Field(default=None, max_length=1000)
    # Who opened it: "key:<channel>" (an intake API key, which may read only the cases it opened) or
    # "staff:<id>" (a signed-in person); None for cases from the CLI, linked cases and older rows.
    opened_by: str | None = Field(default=None, max_length=80, index=True)


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


F = TypeVar("F")


class CaseSnapshot(BaseModel, Generic[F]):
    """What a flow reads of its case, typed: no customer contact data (000:69, 004:103)."""

    id: int
    number: str
    procedure: str
    language: str
    urgent: bool
    channel: str
    product_model: str
    serial_number: str | None
    problem_description: str
    purchase_date: date | None
    opened_at: datetime
    reported_at: datetime
    data: dict[str, Any]
    facts: F
