"""Short texts of progress notices (headline and lines), from templates/notices/<lang>.yaml, rendered by Jinja2."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, Template, TemplateError

from aftersales.errors import ConfigurationError
from aftersales.messaging.labels import label


@dataclass(frozen=True)
class NoticeText:
    """A notice as one reader reads it."""

    headline: str
    lines: list[str]


# Plain text (the case_notice message escapes what goes into its HTML part); a missing variable fails loudly.
_ENV = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
_ENV.globals["label"] = label


@lru_cache(maxsize=8)
def _texts(templates_dir: str, language: str) -> dict[str, dict[str, Template]]:
    path = Path(templates_dir) / "notices" / f"{language}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigurationError(f"no notice texts for language {language!r}: {path}") from exc
    try:
        return {key: {part: _ENV.from_string(str(text)) for part, text in entry.items()} for key, entry in raw.items()}
    except TemplateError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc


def load_texts(language: str) -> int:
    """Read and compile the notice texts of `language` now (they are cached); returns how many there are."""
    from aftersales.config.settings import get_settings

    return len(_texts(str(get_settings().templates_dir), language))


def notice_text(key: str, language: str, context: dict[str, Any]) -> NoticeText:
    """Render the notice `key` in `language` (ConfigurationError naming the file and key when it cannot)."""
    from aftersales.config.settings import get_settings

    templates_dir = str(get_settings().templates_dir)
    entry = _texts(templates_dir, language).get(key)
    if entry is None or "headline" not in entry:
        raise ConfigurationError(f"{templates_dir}/notices/{language}.yaml: no text {key!r}")
    values = {"lang": language, **context}
    try:
        headline = " ".join(entry["headline"].render(values).split())
        lines = entry["lines"].render(values).splitlines() if "lines" in entry else []
    except TemplateError as exc:
        raise ConfigurationError(f"{templates_dir}/notices/{language}.yaml: {key}: {exc}") from exc
    return NoticeText(headline, [line.strip() for line in lines if line.strip()])
