"""Render a message (subject, plain text, HTML) from templates/messages/<lang>/, apart from sending it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
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


def _load(env: Environment, name: str, templates_dir: Path) -> Template:
    """One template file, its errors turned into ConfigurationError naming the file."""
    try:
        return env.get_template(name)
    except TemplateError as exc:
        raise _error(exc, name, templates_dir) from exc


def _render(template: Template, name: str, context: Mapping[str, Any], templates_dir: Path) -> str:
    """Render one template, its errors turned into ConfigurationError naming the file."""
    try:
        return template.render(**context)
    except TemplateError as exc:
        raise _error(exc, name, templates_dir) from exc


def _error(exc: TemplateError, name: str, templates_dir: Path) -> ConfigurationError:
    path = templates_dir / "messages" / name
    if isinstance(exc, TemplateNotFound):  # this template, or one it extends or includes
        missing = templates_dir / "messages" / (exc.name if isinstance(exc.name, str) else name)
        needed = "" if missing == path else f" (needed by {path})"
        return ConfigurationError(f"message template not found{needed}", file=missing)
    if isinstance(exc, TemplateSyntaxError):
        broken = templates_dir / "messages" / exc.name if exc.name else path
        return ConfigurationError(f"template syntax error at line {exc.lineno}: {exc.message}", file=broken)
    return ConfigurationError(f"message template failed to render: {exc}", file=path)  # UndefinedError, ...


def render_message(template: str, language: str, context: Mapping[str, Any]) -> Message:
    """Render `<language>/<template>` (.subject.txt, .txt, .html) with `context`.

    Raises ConfigurationError for an unknown language or template, a template syntax error or a
    variable missing from `context`.
    """
    return renderer(template, language)(context)


def renderer(template: str, language: str) -> Callable[[Mapping[str, Any]], Message]:
    """`render_message` for many contexts: the three templates are looked up once, not per message.

    Jinja2 checks each template file's modification time on every lookup (auto_reload): four stat calls per
    message, a tenth of a recall notice's cost on the sender (benchmarks/recall_bench.py). A fan-out takes one
    renderer per batch and language, so an edited template still shows from the next batch on.
    """
    templates_dir = get_settings().templates_dir
    env = _environment(templates_dir)
    base = f"{language}/{template}"
    names = (f"{base}.subject.txt", f"{base}.txt", f"{base}.html")
    loaded = [_load(env, name, templates_dir) for name in names]

    def render(context: Mapping[str, Any]) -> Message:
        subject, text, html = (_render(template_, name, context, templates_dir)
                               for template_, name in zip(loaded, names, strict=True))
        # Mail headers are one line: fold whatever whitespace the template produced.
        return Message(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html.strip() + "\n")

    return render
