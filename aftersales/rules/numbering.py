"""Case numbers: unique, readable, with the company's date (F2:216 unique service ticket)."""

from __future__ import annotations


def case_number(prefix: str, opened_on: str, sequence: int) -> str:
    """A number such as RP-20261123-00042: the procedure's prefix, the company's date, the sequence."""
    return f"{prefix}-{opened_on}-{sequence:05d}"
