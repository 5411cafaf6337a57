"""Sign-in through the company's OpenID Connect provider (Authlib), configured by AFTERSALES_OIDC_* settings."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from aftersales.config.settings import Settings
from aftersales.config.staff import StaffDirectory
from aftersales.errors import ConfigurationError, NotFound

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def configured(settings: Settings) -> bool:
    """Whether sign-in goes through OpenID Connect (any OIDC setting given; check() says if it is usable)."""
    return bool(settings.oidc_issuer or settings.oidc_client_id or settings.oidc_client_secret)


def check(settings: Settings) -> None:
    """ConfigurationError naming the setting that keeps OpenID Connect from working; nothing when unused."""
    if not configured(settings):
        return
    for key in ("oidc_issuer", "oidc_client_id", "oidc_client_secret"):
        if not getattr(settings, key):
            raise ConfigurationError(f"AFTERSALES_{key.upper()} is required when OpenID Connect is configured",
                                     key=key)
    issuer = urlsplit(settings.oidc_issuer)
    # The provider's answers decide who is signed in: only https, except a provider on this machine (tests).
    if not issuer.hostname or (issuer.scheme != "https" and not (issuer.scheme == "http" and
                                                                 issuer.hostname in LOOPBACK)):
        raise ConfigurationError("AFTERSALES_OIDC_ISSUER must be an https URL", key="oidc_issuer")
    if not settings.oidc_claim:
        raise ConfigurationError("AFTERSALES_OIDC_CLAIM names the claim that holds a staff id", key="oidc_claim")
    if settings.oidc_claim == "email" and not settings.oidc_email_domain:
        raise ConfigurationError("with AFTERSALES_OIDC_CLAIM=email, AFTERSALES_OIDC_EMAIL_DOMAIN says whose "
                                 "addresses name a staff id", key="oidc_email_domain")


def client(settings: Settings) -> Any:
    """The Authlib client of the configured provider (its discovery document read on first use)."""
    check(settings)
    return _client(settings.oidc_issuer.rstrip("/"), settings.oidc_client_id, settings.oidc_client_secret)


@lru_cache(maxsize=2)
def _client(issuer: str, client_id: str, client_secret: str) -> Any:
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    return oauth.register(name="company", client_id=client_id, client_secret=client_secret,
                          server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                          client_kwargs={"scope": "openid email profile"})


def staff_id_for(claims: dict[str, Any], settings: Settings, staff: StaffDirectory) -> str | None:
    """The staff id the provider's claims name, or None when they name nobody of the directory."""
    value = claims.get(settings.oidc_claim)
    if not isinstance(value, str) or not value:
        return None
    if settings.oidc_claim == "email":
        if claims.get("email_verified") is False:
            return None
        local, _, domain = value.lower().rpartition("@")
        if domain != settings.oidc_email_domain.lower():
            return None
        value = local
    try:
        return staff.person(value).id
    except NotFound:
        return None
