"""The Apprise adapter: send one rendered Message to one destination URL, failure raised as an error."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import apprise
from apprise import NotifyFormat

from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError, TransientIntegrationError
from aftersales.messaging.render import Message
from aftersales.runtime import tls

# Apprise adds its generic knobs to every URL it prints; they say nothing about the destination.
_NOISE_PARAMS = frozenset({"format", "overflow", "retry", "wait", "optional", "cto", "rto", "emojis", "tz"})
# Query values that may carry a secret even after Apprise's own masking (e.g. json:// payload fields).
_SECRET_HINTS = ("token", "secret", "key", "pass", "auth", "sig")


def channel_of(url: str) -> str:
    """The Apprise scheme of a destination URL: mailto, mailtos, dingtalk, json, ..."""
    return url.split("://", 1)[0].strip().lower()


def mask_url(url: str) -> str:
    """The URL with passwords and tokens hidden, keeping the scheme and the host; safe to store and log."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return _mask_unparsed(url)
    # Apprise knows, per service, which URL parts are secrets (dingtalk tokens, slack keys, ...).
    parts = urlsplit(plugin.url(privacy=True))
    query = [
        (k, "****" if any(h in k.lower() for h in _SECRET_HINTS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _NOISE_PARAMS
    ]
    path = parts.path.rstrip("/") or ""
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query, safe="@*"), ""))


def _mask_unparsed(url: str) -> str:
    """Best effort for a URL Apprise rejects: keep scheme and a hostname-looking host, drop the rest."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "****"
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    # Some services put the token where the host goes (dingtalk://TOKEN/); only keep real host names.
    looks_like_host = "." in host or host.split(":", 1)[0] == "localhost"
    return f"{scheme}://{host if looks_like_host else '****'}/…"


def smtp_url(to_address: str) -> str:
    """The Apprise URL that mails `to_address` through the embedded loopback SMTP sink.

    `mailto://` (not `mailtos://`) with `mode=insecure` means plain SMTP: no SSL, no STARTTLS; no
    user/password means no AUTH; `smtp=` names the server explicitly, which also stops Apprise from
    applying its provider presets (gmail, outlook, ...) derived from the host or sender domain.
    """
    settings = get_settings()
    host = settings.smtp_host
    if ":" in host:  # an IPv6 literal needs brackets in a URL
        host = f"[{host}]"
    params = urlencode(
        {"smtp": settings.smtp_host, "mode": "insecure", "from": settings.mail_from, "to": to_address},
        quote_via=quote,
        safe="@",
    )
    return f"mailto://{host}:{settings.smtp_port}/?{params}"


class _ThreadWarnings(logging.Handler):
    """Collects Apprise WARNING records of the calling thread only, so concurrent sends do not mix."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@contextmanager
def _apprise_warnings() -> Iterator[list[str]]:
    """Capture what Apprise says about a failure: it logs it instead of raising."""
    handler = _ThreadWarnings()
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def _scrub(lines: list[str], url: str) -> str:
    """Apprise's log lines joined, with the raw URL (which may hold secrets) replaced by its mask."""
    return "; ".join(lines).replace(url, mask_url(url))


def send(url: str, message: Message) -> None:
    """Send `message` to the destination `url` through Apprise.

    HTML goes out as HTML when there is any: Apprise's e-mail plugin then sends
    multipart/alternative with a text/plain part it derives from the HTML (links shown as text in
    the templates survive), so mail clients get both. Raises ConfigurationError if Apprise does not
    accept the URL and TransientIntegrationError if delivery fails (Apprise returns, never raises).
    """
    notifier = apprise.Apprise()  # one per call: no state shared between destinations or threads
    with _apprise_warnings() as warnings:
        if not notifier.add(url):
            detail = _scrub(warnings, url) or "unsupported or malformed URL"
            raise ConfigurationError(f"Apprise does not accept the destination {mask_url(url)}: {detail}")
        if message.html:
            body, body_format = message.html, NotifyFormat.HTML
        else:
            body, body_format = message.text, NotifyFormat.TEXT
        # Apprise's e-mail plugin builds a verified TLS context per mail (~27 CPU ms, even for plain SMTP) and
        # loosens it only for verify=no: with verification on it may have the process's shared one.
        verified = all(getattr(plugin, "verify_certificate", False) for plugin in notifier)
        with tls.system_context_shared() if verified else nullcontext():
            result = notifier.notify(title=message.subject, body=body, body_format=body_format)
    # Apprise 1.x returns a bool, 2.x an AppriseResult; both are falsy on failure.
    if not result:
        detail = _scrub(warnings, url) or "Apprise reported failure without detail"
        raise TransientIntegrationError(f"sending to {mask_url(url)} failed: {detail}")
