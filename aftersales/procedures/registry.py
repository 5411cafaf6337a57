"""The procedure registry: one declaration per procedure holds everything the platform needs to know of it.

The platform (intake, case numbers, launching flows, the sweep, reports, the check of the configuration) reads
procedures from here and names none of them. A procedure is its flow file, its declaration (a module in
`aftersales/procedures/` calling `register`), its models, its templates, its policy section and its
`prefect.yaml` entry.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from aftersales.errors import ConfigurationError

# (field path, message): a problem found at intake, reported as a 422 naming the field.
Problem = tuple[list[str], str]
IntakeCheck = Callable[[Any, Any], list[Problem]]  # (CaseCreate, typed facts or None) -> problems
Watcher = Callable[[datetime], list[int]]  # run by every sweep; returns the ids of the cases it acted on
# (case row) -> its case clocks as started: (name, started at, deadline without pauses, unit); see sla/clocks.py
ClockSource = Callable[[Any], list[tuple[str, datetime, datetime, str]]]


@dataclass(frozen=True)
class Procedure:
    """What the platform knows of one procedure."""

    name: str  # the case's `procedure`, the prefix of its gate kinds in policy.yaml, the label key
    prefix: str  # of its case numbers, e.g. RP-20261123-00042
    flow: str  # entrypoint, as in prefect.yaml: 'flows/repair.py:repair'
    deployment: str  # '<flow name>/<deployment name>' that starts a case's run
    policy_section: str  # the top-level section of policy.yaml with its SLA figures and optional steps
    facts_key: str | None = None  # the request block with its typed facts ('goods', 'complaint')
    facts_model: type[BaseModel] | None = None
    intake_checks: Sequence[IntakeCheck] = ()  # checks that need configuration (catalogue, profiles)
    watchers: Sequence[Watcher] = ()  # what the sweep watches beyond its gates (spare unit, closing limit)
    report_roles: Sequence[str] = ()  # who receives its periodic reports
    clocks: ClockSource | None = None  # its case clocks, which stand still while the case waits on the customer
    # Defaults of its policy section and gates, beneath policy.yaml (the file wins): a procedure can ship
    # working figures with its declaration; operators change them in the file.
    policy_defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z_]*", self.name):
            raise ConfigurationError(f"procedure name {self.name!r}: lowercase letters and '_' only")
        if not re.fullmatch(r"[A-Z]{2,4}", self.prefix):
            raise ConfigurationError(f"procedure {self.name}: prefix {self.prefix!r} must be 2-4 capital letters")
        if (self.facts_key is None) != (self.facts_model is None):
            raise ConfigurationError(f"procedure {self.name}: facts_key and facts_model go together")


_REGISTRY: dict[str, Procedure] = {}
_discovered = False


def register(procedure: Procedure) -> Procedure:
    """Add a procedure (idempotent for the same declaration); a clash of name or prefix is refused."""
    existing = _REGISTRY.get(procedure.name)
    if existing is not None and existing.prefix == procedure.prefix and existing.flow == procedure.flow:
        return existing
    if existing is not None:
        raise ConfigurationError(f"procedure {procedure.name!r} is registered twice")
    for other in _REGISTRY.values():
        if other.prefix == procedure.prefix:
            raise ConfigurationError(f"procedures {other.name!r} and {procedure.name!r} share prefix {other.prefix}")
    _REGISTRY[procedure.name] = procedure
    return procedure


def unregister(name: str) -> None:
    """Remove a procedure (tests that register their own)."""
    _REGISTRY.pop(name, None)


def discover(extra_modules: Sequence[str] = ()) -> None:
    """Import every declaration module of this package, and the extra ones settings name (once)."""
    global _discovered
    if not _discovered:
        import aftersales.procedures as package

        for info in pkgutil.iter_modules(package.__path__):
            if info.name != "registry" and not info.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{info.name}")
        _discovered = True
    for module in extra_modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigurationError(f"AFTERSALES_PROCEDURE_MODULES: cannot import {module!r}: {exc}") from exc


def _ensure() -> None:
    from aftersales.config.settings import get_settings

    discover(get_settings().procedure_modules)


def procedures() -> list[Procedure]:
    """Every registered procedure, by name."""
    _ensure()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def find(name: str) -> Procedure | None:
    """A procedure by name, or None."""
    _ensure()
    return _REGISTRY.get(name)


def get(name: str) -> Procedure:
    """A procedure by name; ConfigurationError naming the known ones otherwise."""
    found = find(name)
    if found is None:
        raise ConfigurationError(f"unknown procedure {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return found


def facts_keys() -> set[str]:
    """Every request block some procedure reads its facts from."""
    return {p.facts_key for p in procedures() if p.facts_key}


def configuration_problems(policy: Any, deployments: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What the registry, the policy and prefect.yaml's deployments disagree on: (where, problem) pairs."""
    found: list[tuple[str, str]] = []
    sections = {p.policy_section for p in procedures()}
    for procedure in procedures():
        if getattr(policy, procedure.policy_section, None) is None:
            found.append((f"policy: {procedure.policy_section}", f"procedure {procedure.name} has no section"))
        deployment = procedure.deployment.split("/", 1)[-1]
        declared = [d for d in deployments if d.get("name") == deployment]
        if not declared:
            found.append((f"prefect.yaml: deployments.{deployment}", f"procedure {procedure.name} is not deployed"))
        elif declared[0].get("entrypoint") != procedure.flow:
            found.append((f"prefect.yaml: deployments.{deployment}.entrypoint",
                          f"is {declared[0].get('entrypoint')!r}, procedure {procedure.name} runs {procedure.flow!r}"))
    for gate in policy.gates:
        if gate.split(".", 1)[0] not in sections:
            found.append((f"policy: gates.{gate}", "belongs to no procedure (its prefix names no procedure section)"))
    return found
