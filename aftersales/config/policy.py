"""The policy file: SLA figures, ladders, optional steps and thresholds, validated on load."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from aftersales.config.files import read_yaml
from aftersales.errors import ConfigurationError, KeyedValueError, dotted

Unit = Literal["natural_hours", "natural_days", "working_hours", "working_days"]


class Duration(BaseModel):
    """An amount of time on the business calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: float = Field(gt=0)
    unit: Unit

    @model_validator(mode="after")
    def _whole_days(self) -> Duration:
        # The calendar counts days whole; a fraction would only fail later, while a case runs.
        if self.unit.endswith("_days") and self.amount != int(self.amount):
            raise KeyedValueError("amount", f"{self.unit} must be a whole number, got {self.amount}")
        return self


class Rung(BaseModel):
    """One step up a ladder: the role told, and how long it has."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str
    within: Duration


class CalendarPolicy(BaseModel):
    """Working hours and where extra calendar data lives."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Shanghai"
    work_start: time = time(8, 30)
    work_end: time = time(17, 30)
    overrides_file: Path | None = None
    fallback_weekends: bool = False

    @model_validator(mode="after")
    def _hours_in_order(self) -> CalendarPolicy:
        if self.work_start >= self.work_end:
            raise KeyedValueError("work_start", "work_start must be before work_end")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise KeyedValueError("timezone", f"unknown time zone {self.timezone!r}") from exc
        return self


class WarrantyPolicy(BaseModel):
    """How long the warranty runs and what voids it."""

    model_config = ConfigDict(extra="forbid")
    months: int = Field(ge=0)
    counted_from: Literal["purchase_date"] = "purchase_date"
    man_made_damage_is_customer_responsibility: bool = True


class ReminderPolicy(BaseModel):
    """When reminders go out."""

    model_config = ConfigDict(extra="forbid")
    at_fraction: float = Field(default=0.75, gt=0, lt=1)
    hold_outside_working_hours: bool = True


class RecoveryPolicy(BaseModel):
    """How flow runs that died with their process are found and run again (aftersales.sla.recovery)."""

    model_config = ConfigDict(extra="forbid")
    max_tries: int = Field(default=3, ge=1)
    heartbeat_seconds: int = Field(default=30, ge=30)  # Prefect's minimum
    pending_minutes: float = Field(default=3, gt=0)
    silent_minutes: float = Field(default=3, gt=0)


class ClockPolicy(BaseModel):
    """How case clocks (the repair's resolution, a complaint's closing limit) count (aftersales.sla.clocks)."""

    model_config = ConfigDict(extra="forbid")
    # While a gate assigned to the customer is open the case clocks stand still, and resume with the time left.
    pause_while_waiting_on_customer: bool = True


class DashboardPolicy(BaseModel):
    """How the operations dashboard colours a waiting step."""

    model_config = ConfigDict(extra="forbid")
    due_soon_within: Duration = Duration(amount=4, unit="working_hours")
    escalation_days: int = Field(default=7, ge=1, description="Escalations of how many days the dashboard lists")


class FollowUpDays(BaseModel):
    """Window of the follow-up visit after hand-over."""

    model_config = ConfigDict(extra="forbid")
    earliest: int = Field(ge=0)
    latest: int = Field(ge=0)

    @model_validator(mode="after")
    def _in_order(self) -> FollowUpDays:
        if self.earliest > self.latest:
            raise KeyedValueError("earliest", "earliest must not be after latest")
        return self


class RepairPolicy(BaseModel):
    """Figures and switches of the repair procedure."""

    model_config = ConfigDict(extra="forbid")
    sla: dict[str, Duration]
    follow_up_visit_days: FollowUpDays
    max_qa_rounds: int = Field(default=3, ge=1)
    free_repair_needs_gm: bool = True
    fee_needs_finance_audit: bool = True
    low_satisfaction_at_most: int | None = Field(default=2, ge=1, le=5, description="None: no follow-up")
    # F1:164, F2:184: resolved "3个工作日内" of the request: one clock over every work step ("request"), or a
    # fresh resolution time per step ("step").
    resolution_counted_from: Literal["request", "step"] = "request"
    optional_steps: dict[str, bool] = Field(default_factory=dict)


