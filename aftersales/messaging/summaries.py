"""What staff read in a gate's message: labelled summary rows in the case's language."""

from __future__ import annotations

from typing import Any

from aftersales.messaging.labels import label
from models.case import CaseSnapshot


def row(case: CaseSnapshot[Any], field: str, value: Any) -> dict[str, str]:
    """One summary row, field name and value labelled in the case's language."""
    lang = case.language
    return {"label": label("fields", field, lang), "value": label("values", str(value), lang)}
