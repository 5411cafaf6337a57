"""Render a message (subject, plain text, HTML) from templates/messages/<lang>/, apart from sending it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError


@dataclass(frozen=True)
class Message:
    """A rendered message: one-line subject, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


@lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> Environment:
    """One Jinja2 environment per templates directory (tests point settings at their own)."""
    return Environment(
        loader=FileSystemLoader(templates_dir / "messages"),
        # A missing variable must fail, never render as an empty string in front of a customer.
        undefined=StrictUndefined,
        # Only the HTML part is escaped: customer text must not inject markup, while the plain
        # text and the subject must keep "<", "&" and quotes as typed.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(env: Environment, name: str, context: Mapping[str, Any], templates_dir: Path) -> str:
    """Render one template file, turning Jinja2's errors into ConfigurationError naming the file."""
    path = templates_dir / "messages" / name
    try:
        return env.get_template(name).render(**context)
    except TemplateNotFound as exc:  # this template, or one it extends or includes
        missing = templates_dir / "messages" / (exc.name if isinstance(exc.name, str) else name)
        needed = "" if missing == path else f" (needed by {path})"
        raise ConfigurationError(f"message template not found{needed}", file=missing) from exc
    except TemplateSyntaxError as exc:
        broken = templates_dir / "messages" / exc.name if exc.name else path
        raise ConfigurationError(f"template syntax error at line {exc.lineno}: {exc.message}", file=broken) from exc
    except TemplateError as exc:  # UndefinedError, ...
        raise ConfigurationError(f"message template failed to render: {exc}", file=path) from exc


def render_message(template: str, language: str, context: Mapping[str, Any]) -> Message:
    """Render `<language>/<template>` (.subject.txt, .txt, .html) with `context`.

    Raises ConfigurationError for an unknown language or template, a template syntax error or a
    variable missing from `context`.
    """
    templates_dir = get_settings().templates_dir
    env = _environment(templates_dir)
    base = f"{language}/{template}"
    subject = _render(env, f"{base}.subject.txt", context, templates_dir)
    text = _render(env, f"{base}.txt", context, templates_dir)
    html = _render(env, f"{base}.html", context, templates_dir)
    # Mail headers are one line: fold whatever whitespace the template produced.
    return Message(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html.strip() + "\n")
