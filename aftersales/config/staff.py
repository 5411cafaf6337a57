"""The staff directory: people, roles, languages, destinations, and delegation while away."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from aftersales.config.files import read_yaml
from aftersales.errors import ConfigurationError, KeyedValueError, NotFound
from models.case import DEFAULT_LANGUAGE, Language

CUSTOMER = "customer"


class Person(BaseModel):
    """Someone who answers gates and receives messages."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    language: Language = DEFAULT_LANGUAGE
    roles: list[str] = Field(min_length=1)
    notify: list[str] = Field(min_length=1, description="Apprise URLs")
    away: bool = False
    delegate: str | None = None
    department: str | None = Field(default=None, max_length=60,
                                   description="Department, for the dispatch reserve (F2:420-421), e.g. quality")
    passport_expires: date | None = Field(default=None, description="Passport valid until (reserve, F2:420)")


class StaffDirectory(BaseModel):
    """Roles and the people who hold them."""

    model_config = ConfigDict(extra="forbid")
    roles: dict[str, str]
    people: list[Person]
    _source: str | None = PrivateAttr(default=None)  # the file it was read from, for error messages

    @model_validator(mode="after")
    def _consistent(self) -> StaffDirectory:
        ids = [p.id for p in self.people]
        for index, pid in enumerate(ids):
            if pid in ids[:index]:
                raise KeyedValueError(("people", index, "id"), f"person ids must be unique; {pid!r} comes twice")
        for index, person in enumerate(self.people):
            unknown = set(person.roles) - set(self.roles)
            if unknown:
                raise KeyedValueError(("people", index, "roles"), f"{person.id} has unknown roles {sorted(unknown)}")
            if person.delegate and person.delegate not in ids:
                raise KeyedValueError(
                    ("people", index, "delegate"), f"{person.id} delegates to unknown person {person.delegate!r}"
                )
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
            raise ConfigurationError(f"role {role!r} is not in the staff directory", file=self._source, key="roles")
        result: list[Person] = []
        for person in self.people:
            if role not in person.roles:
                continue
            chosen = self.person(person.delegate) if person.away and person.delegate else person
            if not chosen.away and chosen not in result:
                result.append(chosen)
        if not result:
            raise ConfigurationError(
                f"nobody available holds role {role!r} (check 'away' and 'delegate')", file=self._source, key="people"
            )
        return result


def load_staff(path: Path, expand_sink: Callable[[str], str]) -> StaffDirectory:
    """Read the directory; a destination 'sink:ADDRESS' becomes e-mail through the configured SMTP sink."""
    data: Any = read_yaml(path, "staff file", missing="staff file not found")
    people = data.get("people") if isinstance(data, dict) else None
    for person in people if isinstance(people, list) else []:
        if isinstance(person, dict) and isinstance(person.get("notify"), list):
            person["notify"] = [
                expand_sink(url[len("sink:"):]) if isinstance(url, str) and url.startswith("sink:") else url
                for url in person["notify"]
            ]
    try:
        staff = StaffDirectory.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError.from_validation(exc, file=path, what="staff directory") from exc
    staff._source = str(path)
    return staff


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
        raise ConfigurationError("staff file not found", file=path) from exc
    return _cached(str(path), mtime, (settings.smtp_host, settings.smtp_port))
