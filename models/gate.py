"""Human gates (durable waits) and the single-use links that answer them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class Gate(SQLModel, table=True):
    """One question a flow waits on, assigned to a person or role, with a deadline."""

    __tablename__ = "gates"
    # The sweep reads only gates whose next action is due: (status, due_at) serves that range scan.
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_gate_case_key"),
                      Index("ix_gates_status_due_at", "status", "due_at"),
                      # The operations dashboard (aftersales.cases.dashboard) reads waiting steps from these alone.
                      # Counts group by step and holder straight from the index (no sort); pages list by deadline.
                      Index("ix_gates_waiting", "status", "kind", "assignee_role", "assignee_person", "deadline_at",
                            "opened_at", "case_id", "rung"),
                      Index("ix_gates_status_deadline_at", "status", "deadline_at", "kind", "case_id"),
                      Index("ix_gates_case_status", "case_id", "status"),
                      Index("ix_gates_answered_at", "answered_at", "deadline_at", "kind", "case_id"))

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    key: str = Field(max_length=80, description="Unique per case, e.g. 'triage' or 'qa_test#2'.")
    kind: str = Field(max_length=40, description="Policy name of the gate, e.g. 'repair.triage'.")
    input_model: str = Field(max_length=80, description="Name of the RunInput class it asks for.")
    flow_run_id: str | None = Field(default=None, max_length=40)
    assignee_role: str = Field(max_length=60)
    assignee_person: str | None = Field(default=None, max_length=60)
    customer_gate: bool = False
    rung: int = 0
    status: str = Field(default="waiting", max_length=20, index=True)
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    remind_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reminded_rung: int = Field(default=-1, description="Rung whose reminder went out (sent once per rung).")
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()),
                                    description="When the sweep must next act: the reminder, else the deadline.")
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    answered_by: str | None = Field(default=None, max_length=120)
    answered_person: str | None = Field(default=None, max_length=60, description="Person id behind a link answer.")
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    answered_via: str | None = Field(default=None, max_length=40)
    resumed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    group_id: int | None = Field(default=None, foreign_key="gate_groups.id", index=True,
                                 description="The group this gate is a member of (a wait in parallel).")
    series_id: int | None = Field(default=None, foreign_key="gate_series.id", index=True,
                                  description="The recurring wait this gate is one day's occurrence of.")


class GateGroup(SQLModel, table=True):
    """Several gates a run waits on as one (aftersales.gates.groups): joined once its join condition holds."""

    __tablename__ = "gate_groups"
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_gate_group_case_key"),
                      Index("ix_gate_groups_status", "status", "resumed_at"))

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    key: str = Field(max_length=80, description="Unique per case, e.g. 'before_departure'.")
    flow_run_id: str | None = Field(default=None, max_length=40)
    join: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False),
                            description="Member gate keys that must be answered; empty: every member.")
    status: str = Field(default="waiting", max_length=20, description="waiting, then joined (once).")
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    joined_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resumed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class GateSeries(SQLModel, table=True):
    """A recurring wait (aftersales.gates.series): one gate per working day of a calendar until a report ends it."""

    __tablename__ = "gate_series"
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_gate_series_case_key"),
                      Index("ix_gate_series_status", "status", "resumed_at"))

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    key: str = Field(max_length=60, description="Unique per case; each day's gate is '<key>@<date>'.")
    kind: str = Field(max_length=40, description="Policy gate kind of each day's gate (role, ladder).")
    input_model: str = Field(max_length=80)
    flow_run_id: str | None = Field(default=None, max_length=40)
    assignee_role: str | None = Field(default=None, max_length=60, description="Replaces the policy's role.")
    assignee_person: str | None = Field(default=None, max_length=60)
    country: str = Field(max_length=2, description="ISO 3166 country whose working days count (holidays).")
    subdiv: str | None = Field(default=None, max_length=10)
    timezone: str = Field(max_length=60, description="IANA time zone of the working days, e.g. Europe/Berlin.")
    done_field: str = Field(default="done", max_length=40, description="The boolean answer field that ends it.")
    first_day: str = Field(max_length=10, description="ISO date of the first day that may need a gate.")
    last_day: str | None = Field(default=None, max_length=10, description="ISO date of the newest day's gate.")
    status: str = Field(default="active", max_length=20, description="active, then ended (once).")
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resumed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class GateToken(SQLModel, table=True):
    """A signed link's server-side half: makes it single-use and revocable."""

    __tablename__ = "gate_tokens"

    jti: str = Field(primary_key=True, max_length=40)
    gate_id: int = Field(foreign_key="gates.id", index=True)
    person_id: str = Field(max_length=60)
    issued_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class GateVote(SQLModel, table=True):
    """One member's vote on a gate that needs a quorum (总经理办公会, F1:368)."""

    __tablename__ = "gate_votes"
    __table_args__ = (UniqueConstraint("gate_id", "person_id", name="uq_vote_gate_person"),)

    id: int | None = Field(default=None, primary_key=True)
    gate_id: int = Field(foreign_key="gates.id", index=True)
    person_id: str = Field(max_length=60)
    approved: bool
    comment: str = Field(default="", max_length=2000)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Escalation(SQLModel, table=True):
    """A rung climbed: who was told, why, when."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_at", "at"),)  # the dashboard lists the last days'

    id: int | None = Field(default=None, primary_key=True)
    gate_id: int = Field(foreign_key="gates.id", index=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    from_role: str = Field(max_length=60)
    to_role: str = Field(max_length=60)
    rung: int
    reason: str = Field(max_length=300)
    told: str = Field(default="", max_length=500)
