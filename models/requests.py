"""Flow parameters: each flow takes one pydantic model, so the Prefect UI renders a form."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CaseRef(BaseModel):
    """Which case a procedure flow runs for (the case is registered first, then the flow starts)."""

    case_number: str = Field(min_length=3, max_length=40, description="Case number, e.g. RP-20261123-00001")
