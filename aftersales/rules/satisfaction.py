"""When a satisfaction score needs an improvement with an owner (F2:283-284); pure."""

from __future__ import annotations


def is_low_score(score: int, at_most: int | None) -> bool:
    """A score at or under the policy's threshold (None: no threshold) calls for a supervisor's follow-up.

    F2:283 sends the survey, F2:284 "根据客户反馈,售后服务部门进行改进和优化": the sources give no score, the
    threshold is policy (repair/returns.low_satisfaction_at_most).
    """
    if not 1 <= score <= 5:
        raise ValueError("a satisfaction score is 1 to 5")
    return at_most is not None and score <= at_most
