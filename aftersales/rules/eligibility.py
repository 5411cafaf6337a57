"""Return (退货) and exchange (换货) eligibility under F1:311-318 and the 三包 rules; pure, no I/O at import.

Lines: F1 = seed 001 (`../shared/seeds/001_2b037511fb51adf8.txt`, spec §3-§4 of seed-rules-000-002.md);
"regulations.md 三包 ¶n" = the n-th point of the 三包 section of `../shared/spec/regulations.md`.

Windows are natural (calendar) days counted from the day AFTER delivery (F1:312 "自货物交付之次日起7天
(按自然日计算)内"): goods delivered on 1 March have 2 March as day 1, so 8 March (delivery + 7) is the last
day for a return and 9 March is refused; the last exchange day is delivery + 15. A request on the delivery
day itself is inside the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError, model_validator

from aftersales.errors import ConfigurationError, KeyedValueError

Kind = Literal["return", "exchange"]
Outcome = Literal["return", "exchange", "repair"]
GoodsCategory = Literal["durable", "fresh", "non_fresh"]
KINDS: tuple[Kind, ...] = ("return", "exchange")

SANBAO_7_DAYS = "regulations.md 三包 ¶1"
SANBAO_15_DAYS = "regulations.md 三包 ¶2"
SANBAO_TWO_REPAIRS = "regulations.md 三包 ¶3"
SANBAO_RESTART = "regulations.md 三包 ¶4"
_REPAIRS_REMEDIES: tuple[Outcome, ...] = ("exchange", "return")  # 三包 ¶3 names exchange before refund


class ProfileFileError(ConfigurationError, ValueError):
    """The eligibility profiles file cannot be read or does not validate (a ConfigurationError naming file and key).

    Still a ValueError for callers that caught it as one.
    """


@dataclass(frozen=True)
class Reason:
    """One rule that decided: a stable code, the customer's text in both languages, and the line it rests on."""

    code: str
    text_en: str
    text_zh: str
    source: str
    remedies: tuple[Outcome, ...] = ()  # for a grant: the remedies it allows (a condition may allow both kinds)

    def text(self, language: Literal["en", "zh"]) -> str:
        """The text in the customer's language."""
        return self.text_zh if language == "zh" else self.text_en


@dataclass(frozen=True)
class Decision:
    """Exactly one holds: `eligible`, a refusal (`refusals`), or a pending test (`needs`)."""

    eligible: bool
    offered: tuple[Outcome, ...]  # every remedy the rules allow, in the order the law names them
    grants: tuple[Reason, ...] = ()  # why each offered remedy is allowed
    refusals: tuple[Reason, ...] = ()  # why the requested kind is refused (empty when eligible or pending)
    needs: tuple[Reason, ...] = ()  # what must happen before the requested kind can be decided

    @property
    def decided(self) -> bool:
        return not self.needs

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.grants + self.refusals + self.needs


