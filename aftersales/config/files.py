"""Reading a YAML configuration file: every failure is one ConfigurationError naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aftersales.errors import ConfigurationError


def read_yaml(path: str | Path, what: str, *, missing: str | None = None,
              error: type[ConfigurationError] = ConfigurationError) -> Any:
    """The parsed file; `missing` is the message for an absent file (None: FileNotFoundError propagates)."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        if missing is None:
            raise
        raise error(missing, file=path) from exc
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", file=path) from exc
    except yaml.YAMLError as exc:
        raise error.from_yaml(exc, file=path) from exc
