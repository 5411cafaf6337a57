"""Tasks of the return and exchange procedures: the unit's earlier repairs and exchanges (三包 ¶3)."""

from __future__ import annotations

from prefect import task
from sqlmodel import select

from aftersales.runtime.db import session_scope
from models import Case
from tasks.records import RETRY


@task(**RETRY, task_run_name="history of the serial number")  # type: ignore[call-overload]
def goods_history(serial_number: str | None, case_id: int) -> dict[str, int]:
    """Earlier in-warranty repairs and exchanges of the same unit, from this system's own cases (三包 ¶3).

    A task, so a replayed flow decides on the same counts it saw the first time.
    """
    if not serial_number:
        return {"repairs": 0, "exchanges": 0}
    with session_scope() as session:
        earlier = session.exec(select(Case).where(Case.serial_number == serial_number, Case.id != case_id)).all()
    repairs = sum(1 for c in earlier if c.procedure == "repair" and c.status == "closed"
                  and c.data.get("warranty") == "in_warranty")
    exchanges = sum(1 for c in earlier if c.data.get("remedy_done") == "exchange")
    return {"repairs": repairs, "exchanges": exchanges}