class Claim(BaseModel):
    """The request and the facts the rules read; every boolean defaults to "not established"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind  # F1:312 退货要求 / 换货要求
    delivered_on: date  # F1:312 货物交付: of the goods the claim is about (after an exchange, the replacement)
    requested_on: date  # F1:312, F1:316(1): the day the request was made
    requested_at: datetime | None = None  # F1:318: the moment, needed to time a request against signed_at
    goods_category: GoodsCategory = "durable"  # F1:311 终端产品; F1:318 生鲜类 (fresh) / 非生鲜类 (non_fresh)
    signed_at: datetime | None = None  # F1:318 签收; None = not signed yet, i.e. still at delivery
    in_warranty: bool = False  # regulations.md 三包 ¶3, F1:38 (from rules.warranty.decide_warranty)
    unused: bool = False  # F1:314(1), F1:315(1) 商品未使用
    manufacturing_defect: bool = False  # F1:314(1), F1:315(1) 明显的制造缺陷
    non_man_made_quality_problem: bool = False  # F1:315(2) 非人为的产品质量缺陷; 三包 ¶1-2 性能故障; F1:318 质量问题
    fails_to_start_per_manual: bool = False  # F1:315(2) 根据说明书或在技术人员的指导下无法正常启动
    not_as_described: bool = False  # F1:315(5) 与该货物的描述有明显不符; F1:318 质量、品牌与下单不符
    quantity_differs: bool = False  # F1:318 货品数量不足、冗余或无货
    transit_damage_found_at_delivery: bool = False  # F1:315(4) 在送货员面前拆包…运输导致的破损; F1:318 包装破损
    packaging_complete: bool = False  # F1:314(2), F1:316(2) 外包装、附件、赠品、说明书完整; F1:318 完整的外包装
    man_made_soiling: bool = False  # F1:316(2) 产品外观存在人为原因导致的污损
    man_made_damage: bool = False  # F1:316(4) 碰撞、烧毁、私自改装、进异物、不正确安装、未按说明书、操作不当
    labels_tampered: bool = False  # F1:316(5) 撕毁、涂改标签、机器序列号、防水防拆标记
    force_majeure: bool = False  # F1:316(6) 火灾、水灾、雷击、交通事故
    damaged_in_transit_not_refused_on_delivery: bool = False  # F1:316(7) 没有在收货时当场要求送货人员退回
    quality_dept_found_no_defect: bool | None = None  # F1:316(8) 质量部门检测; None = not tested yet
    consumer_returned_goods_not_intact: bool = False  # F1:316(9) 终端消费者退回的商品不完好
    has_purchase_voucher: bool = False  # F1:316(3) 合法的购买凭证或单据; F1:318 收货确认单及发票收据
    voucher_forged: bool = False  # F1:316(3) 对单据进行了伪造或涂改
    previous_exchanges: NonNegativeInt = 0  # F1:314(3), F1:315(3) 经过一次换货
    in_warranty_repairs_same_serial: NonNegativeInt = 0  # 三包 ¶3; counted from the system's own repair cases
    still_failing: bool = False  # F1:314(3), F1:315(3), 三包 ¶3: the fault persists after the exchange/repairs
    opened_or_used: bool = False  # F1:318 已经开封或已使用部分或全部
    customer_wrong_order: bool = False  # F1:318 由于您下错单
    storage_problem: bool = False  # F1:318 由于您个人原因或保管不当造成质量问题
    returns_on_this_order: NonNegativeInt = 0  # F1:318 earlier returns/exchanges on the same order
    # Proofs the profile requires that the request lacks, other than the purchase voucher (that one the reviewer
    # judges, `has_purchase_voucher`: a paper voucher shown at the review counts). F1:318 三 照片.
    missing_proofs: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent_times(self) -> Claim:
        if self.requested_on < self.delivered_on:
            raise ValueError("requested_on is before delivered_on")
        if self.signed_at is not None and self.requested_at is None:
            raise ValueError("requested_at is needed to time a request against signed_at (F1:318)")
        if self.requested_at is not None:
            if self.requested_at.date() != self.requested_on:
                raise ValueError("requested_at falls on another day than requested_on")
            if self.signed_at is not None and (self.signed_at.tzinfo is None) != (self.requested_at.tzinfo is None):
                raise ValueError("signed_at and requested_at must both carry a time zone, or neither")
        return self

    def at_delivery(self) -> bool:
        """Raised on the spot: before or at signing (F1:318 当场), or nothing signed yet."""
        return self.signed_at is None or (self.requested_at is not None and self.requested_at <= self.signed_at)


# ---- the rule tables: texts and lines live here, which ones apply is the profile's data ------------


@dataclass(frozen=True)
class Condition:
    """A ground that allows a return and/or an exchange; `quality_claim` ones wait for the quality test."""

    sources: dict[str, str]  # kind -> line; a condition may be listed only for the kinds it has a line for
    text_en: str
    text_zh: str
    holds: Callable[[Claim], bool]
    quality_claim: bool = False


@dataclass(frozen=True)
class Ground:
    """A refusal ground (F1:316, F1:318)."""

    source: str
    text_en: str
    text_zh: str
    applies: Callable[[Claim], bool]
    kinds: frozenset[str] = frozenset(KINDS)
    bars_repairs_remedy: bool = False  # also takes the goods out of the warranty the 三包 ¶3 remedy rests on
    against_quality_claims_only: bool = False


def _quality_problem(c: Claim) -> bool:
    return c.manufacturing_defect or c.non_man_made_quality_problem or c.fails_to_start_per_manual


ConditionCode = Literal[
    "performance_fault",
    "unused_with_manufacturing_defect",
    "complete_and_resaleable",
    "fails_to_start_or_quality_defect",
    "still_failing_after_one_exchange",
    "transit_damage_found_at_delivery",
    "differs_from_description",
    "quality_problem",
    "differs_from_order_raised_at_delivery",
    "damaged_or_incomplete_raised_at_delivery",
    "quantity_differs_raised_at_delivery",
]

CONDITIONS: dict[str, Condition] = {
    "performance_fault": Condition(
        {"return": SANBAO_7_DAYS, "exchange": SANBAO_15_DAYS},
        "The product has a performance fault within the statutory period.",
        "产品在三包规定期限内出现性能故障。",
        _quality_problem,
        quality_claim=True,
    ),
    "unused_with_manufacturing_defect": Condition(
        {"return": "F1:314(1)", "exchange": "F1:315(1)"},
        "The goods are unused and have an obvious manufacturing defect.",
        "商品未使用且存在明显的制造缺陷。",
        lambda c: c.unused and c.manufacturing_defect,
        quality_claim=True,
    ),
    "complete_and_resaleable": Condition(
        {"return": "F1:314(2)"},
        "The goods are unused and complete (outer packaging, accessories, gifts, manual), with no damage by use.",
        "产品外包装、附件、赠品、说明书完整,没有任何人为损坏,不影响二次销售。",
        lambda c: c.unused and c.packaging_complete and not (c.man_made_damage or c.man_made_soiling),
    ),
    "fails_to_start_or_quality_defect": Condition(
        {"exchange": "F1:315(2)"},
        "The product does not start as the manual or a technician instructs, or has a quality defect "
        "not caused by use.",
        "产品拆包后根据说明书或在技术人员的指导下无法正常启动,或存在非人为的产品质量缺陷。",
        _quality_problem,
        quality_claim=True,
    ),
    "still_failing_after_one_exchange": Condition(
        {"return": "F1:314(3)", "exchange": "F1:315(3)"},
        "The goods were already exchanged once and still have a quality problem not caused by use.",
        "货物经过一次换货,仍存在非人为导致的质量问题。",
        lambda c: c.previous_exchanges >= 1 and c.still_failing,
        quality_claim=True,
    ),
    "transit_damage_found_at_delivery": Condition(
        {"exchange": "F1:315(4)"},
        "Transport damage was found when the goods were unpacked in front of the delivery person.",
        "收货时在送货员面前拆包检查,发现产品有运输导致的破损。",
        lambda c: c.transit_damage_found_at_delivery,
    ),
    "differs_from_description": Condition(
        {"exchange": "F1:315(5)"},
        "The goods received obviously differ from their description.",
        "实际收到的货物与该货物的描述有明显不符之处。",
        lambda c: c.not_as_described,
    ),
    "quality_problem": Condition(
        {"return": "F1:318", "exchange": "F1:318"},
        "The goods have a quality problem.",
        "货品存在质量问题。",
        lambda c: c.manufacturing_defect or c.non_man_made_quality_problem,
    ),
    "differs_from_order_raised_at_delivery": Condition(
        {"return": "F1:318", "exchange": "F1:318"},
        "The goods differ from the order in quality or brand, raised at delivery.",
        "货品的质量、品牌与下单不符,已在送达时当场提出。",
        lambda c: c.not_as_described and c.at_delivery(),
    ),
    "damaged_or_incomplete_raised_at_delivery": Condition(
        {"return": "F1:318", "exchange": "F1:318"},
        "Broken packaging or missing gifts were raised at delivery.",
        "货品不含赠品或包装破损,已在送达时当场提出。",
        lambda c: c.transit_damage_found_at_delivery and c.at_delivery(),
    ),
    "quantity_differs_raised_at_delivery": Condition(
        {"return": "F1:318", "exchange": "F1:318"},
        "A short, surplus or missing quantity was raised at delivery.",
        "货品数量不足、冗余或无货,已在送达时当场提出。",
        lambda c: c.quantity_differs and c.at_delivery(),
    ),
}

RefusalGround = Literal[
    "incomplete_goods_or_packaging",
    "no_purchase_voucher",
    "voucher_forged_or_altered",
    "man_made_damage",
    "labels_or_serial_tampered",
    "force_majeure",
    "transit_damage_not_refused_on_delivery",
    "quality_test_found_no_defect",
    "returned_goods_not_intact",
    "opened_or_used",
    "customer_wrong_order",
    "customer_caused_or_storage_problem",
    "missing_required_materials",
    "required_proofs_missing",
]

GROUNDS: dict[str, Ground] = {
    "incomplete_goods_or_packaging": Ground(
        "F1:316(2)",
        "The goods, outer packaging, accessories, gifts or manual are incomplete, or the product's appearance "
        "is soiled by use.",
        "退换货品不全,外包装、附件、赠品、说明书不完整,或产品外观存在人为原因导致的污损。",
        lambda c: not c.packaging_complete or c.man_made_soiling,
    ),
    "no_purchase_voucher": Ground(
        "F1:316(3)",
        "No valid purchase voucher or document was provided.",
        "退换货时无法提供合法的购买凭证或单据。",
        lambda c: not c.has_purchase_voucher,
        bars_repairs_remedy=True,
    ),
    "voucher_forged_or_altered": Ground(
        "F1:316(3)",
        "The purchase voucher or document has been forged or altered.",
        "购买凭证或单据经过伪造或涂改。",
        lambda c: c.voucher_forged,
        bars_repairs_remedy=True,
    ),
    "man_made_damage": Ground(
        "F1:316(4)",
        "The damage was not caused by the product's quality (collision, burning, modification, foreign matter, "
        "wrong installation, use against the manual or misoperation).",
        "产品损坏非产品本身质量问题所致(碰撞、烧毁、私自改装、进异物、不正确安装、未按说明书指引使用或操作不当)。",
        lambda c: c.man_made_damage,
        bars_repairs_remedy=True,
    ),
    "labels_or_serial_tampered": Ground(
        "F1:316(5)",
        "Labels, the serial number or the waterproof/tamper marks have been torn or altered.",
        "标签、机器序列号或防水防拆标记已被撕毁或涂改。",
        lambda c: c.labels_tampered,
        bars_repairs_remedy=True,
    ),
    "force_majeure": Ground(
        "F1:316(6)",
        "The product was damaged by force majeure (fire, flood, lightning, traffic accident).",
        "产品因不可抗力因素(如火灾、水灾、雷击、交通事故等)损坏。",
        lambda c: c.force_majeure,
        bars_repairs_remedy=True,
    ),
    "transit_damage_not_refused_on_delivery": Ground(
        "F1:316(7)",
        "The goods were damaged, but their return was not requested from the delivery person on receipt.",
        "货物出现破损,但没有在收货时当场要求送货人员退回。",
        lambda c: c.damaged_in_transit_not_refused_on_delivery,
        kinds=frozenset({"return"}),
    ),
    "quality_test_found_no_defect": Ground(
        "F1:316(8)",
        "The company's quality department tested the goods and found no quality problem.",
        "货物经公司质量部门检测,本身不存在质量问题。",
        lambda c: c.quality_dept_found_no_defect is True,
        kinds=frozenset({"exchange"}),
        against_quality_claims_only=True,
    ),
    "returned_goods_not_intact": Ground(
        "F1:316(9)",
        "The goods sent back are not intact.",
        "退回的商品不完好。",
        lambda c: c.consumer_returned_goods_not_intact,
    ),
    "opened_or_used": Ground(
        "F1:318",
        "Goods that have been opened or partly or fully used cannot be returned or exchanged.",
        "已经开封或已使用部分或全部的货品,不享受退换货服务。",
        lambda c: c.opened_or_used,
    ),
    "customer_wrong_order": Ground(
        "F1:318",
        "The goods were ordered by mistake; such a loss is borne by the customer.",
        "由于您下错单造成的损失,由您自行承担,不享受退换货服务。",
        lambda c: c.customer_wrong_order,
    ),
    "customer_caused_or_storage_problem": Ground(
        "F1:318",
        "The quality problem was caused by the customer or by improper storage.",
        "由于您个人原因或保管不当造成质量问题的商品,不享受退换货服务。",
        lambda c: c.storage_problem or c.man_made_damage,
    ),
    "missing_required_materials": Ground(
        "F1:318",
        "The delivery confirmation slip, the invoice or receipt, or the complete outer packaging is missing.",
        "未能提供收货确认单、发票收据或完整的外包装。",
        lambda c: not c.has_purchase_voucher or not c.packaging_complete,
    ),
    "required_proofs_missing": Ground(
        "F1:318",  # 三、退换货必要条件
        "Clear photos of the problem, or another document a return or exchange of these goods requires, were "
        "not provided.",
        "未能提供问题货品相关问题细节足够清晰的照片或其他退换货必要材料。",
        lambda c: bool(c.missing_proofs),
    ),
}


@dataclass(frozen=True)
class _Text:
    code: str
    source: str
    en: str
    zh: str

    def reason(self, remedies: tuple[Outcome, ...] = (), **values: object) -> Reason:
        return Reason(
            self.code, self.en.format(**values), self.zh.format(**values), self.source.format(**values), remedies
        )


_OUTSIDE_WINDOW = {
    "return": _Text(
        "outside_return_window",
        "F1:312, F1:316(1)",
        "Returns are accepted within {days} days from the day after delivery ({delivered}); the last day was "
        "{last_day}.",
        "退货须在货物交付({delivered})之次日起{days}天内(按自然日计算)提出,最后一天为{last_day}。",
    ),
    "exchange": _Text(
        "outside_exchange_window",
        "F1:312, F1:316(1)",
        "Exchanges are accepted within {days} days from the day after delivery ({delivered}); the last day was "
        "{last_day}.",
        "换货须在货物交付({delivered})之次日起{days}天内提出,最后一天为{last_day}。",
    ),
}
_AFTER_SIGNING = _Text(
    "after_signing_deadline",
    "F1:318",
    "These goods are checked at delivery; once signed for they cannot be returned or exchanged.",
    "此类货品须当场验收,签收后不再享受退换货服务。",
)
_HOURS_AFTER_SIGNING = _Text(
    "after_signing_deadline",
    "F1:318",
    "Returns and exchanges of these goods are accepted within {hours} hours after signing ({signed}).",
    "此类货品自签收({signed})后{hours}小时内受理退换货,现已超过时限。",
)
_ONE_PER_ORDER = _Text(
    "order_already_returned_or_exchanged",
    "F1:318",
    "This order has already had {count} return or exchange; normally an order allows {limit}.",
    "通常情况下,一张订单只能进行{limit}次退换货操作,本订单已办理{count}次。",
)
_NO_CONDITION = {
    "return": _Text(
        "no_return_condition_met",
        "{source}",
        "None of the conditions for a return applies.",
        "不符合任何一项退货条件。",
    ),
    "exchange": _Text(
        "no_exchange_condition_met",
        "{source}",
        "None of the conditions for an exchange applies.",
        "不符合任何一项换货条件。",
    ),
}
_NEEDS_QUALITY_TEST = _Text(
    "needs_quality_test",
    "F1:316(8)",
    "The company's quality department must test the goods before this quality claim can be decided.",
    "该质量问题须经公司质量部门检测后方可作出决定。",
)
_REPAIR_CHOICE = _Text(
    "repair_is_also_a_choice",
    f"{SANBAO_7_DAYS}-2",
    "Because of the quality problem you may also choose a repair.",
    "因存在质量问题,您也可以选择维修。",
)
_REPAIRED_STILL_FAILING = _Text(
    "still_failing_after_repairs_in_warranty",
    SANBAO_TWO_REPAIRS,
    "The product has been repaired {repairs} times under warranty and still fails: you may choose an exchange "
    "or a refund.",
    "产品在保修期内已维修{repairs}次仍不能正常使用,您可以选择换货或退货。",
)


# ---- the profile (data) ---------------------------------------------------------------------------


ProofKind = Literal["purchase_voucher", "photo", "delivery_confirmation", "invoice"]  # models/goods.py ProofKind


class ProofRequirement(BaseModel):
    """A proof a request must carry under a profile, for which reasons (None: every reason), with its line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProofKind
    source: str = Field(min_length=1)
    reasons: tuple[str, ...] | None = None

    def applies(self, reason: str) -> bool:
        return self.reasons is None or reason in self.reasons


