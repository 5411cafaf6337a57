"""The staff directory: people, roles, languages, destinations, and delegation while away."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aftersales.errors import ConfigurationError, NotFound

CUSTOMER = "customer"


class Person(BaseModel):
    """Someone who answers gates and receives messages."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    language: Literal["zh", "en"] = "zh"
    roles: list[str] = Field(min_length=1)
    notify: list[str] = Field(min_length=1, description="Apprise URLs")
    away: bool = False
    delegate: str | None = None


class StaffDirectory(BaseModel):
    """Roles and the people who hold them."""

    model_config = ConfigDict(extra="forbid")
    roles: dict[str, str]
    people: list[Person]

    @model_validator(mode="after")
    def _consistent(self) -> StaffDirectory:
        ids = [p.id for p in self.people]
        if len(ids) != len(set(ids)):
            raise ValueError("person ids must be unique")
        for person in self.people:
            unknown = set(person.roles) - set(self.roles)
            if unknown:
                raise ValueError(f"{person.id} has unknown roles {sorted(unknown)}")
            if person.delegate and person.delegate not in ids:
                raise ValueError(f"{person.id} delegates to unknown person {person.delegate!r}")
        return self

    def person(self, person_id: str) -> Person:
        """One person by id."""
        for person in self.people:
            if person.id == person_id:
                return person
        raise NotFound(f"no person {person_id!r} in the staff directory")

    def role_label(self, role: str) -> str:
        """The role's display name (Chinese names from the sources)."""
        if role == CUSTOMER:
            return "客户 / customer"
        return self.roles.get(role, role)

    def holders(self, role: str) -> list[Person]:
        """Who answers for a role now: its members, each replaced by their delegate while away."""
        if role not in self.roles:
            raise ConfigurationError(f"role {role!r} is not in the staff directory")
        result: list[Person] = []
        for person in self.people:
            if role not in person.roles:
                continue
            chosen = self.person(person.delegate) if person.away and person.delegate else person
            if not chosen.away and chosen not in result:
                result.append(chosen)
        if not result:
            raise ConfigurationError(f"nobody available holds role {role!r} (check 'away' and 'delegate')")
        return result


def load_staff(path: Path, expand_sink: Callable[[str], str]) -> StaffDirectory:
    """Read the directory; a destination 'sink:ADDRESS' becomes e-mail through the configured SMTP sink."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for person in (data or {}).get("people", []) or []:
            person["notify"] = [
                expand_sink(url[len("sink:"):]) if isinstance(url, str) and url.startswith("sink:") else url
                for url in person.get("notify", []) or []
            ]
        return StaffDirectory.model_validate(data)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"staff file not found: {path}") from exc
    except (yaml.YAMLError, ValidationError, AttributeError, TypeError) as exc:
        raise ConfigurationError(f"staff file {path} is not valid: {exc}") from exc


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float, smtp: tuple[str, int]) -> StaffDirectory:
    from aftersales.messaging.transport import smtp_url

    return load_staff(Path(path), smtp_url)


def get_staff() -> StaffDirectory:
    """The configured directory, re-read when the file changes."""
    from aftersales.config.settings import get_settings

    settings = get_settings()
    path = settings.staff_file
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise ConfigurationError(f"staff file not found: {path}") from exc
    return _cached(str(path), mtime, (settings.smtp_host, settings.smtp_port))
