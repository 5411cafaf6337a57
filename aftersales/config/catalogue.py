"""The product catalogue: known models, their price and eligibility profile (products.yaml)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aftersales.errors import ConfigurationError


class Product(BaseModel):
    """One model the company sells."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    name: str
    price: float = Field(ge=0)
    profile: str = "default"


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, Product]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        products = [Product.model_validate(p) for p in data.get("products", [])]
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise ConfigurationError(f"product catalogue {path} is not valid: {exc}") from exc
    return {p.model: p for p in products}


def catalogue() -> dict[str, Product]:
    """Known products by model, re-read when the file changes."""
    from aftersales.config.settings import get_settings

    path = get_settings().products_file
    try:
        return _load(str(path), path.stat().st_mtime)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"product catalogue not found: {path}") from exc


def product(model: str) -> Product | None:
    """A product by model, or None when the catalogue does not know it."""
    return catalogue().get(model)
