"""Typed case facts at intake: the procedure's request block validated by the model its declaration names."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from models.safe_input import unsafe_values

M = TypeVar("M")
_SPLIT: ContextVar[bool] = ContextVar("facts_split", default=False)


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return {"type": PydanticCustomError("value_error", message), "loc": loc, "input": value}


def _relocated(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[InitErrorDetails]:
    # Kept as rendered messages under their own type: re-raising needs no per-type context this way.
    return [{"type": PydanticCustomError(err["type"], err["msg"]), "loc": (*prefix, *err["loc"]),
             "input": err["input"]} for err in exc.errors()]


def split_facts(cls: type[M], data: Any, handler: Any) -> M:
    """Validate the registration fields and the procedure's facts block together; one error list for both.

    The facts arrive in the block the procedure's declaration names (`goods`, `complaint`), or as `facts`
    when a validated request is validated again (FastAPI does so); either way they end in `facts`.
    """
    from aftersales.procedures.registry import facts_keys, find, procedures

    if not isinstance(data, dict) or _SPLIT.get():
        # SQLModel validates once more from inside the handler, on the data already split below.
        return handler(data)  # type: ignore[no-any-return]
    unsafe = unsafe_values(data)
    if unsafe:  # refused before any other check reads them
        raise ValidationError.from_exception_data(getattr(cls, "__name__", "CaseCreate"), [
            _error(path, f"value {why}", None) for path, why in unsafe])
    keys = facts_keys()
    blocks = {key: data[key] for key in keys if key in data}
    rest = {key: value for key, value in data.items() if key not in keys and key != "facts"}
    errors: list[InitErrorDetails] = []
    name = rest.get("procedure", "repair")
    procedure = find(name) if isinstance(name, str) else None
    facts: dict[str, Any] | None = None
    if procedure is None:
        known = ", ".join(p.name for p in procedures())
        errors.append(_error(("procedure",), f"unknown procedure {name!r}; available: {known}", name))
    else:
        key = procedure.facts_key
        if key is not None and key not in blocks and data.get("facts") is not None:
            blocks[key] = data["facts"]
        for other, value in blocks.items():
            if other != key:
                owners = sorted(p.name for p in procedures() if p.facts_key == other)
                errors.append(_error((other,), f"{other} details belong to procedure {' and '.join(owners)} only",
                                     value))
        if key is not None and procedure.facts_model is not None:
            if blocks.get(key) is None:
                errors.append(_error((key,), f"a {procedure.name} needs its {key} details", None))
            else:
                try:
                    facts = procedure.facts_model.model_validate(blocks[key]).model_dump(mode="json")
                except ValidationError as exc:
                    errors += _relocated(exc, (key,))
    model = None
    token = _SPLIT.set(True)
    try:
        model = handler({**rest, "facts": facts})
    except ValidationError as exc:
        errors = _relocated(exc) + errors
    finally:
        _SPLIT.reset(token)
    if errors:
        raise ValidationError.from_exception_data(getattr(cls, "__name__", "CaseCreate"), errors)
    return model  # type: ignore[return-value]
