"""Short localised labels (gate titles, field names) read from templates/labels/<lang>.yaml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from aftersales.config.files import read_yaml
from aftersales.errors import ConfigurationError


@lru_cache(maxsize=8)
def _labels(templates_dir: str, language: str) -> dict[str, Any]:
    path = Path(templates_dir) / "labels" / f"{language}.yaml"
    data = read_yaml(path, "labels", missing=f"no labels for language {language!r}") or {}
    if not isinstance(data, dict):
        raise ConfigurationError("expected a mapping of section -> key -> label", file=path)
    for section, entries in data.items():
        if not isinstance(entries, dict):
            raise ConfigurationError("expected a mapping of key -> label", file=path, key=str(section))
    return data


def label(section: str, key: str, language: str) -> str:
    """The label of `key` in `section`, or the key itself when none is defined (visible, not fatal)."""
    from aftersales.config.settings import get_settings

    value = _labels(str(get_settings().templates_dir), language).get(section, {}).get(key)
    return str(value) if value is not None else key
