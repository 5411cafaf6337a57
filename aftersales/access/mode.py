"""Demo mode: every message goes to the embedded loopback mail sink, so the inbox may show them."""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs, urlsplit

from aftersales.config.settings import Settings, get_settings
from aftersales.config.staff import get_staff


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_sink_url(url: str, settings: Settings) -> bool:
    """Whether an Apprise URL mails through the configured SMTP sink (what `sink:ADDRESS` expands to)."""
    parts = urlsplit(url)
    if parts.scheme != "mailto":
        return False
    query = parse_qs(parts.query)
    return (parts.hostname == settings.smtp_host.strip("[]").lower() and parts.port == settings.smtp_port
            and query.get("smtp") == [settings.smtp_host] and query.get("mode") == ["insecure"])


def demo_mode() -> bool:
    """True only while the embedded mail sink is the mail path: customers (no Apprise URL of their own) and every
    staff destination go to an SMTP sink on loopback. One real destination configured, and it is not a demo."""
    settings = get_settings()
    if settings.customer_apprise_url or not _loopback(settings.smtp_host):
        return False
    return all(is_sink_url(url, settings) for person in get_staff().people for url in person.notify)
