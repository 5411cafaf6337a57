"""The rate limit's sliding window (a controlled clock) and how intake keys are read and matched."""

from __future__ import annotations

import hashlib

import pytest

from aftersales.access.keys import match_key, parse_keys
from aftersales.access.ratelimit import RateLimit
from aftersales.errors import ConfigurationError


def test_the_limit_counts_a_sliding_minute_per_caller() -> None:
    limit = RateLimit(2, window=60)
    assert limit.hit("a", now=0) == 0 and limit.hit("a", now=10) == 0
    assert limit.hit("a", now=20) == 40  # the first event leaves the window at 60
    assert limit.hit("b", now=20) == 0  # another caller has its own budget
    assert limit.hit("a", now=60.5) == 0  # a minute after the first, one more is allowed
    assert limit.hit("a", now=61) == 9


def test_keys_are_matched_by_their_sha256_whether_configured_plain_or_hashed() -> None:
    plain = "a-plain-intake-key-0001"
    hashed = "a-hashed-intake-key-0002"
    keys = parse_keys([f"hotline:{plain}", f" website : {hashlib.sha256(hashed.encode()).hexdigest().upper()}"])
    assert [k.channel for k in keys] == ["hotline", "website"]
    assert match_key(keys, plain) == keys[0]
    assert match_key(keys, hashed) == keys[1]
    assert match_key(keys, "something-else-entirely") is None
    assert match_key(keys, keys[0].digest) is None  # the digest itself is no key


@pytest.mark.parametrize("entry", ["no-colon-here-at-all", "hotline:", "fax:long-enough-key-0001", "hotline:short"])
def test_a_bad_entry_is_refused_without_echoing_its_secret(entry: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_keys([entry])
    secret = entry.partition(":")[2].strip()
    assert not secret or secret not in str(refused.value)
    assert refused.value.key == "intake_api_keys"