class ComplaintPolicy(BaseModel):
    """Figures and switches of complaint handling with escalation."""

    model_config = ConfigDict(extra="forbid")
    sla: dict[str, Duration]
    close_within_domestic: Duration
    close_within_overseas: Duration
    immediate_categories: list[str] = Field(default_factory=list)
    # 004:407: grievances of these categories go to the deputy GM at once and are answered by letter (函告).
    deputy_gm_categories: list[str] = Field(default_factory=list)
    # F1:212-213: the related department verifies; category -> role (others: the gate's own role).
    verification_roles: dict[str, str] = Field(default_factory=dict)
    # 004:447: quality owns the overdue reaction; who is told when the closing limit passes.
    overdue_roles: list[str] = Field(default_factory=lambda: ["quality_inspection"])
    optional_steps: dict[str, bool] = Field(default_factory=dict)

    def verification_role(self, category: str, default: str) -> str:
        """The department that verifies a complaint of this category (F1:213 相关部门)."""
        return self.verification_roles.get(category, default)


class GatePolicy(BaseModel):
    """Who answers a gate, by when, and where it escalates."""

    model_config = ConfigDict(extra="forbid")
    role: str
    deadline: str | Duration
    deadline_urgent: str | Duration | None = None
    ladder: str | list[Rung] = Field(default_factory=list)
    quorum: int | None = Field(default=None, ge=1, description="Approvals needed from the role's members")


class ApprovalLevel(BaseModel):
    """Up to which amount a gate kind approves (F1:368 根据权限范围)."""

    model_config = ConfigDict(extra="forbid")
    up_to: float | None = Field(default=None, ge=0, description="CNY; None = no upper limit")
    gate: str


class ReturnsPolicy(BaseModel):
    """Figures of the return and exchange procedures."""

    model_config = ConfigDict(extra="forbid")
    sla: dict[str, Duration]
    approval_levels: list[ApprovalLevel] = Field(min_length=1)
    low_satisfaction_at_most: int | None = Field(default=2, ge=1, le=5, description="None: no follow-up")
    # A request that lacks a proof its profile requires: "review" registers it and refuses it through the
    # refusal review with the customer's notice; "reject" refuses the input at intake (HTTP 422).
    missing_proofs: Literal["review", "reject"] = "review"
    optional_steps: dict[str, bool] = Field(default_factory=dict)

    def approval_gate(self, amount: float) -> str:
        """The gate kind that approves this amount."""
        for level in self.approval_levels:
            if level.up_to is None or amount <= level.up_to:
                return level.gate
        raise ValueError(f"no approval level covers {amount}")


RecallClass = Literal["I", "II", "III"]


class RecallFanout(BaseModel):
    """How a recall's notices go out (aftersales.recall.fanout): batch size, rate, tries, claims, link life."""

    model_config = ConfigDict(extra="forbid")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    messages_per_second: float = Field(default=400, gt=0)
    connections: int = Field(default=1, ge=1, le=16)
    max_attempts: int = Field(default=3, ge=1, le=20)
    claim_stale_seconds: int = Field(default=120, ge=0)
    ack_link_days: int = Field(default=90, ge=1)
    children_per_pass: int = Field(default=50, ge=1, le=1000)


class MarketClock(BaseModel):
    """A market's regulatory clocks on a recall: customers notified by class, reports to the regulator."""

    model_config = ConfigDict(extra="forbid")
    regulator: str
    notify: dict[RecallClass, Duration]
    # None: at once (the China event report); a Duration: counted from the day the recall starts.
    report_within: Duration | None = None
    status_report_every: Duration | None = None
    cite: str = ""

    @field_validator("notify")
    @classmethod
    def _every_class(cls, notify: dict[str, Duration]) -> dict[str, Duration]:
        missing = [c for c in ("I", "II", "III") if c not in notify]
        if missing:
            raise ValueError(f"notify lacks class {', '.join(missing)}")
        return notify


class RecallProcedure(BaseModel):
    """The recall procedure's own figures (flows/recall.py): the acknowledgement wait, reminders, progress."""

    model_config = ConfigDict(extra="forbid")
    acknowledged_percent: float = Field(default=80, gt=0, le=100)
    acknowledgement_wait: Duration = Duration(amount=14, unit="natural_days")
    progress_every: Duration = Duration(amount=7, unit="natural_days")
    clock_roles: list[str] = Field(default_factory=lambda: ["quality_inspection", "general_manager"])
    progress_roles: list[str] = Field(default_factory=lambda: ["quality_inspection", "general_manager"])


