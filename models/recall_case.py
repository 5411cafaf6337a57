"""The recall procedure's typed facts at intake (the units and the hazard); its tables are in models/recall.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aftersales.recall.outbox import UnitSelection


class RecallFacts(BaseModel):
    """What opens a recall (召回): where it came from, the hazard, and the units it may concern.

    The case's customer is whoever reported it (the original manufacturer's notice, F0:19), or the customer of
    the case whose quality-safety report raised it (F1:200); the affected customers come from the unit register.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    origin: Literal["outside_notice", "quality_safety_report"] = Field(
        description="An outside notice (e.g. the original manufacturer, F0:19) or a case's quality-safety "
                    "report (F1:200)")
    hazard: str = Field(min_length=1, max_length=2000, description="The defect and the risk it carries")
    manufacturer: str = Field(default="", max_length=200, description="The original manufacturer (F0:19)")
    selection: UnitSelection = Field(description="Batches/lots and/or a serial range of the affected units")
    reported_by_case: str | None = Field(default=None, max_length=40, description="The case that reported it")
