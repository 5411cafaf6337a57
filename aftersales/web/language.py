"""The language a request asks for, when no person or case decides it."""

from __future__ import annotations


def accepted_language(header: str) -> str:
    """'en' or 'zh', whichever the Accept-Language header prefers; Chinese when it names neither."""
    best, best_q = "zh", 0.0
    for item in header.split(","):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language not in ("en", "zh"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = language, q
    return best
