"""The other configuration files (catalogue, labels, message templates) name the file and the key at fault."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from aftersales.config import catalogue
from aftersales.config.settings import PROJECT_ROOT, get_settings
from aftersales.errors import ConfigurationError
from aftersales.messaging import labels
from aftersales.messaging.render import render_message


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing the catalogue and the templates at tmp_path."""
    monkeypatch.setenv("AFTERSALES_PRODUCTS_FILE", str(tmp_path / "products.yaml"))
    monkeypatch.setenv("AFTERSALES_TEMPLATES_DIR", str(tmp_path / "templates"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_an_invalid_product_names_the_file_and_the_key(configured: Path):
    path = configured / "products.yaml"
    path.write_text("products:\n  - {model: A1, name: Kettle, price: 10}\n  - {model: B2, name: Iron, price: -1}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        catalogue.catalogue()
    assert (info.value.file, info.value.key) == (str(path), "products.1.price")
    assert str(info.value).startswith(f"{path}: not a valid product catalogue: products.1.price: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("products: [unclosed\n", "not valid YAML at line", id="yaml"),
        pytest.param("- a list\n", "expected a mapping", id="not_a_mapping"),
    ],
)
def test_an_unreadable_catalogue_names_the_file(configured: Path, text: str, expected: str):
    path = configured / "products.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=expected) as info:
        catalogue.catalogue()
    assert info.value.file == str(path)


def test_a_missing_catalogue_names_the_file(configured: Path):
    with pytest.raises(ConfigurationError, match="product catalogue not found") as info:
        catalogue.catalogue()
    assert info.value.file == str(configured / "products.yaml")


def test_labels_of_an_unknown_language_name_the_file(configured: Path):
    with pytest.raises(ConfigurationError, match="no labels for language 'fr'") as info:
        labels.label("gates", "repair.triage", "fr")
    assert info.value.file == str(configured / "templates" / "labels" / "fr.yaml")


def test_a_labels_section_that_is_not_a_mapping_names_the_key(configured: Path):
    path = configured / "templates" / "labels" / "en.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("gates: just a string\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        labels.label("gates", "repair.triage", "en")
    assert (info.value.file, info.value.key) == (str(path), "gates")


def test_broken_labels_yaml_names_the_file(configured: Path):
    path = configured / "templates" / "labels" / "en.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("gates: {unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid YAML") as info:
        labels.label("gates", "repair.triage", "en")
    assert info.value.file == str(path)


def test_a_missing_message_template_is_the_file_of_the_error(configured: Path):
    with pytest.raises(ConfigurationError, match="message template not found") as info:
        render_message("gate_request", "zh", {})
    assert info.value.file == str(configured / "templates" / "messages" / "zh" / "gate_request.subject.txt")


def test_a_template_missing_its_layout_names_the_layout(configured: Path):
    shutil.copytree(PROJECT_ROOT / "templates" / "messages", configured / "templates" / "messages")
    (configured / "templates" / "messages" / "zh" / "_layout.html").unlink()
    from tests.unit.test_messages import context_for

    with pytest.raises(ConfigurationError, match="needed by") as info:
        render_message("gate_request", "zh", context_for("gate_request"))
    assert info.value.file == str(configured / "templates" / "messages" / "zh" / "_layout.html")


def test_a_template_syntax_error_names_the_file_and_line(configured: Path):
    directory = configured / "templates" / "messages" / "zh"
    directory.mkdir(parents=True)
    (directory / "broken.subject.txt").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="line 2") as info:
        render_message("broken", "zh", {})
    assert info.value.file == str(directory / "broken.subject.txt")
