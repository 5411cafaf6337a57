"""Build an HTML form from a gate's typed question, and read a submitted form back into an answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from aftersales.messaging.labels import label
from models.inputs import GateInput

LONG_TEXT = {"comment", "plan", "diagnosis", "work_done", "fault_found", "cause", "report", "notes", "parts_replaced",
             "parts_used"}


@dataclass
class FormField:
    """One input on a gate page."""

    name: str
    label: str
    kind: str  # bool | choice | number | integer | date | text | textarea
    required: bool
    default: Any = None
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def form_fields(model: type[GateInput], language: str) -> list[FormField]:
    """The fields of a RunInput, in declaration order, labelled in the reader's language."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema["properties"].items():
        kind = {"boolean": "bool", "number": "number", "integer": "integer"}.get(prop.get("type", ""), "text")
        if "enum" in prop:
            kind = "choice"
        elif prop.get("format") == "date":
            kind = "date"
        elif kind == "text" and name in LONG_TEXT:
            kind = "textarea"
        text = label("form", name, language) if language != "en" else prop.get("description", name)
        if text == name:
            text = prop.get("description", name)
        fields.append(FormField(name=name, label=text, kind=kind, required=name in required,
                                default=prop.get("default"), options=list(prop.get("enum", [])),
                                minimum=prop.get("minimum"), maximum=prop.get("maximum")))
    # the free comment reads best last
    fields.sort(key=lambda f: f.name == "comment")
    return fields


def read_form(model: type[GateInput], form: dict[str, str]) -> dict[str, Any]:
    """Submitted strings to answer values; blanks of optional fields fall back to their defaults."""
    answer: dict[str, Any] = {}
    for item in form_fields(model, "en"):
        raw = form.get(item.name)
        if raw is None or raw.strip() == "":
            continue  # blank: the default applies, or validation says the field is required
        value = raw.strip()
        if item.kind == "bool":
            answer[item.name] = value.lower() in {"true", "on", "yes", "1"}
        else:
            answer[item.name] = value
    return answer


def invalid_fields(exc: ValidationError) -> dict[str, str]:
    """Field name -> message, for showing a rejected form beside its fields."""
    return {".".join(str(p) for p in err["loc"]) or "form": err["msg"] for err in exc.errors()}
