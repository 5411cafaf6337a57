"""The product catalogue: known models, their price and eligibility profile (products.yaml)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aftersales.config.files import read_yaml
from aftersales.errors import ConfigurationError


class Product(BaseModel):
    """One model the company sells."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    name: str
    price: float = Field(ge=0)
    profile: str = "default"


_PRODUCTS = TypeAdapter(list[Product])


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, Product]:
    data = read_yaml(path, "product catalogue") or {}
    if not isinstance(data, dict):
        raise ConfigurationError("expected a mapping with a 'products' list", file=path)
    try:
        products = _PRODUCTS.validate_python(data.get("products") or [])
    except ValidationError as exc:
        raise ConfigurationError.from_validation(exc, file=path, what="product catalogue", at=("products",)) from exc
    return {p.model: p for p in products}


def catalogue() -> dict[str, Product]:
    """Known products by model, re-read when the file changes."""
    from aftersales.config.settings import get_settings

    path = get_settings().products_file
    try:
        return _load(str(path), path.stat().st_mtime)
    except FileNotFoundError as exc:
        raise ConfigurationError("product catalogue not found", file=path) from exc


def product(model: str) -> Product | None:
    """A product by model, or None when the catalogue does not know it."""
    return catalogue().get(model)