class Profile(BaseModel):
    """One policy variant, loaded from eligibility-profiles.yaml; which rules apply is data, not code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    goods_categories: tuple[GoodsCategory, ...] = Field(min_length=1)
    return_window_days: NonNegativeInt | None  # natural days from the day after delivery; None = no day window
    exchange_window_days: NonNegativeInt | None
    hours_after_signing: dict[GoodsCategory, NonNegativeInt] = Field(default_factory=dict)  # 0 = at delivery only
    return_conditions: tuple[ConditionCode, ...] = Field(min_length=1)
    exchange_conditions: tuple[ConditionCode, ...] = Field(min_length=1)
    refusal_grounds: tuple[RefusalGround, ...]
    max_returns_per_order: PositiveInt | None = None
    max_repairs_before_exchange: PositiveInt | None  # None = the 三包 repairs remedy does not apply
    repair_among_choices: bool = False
    warranty_restarts_after_exchange: bool
    required_proofs: tuple[ProofRequirement, ...] = ()  # what a request must carry (F1:316(3); F1:318 三)

    @model_validator(mode="after")
    def _coherent(self) -> Profile:
        for kind, codes in (("return", self.return_conditions), ("exchange", self.exchange_conditions)):
            wrong = [code for code in codes if kind not in CONDITIONS[code].sources]
            if wrong:
                raise KeyedValueError(
                    f"{kind}_conditions", f"{kind}_conditions lists {', '.join(wrong)}, which has no {kind} line"
                )
        for name, items in (
            ("return_conditions", self.return_conditions),
            ("exchange_conditions", self.exchange_conditions),
            ("refusal_grounds", self.refusal_grounds),
        ):
            if len(set(items)) != len(items):
                raise KeyedValueError(name, f"{name} lists an entry twice")
        stray = sorted(set(self.hours_after_signing) - set(self.goods_categories))
        if stray:
            raise KeyedValueError(
                "hours_after_signing", f"hours_after_signing names {', '.join(stray)}, not in goods_categories"
            )
        for category in self.goods_categories:
            for kind in KINDS:
                if self.window_days(kind) is None and category not in self.hours_after_signing:
                    raise KeyedValueError(
                        f"{kind}_window_days", f"no time limit for a {kind} of {category} goods: set a window or hours"
                    )
        return self

    def window_days(self, kind: Kind) -> int | None:
        return self.return_window_days if kind == "return" else self.exchange_window_days

    def conditions(self, kind: Kind) -> tuple[str, ...]:
        return self.return_conditions if kind == "return" else self.exchange_conditions


def load_profiles(path: str | Path) -> dict[str, Profile]:
    """Read and validate every profile in the file; any problem is a ProfileFileError naming the file and key."""
    import yaml  # here, not at module top: the rules import only the standard library, pydantic and our errors

    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileFileError(f"cannot read eligibility profiles: {exc.strerror or exc}", file=path) from exc
    except yaml.YAMLError as exc:
        raise ProfileFileError.from_yaml(exc, file=path) from exc
    if not isinstance(data, dict):
        raise ProfileFileError("expected a mapping with 'version: 1'", file=path)
    if data.get("version") != 1:
        raise ProfileFileError("expected a mapping with 'version: 1'", file=path, key="version")
    entries = data.get("profiles")
    if not isinstance(entries, dict) or not entries:
        raise ProfileFileError("expected a non-empty 'profiles' mapping of name -> profile", file=path, key="profiles")
    profiles: dict[str, Profile] = {}
    for name, body in entries.items():
        try:
            profiles[str(name)] = Profile.model_validate(body)
        except ValidationError as exc:
            raise ProfileFileError.from_validation(
                exc, file=path, what="eligibility profile", at=("profiles", str(name))
            ) from exc
    return profiles


# ---- deciding -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    granted: bool = False
    pending: bool = False
    on_quality: bool = False
    grants: tuple[Reason, ...] = ()
    refusals: tuple[Reason, ...] = ()


def _time_limits(kind: Kind, claim: Claim, profile: Profile) -> list[Reason]:
    refusals: list[Reason] = []
    days = profile.window_days(kind)
    if days is not None:
        last_day = claim.delivered_on + timedelta(days=days)  # day 1 is the day after delivery (F1:312)
        if claim.requested_on > last_day:
            refusals.append(_OUTSIDE_WINDOW[kind].reason(days=days, delivered=claim.delivered_on, last_day=last_day))
    hours = profile.hours_after_signing.get(claim.goods_category)
    if hours is not None and claim.signed_at is not None and claim.requested_at is not None:
        if claim.requested_at > claim.signed_at + timedelta(hours=hours):
            text = _HOURS_AFTER_SIGNING if hours else _AFTER_SIGNING
            refusals.append(text.reason(hours=hours, signed=claim.signed_at.isoformat(timespec="minutes")))
    limit = profile.max_returns_per_order
    if limit is not None and claim.returns_on_this_order >= limit:
        refusals.append(_ONE_PER_ORDER.reason(count=claim.returns_on_this_order, limit=limit))
    return refusals


def _ground_reason(code: str) -> Reason:
    ground = GROUNDS[code]
    return Reason(code, ground.text_en, ground.text_zh, ground.source)


def _assess(kind: Kind, claim: Claim, profile: Profile) -> _Route:
    """The company's windows (F1:312-316, F1:318) for one kind."""
    tested = claim.quality_dept_found_no_defect
    holding = [(code, CONDITIONS[code]) for code in profile.conditions(kind) if CONDITIONS[code].holds(claim)]
    firm = [(code, cond) for code, cond in holding if not cond.quality_claim or tested is False]
    other_ground = any(not cond.quality_claim for _, cond in holding)
    refusals = _time_limits(kind, claim, profile)
    for code in profile.refusal_grounds:
        ground = GROUNDS[code]
        if kind in ground.kinds and ground.applies(claim):
            if not (ground.against_quality_claims_only and other_ground):
                refusals.append(_ground_reason(code))
    if refusals:
        return _Route(refusals=tuple(refusals))
    if firm:
        grants = tuple(Reason(code, cond.text_en, cond.text_zh, cond.sources[kind], (kind,)) for code, cond in firm)
        return _Route(granted=True, on_quality=any(cond.quality_claim for _, cond in firm), grants=grants)
    if tested is None and any(cond.quality_claim for _, cond in holding):
        return _Route(pending=True)
    lines = dict.fromkeys(CONDITIONS[code].sources[kind].split("(")[0] for code in profile.conditions(kind))
    return _Route(refusals=(_NO_CONDITION[kind].reason(source=", ".join(lines)),))


