"""Input no flow, database or page can take: lone surrogates, NUL and control characters, non-finite numbers.

Found anywhere in a request (its facts blocks included), each is refused at intake with the path of the
value, so nothing reaches a column, a JSON response or a template that would fail on it later.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Lone UTF-16 surrogates cannot be encoded as UTF-8; NUL and C0 controls (but tab, newline, return)
# are refused by PostgreSQL text columns or break messages.
_UNSAFE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_DEPTH = 8


def unsafe_values(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, why) for every value of a JSON-like structure that the product cannot store or show."""
    if len(path) > MAX_DEPTH:
        return [(path, "nested too deeply")]
    if isinstance(value, str):
        return [(path, "contains a character that is not allowed (control character or lone surrogate)")] \
            if _UNSAFE.search(value) else []
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, "is not a finite number")]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if isinstance(key, str) and _UNSAFE.search(key):
                found.append(((*path, "?"), "a field name contains a character that is not allowed"))
                continue
            found += unsafe_values(item, (*path, key))
        return found
    if isinstance(value, list):
        return [problem for i, item in enumerate(value) for problem in unsafe_values(item, (*path, i))]
    return []


def printable(text: str) -> str:
    """Text safe to put in a UTF-8 response (lone surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