class RecallPolicy(BaseModel):
    """The recall's figures: its fan-out and the regulatory clocks of every market the company sells in."""

    model_config = ConfigDict(extra="forbid")
    fanout: RecallFanout = RecallFanout()
    markets: dict[str, MarketClock] = Field(default_factory=dict)
    procedure: RecallProcedure = RecallProcedure()

    def market(self, name: str) -> MarketClock:
        """A market's clocks; a clear error for a market the policy does not know (decided at recall time)."""
        try:
            return self.markets[name]
        except KeyError:
            raise ConfigurationError(
                f"policy has no regulatory clocks for market {name!r} (known: {', '.join(sorted(self.markets))}); "
                "add it under recall.markets", key=f"recall.markets.{name}") from None


class ProcedurePolicy(BaseModel):
    """The section of a procedure that has no typed section of its own here: SLA figures, optional steps and
    whatever settings its flow reads (`policy.section("toy").limit`)."""

    model_config = ConfigDict(extra="allow")
    sla: dict[str, Duration] = Field(default_factory=dict)
    optional_steps: dict[str, bool] = Field(default_factory=dict)


BUILT_IN_SECTIONS = ("repair", "complaint", "returns")


class AccessPolicy(BaseModel):
    """Which roles of the staff directory may read what once signed in."""

    model_config = ConfigDict(extra="forbid")
    operations: list[str] = Field(
        default_factory=lambda: ["after_sales_supervisor", "after_sales_manager", "general_manager"], min_length=1,
        description="Roles that see the operations pages and every case.")