def _assess_repairs_remedy(claim: Claim, profile: Profile) -> _Route | None:
    """三包 ¶3: still failing after N repairs in warranty gives exchange or refund, whatever the windows."""
    limit = profile.max_repairs_before_exchange
    if limit is None or not (claim.in_warranty and claim.still_failing):
        return None
    if claim.in_warranty_repairs_same_serial < limit:
        return None
    # The windows and the packaging/intactness grounds are company terms for the 7/15-day regime; only
    # the grounds that also void the warranty (F1:8, F1:38-39) bar this statutory remedy.
    refusals = [
        _ground_reason(code)
        for code in profile.refusal_grounds
        if GROUNDS[code].bars_repairs_remedy and GROUNDS[code].applies(claim)
    ]
    if claim.quality_dept_found_no_defect is True:
        refusals.append(_ground_reason("quality_test_found_no_defect"))
    if refusals:
        return _Route(refusals=tuple(refusals))
    if claim.quality_dept_found_no_defect is None:
        return _Route(pending=True)
    granted = _REPAIRED_STILL_FAILING.reason(_REPAIRS_REMEDIES, repairs=claim.in_warranty_repairs_same_serial)
    return _Route(granted=True, grants=(granted,))


def decide(claim: Claim, profile: Profile) -> Decision:
    """Whether the requested return or exchange is allowed, what else is offered, and why (lines cited)."""
    if claim.goods_category not in profile.goods_categories:
        raise ValueError(f"this profile covers {', '.join(profile.goods_categories)} goods, not {claim.goods_category}")
    routes = {kind: _assess(kind, claim, profile) for kind in KINDS}
    repairs = _assess_repairs_remedy(claim, profile)
    # 三包 ¶1-2 name return, exchange, repair in that order; ¶3 names exchange before refund.
    offered: list[Outcome] = [kind for kind in KINDS if routes[kind].granted]
    grants = [reason for kind in KINDS for reason in routes[kind].grants]
    if repairs is not None and repairs.granted:
        offered += [outcome for outcome in _REPAIRS_REMEDIES if outcome not in offered]
        grants += repairs.grants
    if profile.repair_among_choices and any(routes[kind].on_quality for kind in KINDS):
        offered.append("repair")
        grants.append(_REPAIR_CHOICE.reason(("repair",)))
    if claim.kind in offered:
        return Decision(eligible=True, offered=tuple(offered), grants=tuple(grants))
    tried = [routes[claim.kind]] + ([repairs] if repairs is not None else [])
    if any(route.pending for route in tried):
        return Decision(False, tuple(offered), tuple(grants), needs=(_NEEDS_QUALITY_TEST.reason(),))
    refusals = {reason.code: reason for route in tried for reason in route.refusals}
    return Decision(False, tuple(offered), tuple(grants), refusals=tuple(refusals.values()))


def warranty_start_after_exchange(original_start: date, exchanged_on: date, profile: Profile) -> date:
    """The day the warranty counts from after an exchange (regulations.md 三包 ¶4: it restarts)."""
    if exchanged_on < original_start:
        raise ValueError("exchanged_on is before the warranty started")
    return exchanged_on if profile.warranty_restarts_after_exchange else original_start
