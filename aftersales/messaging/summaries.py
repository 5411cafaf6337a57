"""Small helpers that flows use to build what people read: labelled summary rows, two-language texts."""

from __future__ import annotations

from typing import Any

from aftersales.messaging.labels import label


def row(case: dict[str, Any], field: str, value: Any) -> dict[str, str]:
    """One summary row, field name and value labelled in the case's language."""
    lang = case["language"]
    return {"label": label("fields", field, lang), "value": label("values", str(value), lang)}


def say(zh: str, en: str) -> dict[str, str]:
    """A text in both languages; the reader's language picks one."""
    return {"zh": zh, "en": en}
