"""Recall rules: the regulatory clocks per market and class, a unit's place in the ledger."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from aftersales.config.policy import get_policy
from aftersales.errors import ConfigurationError
from aftersales.recall.clocks import recall_clocks
from aftersales.rules.recall import tally, unit_state

SH = ZoneInfo("Asia/Shanghai")
# Monday 2026-03-02 15:00 in Shanghai: a working day.
AWARE = datetime(2026, 3, 2, 15, 0, tzinfo=SH)


@pytest.mark.parametrize(("market", "recall_class", "notify_by"), [
    ("CN", "I", datetime(2026, 3, 4, 0, 0, tzinfo=SH)),    # 1 day, the day of awareness is day 0
    ("CN", "II", datetime(2026, 3, 6, 0, 0, tzinfo=SH)),   # 3 days
    ("CN", "III", datetime(2026, 3, 10, 0, 0, tzinfo=SH)),  # 7 days
    ("EU", "I", datetime(2026, 3, 5, 0, 0, tzinfo=SH)),    # Art. 87: 2 days
    ("EU", "II", datetime(2026, 3, 13, 0, 0, tzinfo=SH)),  # 10 days
    ("EU", "III", datetime(2026, 3, 18, 0, 0, tzinfo=SH)),  # 15 days
    ("US", "II", datetime(2026, 3, 16, 17, 30, tzinfo=SH)),  # 10 working days from the day after
])
def test_customers_are_notified_within_the_limit_of_the_class_and_market(market: str, recall_class: str,
                                                                        notify_by: datetime) -> None:
    assert recall_clocks(get_policy(), market, recall_class, AWARE).notify_by == notify_by


def test_china_reports_the_event_at_once_and_the_fda_within_10_working_days_then_every_two_weeks() -> None:
    china = recall_clocks(get_policy(), "CN", "I", AWARE)
    assert china.report_by == AWARE and china.status_report_every is None
    fda = recall_clocks(get_policy(), "US", "I", AWARE)
    assert fda.report_by == datetime(2026, 3, 16, 17, 30, tzinfo=SH)
    assert fda.status_report_every is not None and fda.status_report_every.amount == 14
    assert recall_clocks(get_policy(), "EU", "III", AWARE).report_by == datetime(2026, 3, 18, 0, 0, tzinfo=SH)


def test_a_market_the_policy_does_not_know_is_a_clear_error_and_so_is_a_class() -> None:
    with pytest.raises(ConfigurationError, match="no regulatory clocks for market 'JP'.*known: CN, EU, US"):
        recall_clocks(get_policy(), "JP", "I", AWARE)
    with pytest.raises(ValueError, match="must be I, II or III"):
        recall_clocks(get_policy(), "CN", "IV", AWARE)


def test_a_unit_stands_where_its_remedy_or_else_its_notice_has_reached() -> None:
    assert unit_state(None, False, "none") == "not_notified"
    assert unit_state("uncertain", False, "none") == "not_notified"
    assert unit_state("sent", False, "opened") == "notified"
    assert unit_state("sent", True, "opened") == "acknowledged"
    assert unit_state("sent", True, "remedied") == "remedied"
    assert unit_state("failed", False, "closed") == "closed"
    whole, by_batch = tally([("L2", "sent", True, "closed", 3), ("L1", "pending", False, "none", 1),
                             ("L1", "sent", False, "none", 4)])
    assert whole.total == 8 and whole.completion == 37.5 and whole.reached("notified") == 7
    assert list(by_batch) == ["L1", "L2"] and by_batch["L1"].counts["notified"] == 4


# --- the recall procedure's pure parts -------------------------------------------------------------------------

def test_the_acknowledgement_wait_ends_at_the_threshold_or_when_its_time_is_up() -> None:
    from datetime import UTC, datetime, timedelta

    from aftersales.rules.recall import ack_wait_over

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert ack_wait_over(239, 300, 80, now, now + timedelta(days=1)) is None
    assert ack_wait_over(240, 300, 80, now, now + timedelta(days=1)) == "80% acknowledged"
    assert ack_wait_over(0, 300, 80, now, now) == "time up"
    assert ack_wait_over(0, 0, 80, now, None) is None, "nobody notified yet: nothing to count"


def test_a_regulatory_clock_reminds_at_half_time_and_breaches_at_its_end() -> None:
    from datetime import UTC, datetime, timedelta

    from aftersales.rules.recall import clock_stage

    start = datetime(2026, 11, 30, 0, tzinfo=UTC)
    end = start + timedelta(days=2)
    assert clock_stage(start, end, start + timedelta(hours=23)) is None
    assert clock_stage(start, end, start + timedelta(days=1)) == "reminder"
    assert clock_stage(start, end, end) == "breached"


def test_progress_periods_count_whole_periods_only() -> None:
    from datetime import UTC, datetime, timedelta

    from aftersales.rules.recall import periods_elapsed

    start = datetime(2026, 11, 1, tzinfo=UTC)
    week = lambda t: t + timedelta(days=7)  # noqa: E731
    assert periods_elapsed(start, start + timedelta(days=6), week) == 0
    assert periods_elapsed(start, start + timedelta(days=7), week) == 1
    assert periods_elapsed(start, start + timedelta(days=22), week) == 3


def test_serials_typed_in_a_gate_answer_are_split_once_each_in_order() -> None:
    from aftersales.recall.case import parse_serials

    assert parse_serials(" SN-2, SN-1；SN-2\nSN-3 ") == ["SN-2", "SN-1", "SN-3"]
    assert parse_serials("  ") == []


def test_the_decision_refuses_a_market_the_policy_does_not_know_naming_the_known_ones() -> None:
    import pytest
    from pydantic import ValidationError

    from models.inputs import RecallDecisionInput

    with pytest.raises(ValidationError, match="no regulatory clocks for market 'MARS'.*CN, EU, US"):
        RecallDecisionInput(recall=True, recall_class="I", market="MARS")
    assert RecallDecisionInput(recall=True, recall_class="II", market="EU").market == "EU"
    assert RecallDecisionInput(recall=False, market="MARS").recall is False, "no recall: no market needed"


def test_an_effectiveness_sample_cannot_count_more_than_it_re_contacted() -> None:
    import pytest
    from pydantic import ValidationError

    from models.inputs import EffectivenessInput

    with pytest.raises(ValidationError, match="cannot exceed"):
        EffectivenessInput(level="B", sample_size=10, sample_aware=11, sample_remedied=0)