class Policy(BaseModel):
    """The whole policy file: shared sections, one section per procedure, and every gate."""

    # Other top-level sections are the sections of registered procedures (checked below), so a new
    # procedure brings its section without a change here; a typo is still refused.
    model_config = ConfigDict(extra="allow")
    version: int = 1
    calendar: CalendarPolicy = CalendarPolicy()
    warranty: WarrantyPolicy
    reminders: ReminderPolicy = ReminderPolicy()
    recovery: RecoveryPolicy = RecoveryPolicy()
    clocks: ClockPolicy = ClockPolicy()
    dashboard: DashboardPolicy = DashboardPolicy()
    ladders: dict[str, list[Rung]] = Field(default_factory=dict)
    repair: RepairPolicy
    complaint: ComplaintPolicy | None = None
    returns: ReturnsPolicy | None = None
    recall: RecallPolicy = RecallPolicy()
    gates: dict[str, GatePolicy]
    notify_on_factory_return: list[str] = Field(default_factory=list)
    access: AccessPolicy = AccessPolicy()
    _source: str | None = PrivateAttr(default=None)  # the file it was read from, for error messages

    @model_validator(mode="after")
    def _procedure_sections(self) -> Policy:
        from aftersales.procedures.registry import procedures

        known = {p.policy_section for p in procedures()}
        for key, value in list((self.model_extra or {}).items()):
            if key not in known:
                raise KeyedValueError((key,), f"unknown section: no procedure declares it (procedures' sections: "
                                              f"{', '.join(sorted(known))})")
            self.__pydantic_extra__[key] = ProcedurePolicy.model_validate(value)  # type: ignore[index]
        return self

    def section(self, name: str) -> BaseModel:
        """A procedure's section (ConfigurationError when the file lacks it)."""
        found = getattr(self, name, None)
        if not isinstance(found, BaseModel):
            raise ConfigurationError("the section is missing", file=self._source, key=name)
        return found

    @field_validator("gates")
    @classmethod
    def _gate_names_have_procedure(cls, gates: dict[str, GatePolicy]) -> dict[str, GatePolicy]:
        for name in gates:
            if "." not in name:
                raise KeyedValueError(name, f"gate name {name!r} must be '<procedure>.<step>'")
        return gates

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        for name in self.gates:
            self.gate_deadline(name, urgent=False)
            self.gate_deadline(name, urgent=True)
            self.ladder(name)
        return self

    def sla_section(self, procedure: str) -> dict[str, Duration]:
        """The named durations of one procedure."""
        section = getattr(self, procedure, None)
        return dict(getattr(section, "sla", {}) or {})

    def gate(self, name: str) -> GatePolicy:
        """The policy of one gate; a clear error if the flow asks for one the file lacks."""
        try:
            return self.gates[name]
        except KeyError as exc:
            raise ConfigurationError(
                f"policy has no gate {name!r} (add it under 'gates:')", file=self._source, key=f"gates.{name}"
            ) from exc

    def _duration(self, gate_name: str, field: str, ref: str | Duration) -> Duration:
        if isinstance(ref, Duration):
            return ref
        procedure = gate_name.split(".", 1)[0]
        named = self.sla_section(procedure)
        if ref not in named:
            raise KeyedValueError(
                ("gates", gate_name, field), f"gate {gate_name!r} names deadline {ref!r}, not found in {procedure}.sla"
            )
        return named[ref]

    def gate_deadline(self, name: str, *, urgent: bool) -> Duration:
        """How long a gate may wait before it is late."""
        gate = self.gate(name)
        if urgent and gate.deadline_urgent is not None:
            return self._duration(name, "deadline_urgent", gate.deadline_urgent)
        return self._duration(name, "deadline", gate.deadline)

    def ladder(self, name: str) -> list[Rung]:
        """The rungs a late gate climbs, in order."""
        gate = self.gate(name)
        if isinstance(gate.ladder, list):
            return gate.ladder
        if gate.ladder not in self.ladders:
            raise KeyedValueError(
                ("gates", name, "ladder"), f"gate {name!r} names ladder {gate.ladder!r}, not found under 'ladders:'"
            )
        return self.ladders[gate.ladder]

    def role_references(self) -> list[tuple[str, str]]:
        """Every role the file names, with the dotted key that names it (to check against the staff file)."""
        found = [(dotted(("gates", name, "role")), gate.role) for name, gate in self.gates.items()]
        for name, gate in self.gates.items():
            if isinstance(gate.ladder, list):
                found += [(dotted(("gates", name, "ladder", i, "role")), r.role) for i, r in enumerate(gate.ladder)]
        for ladder, rungs in self.ladders.items():
            found += [(dotted(("ladders", ladder, i, "role")), rung.role) for i, rung in enumerate(rungs)]
        found += [(f"notify_on_factory_return.{i}", role) for i, role in enumerate(self.notify_on_factory_return)]
        found += [(f"access.operations.{i}", role) for i, role in enumerate(self.access.operations)]
        if self.complaint is not None:
            found += [(f"complaint.verification_roles.{c}", r) for c, r in self.complaint.verification_roles.items()]
            found += [(f"complaint.overdue_roles.{i}", r) for i, r in enumerate(self.complaint.overdue_roles)]
        return found

    def step_enabled(self, procedure: str, step: str) -> bool:
        """Whether an optional step is switched on (on unless the file says otherwise)."""
        section = getattr(self, procedure, None)
        return bool(getattr(section, "optional_steps", {}).get(step, True))


def with_procedure_defaults(data: Any) -> Any:
    """The file's data over the defaults that procedures declare (`Procedure.policy_defaults`): the file wins."""
    from aftersales.procedures.registry import procedures

    if not isinstance(data, dict):
        return data
    merged = dict(data)
    for procedure in procedures():
        for key, value in procedure.policy_defaults.items():
            if key == "gates" and isinstance(merged.get("gates"), dict):
                merged["gates"] = {**value, **merged["gates"]}
            else:
                merged.setdefault(key, value)
    return merged


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate policy data, turning every problem into one ConfigurationError naming the file and each key."""
    try:
        policy = Policy.model_validate(with_procedure_defaults(data))
    except ValidationError as exc:
        raise ConfigurationError.from_validation(exc, file=source, what="policy") from exc
    policy._source = source
    return policy


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file."""
    return parse_policy(read_yaml(path, "policy file", missing="policy file not found"), str(path))


@lru_cache(maxsize=4)
def _cached_policy(path: str, mtime: float) -> Policy:
    return load_policy(Path(path))


def get_policy() -> Policy:
    """The configured policy, re-read when the file changes (managers edit it while cases run)."""
    from aftersales.config.settings import get_settings

    path = get_settings().policy_file
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise ConfigurationError("policy file not found", file=path) from exc
    return _cached_policy(str(path), mtime)
