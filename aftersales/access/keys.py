"""Intake API keys: `channel:key` pairs from AFTERSALES_INTAKE_API_KEYS, a key or its sha256 hex."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import get_args

from aftersales.errors import ConfigurationError
from models.case import Channel

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class IntakeKey:
    """One configured key: the intake channel it opens cases for and the sha256 of the key."""

    channel: str
    digest: str  # sha256 hex of the key, whether the key or its digest was configured


def parse_keys(entries: list[str]) -> list[IntakeKey]:
    """The configured keys; ConfigurationError naming the bad entry (without its secret)."""
    channels = set(get_args(Channel))
    keys: list[IntakeKey] = []
    for index, entry in enumerate(entries):
        channel, sep, secret = entry.partition(":")
        channel, secret = channel.strip(), secret.strip()
        where = f"AFTERSALES_INTAKE_API_KEYS entry {index + 1}"
        if not sep or not secret:
            raise ConfigurationError(f"{where} must be channel:key", key="intake_api_keys")
        if channel not in channels:
            raise ConfigurationError(f"{where}: unknown channel {channel!r} (one of {', '.join(sorted(channels))})",
                                     key="intake_api_keys")
        if _HEX64.match(secret.lower()):
            keys.append(IntakeKey(channel, secret.lower()))
        elif len(secret) < MIN_KEY_LENGTH:
            raise ConfigurationError(f"{where}: a key needs at least {MIN_KEY_LENGTH} characters",
                                     key="intake_api_keys")
        else:
            keys.append(IntakeKey(channel, digest(secret)))
    return keys


def digest(key: str) -> str:
    """The sha256 hex of a key (what an operator may configure instead of the key)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def match_key(keys: list[IntakeKey], presented: str) -> IntakeKey | None:
    """The configured key a presented Bearer value is, compared in constant time; None when none."""
    wanted = digest(presented)
    found = None
    for key in keys:  # every key compared: the time does not tell which one matched
        if hmac.compare_digest(key.digest, wanted):
            found = key
    return found
