"""The shape of the codebase: Telegram stays at the edge; catalogues are complete."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.i18n import Catalogue

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["faq", "storage"])
def test_domain_packages_never_import_telegram(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "telegram" for n in names), path


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    assert Catalogue.load().problems() == []


def test_every_catalogue_key_used_in_code_exists() -> None:
    catalogue = Catalogue.load()
    import re

    used: set[str] = set()
    for folder in ("handlers", "bot"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            used |= set(re.findall(r"\.text\(\s*(?:[a-z_.]+,\s*)?\"([a-z_]+)\"", source))
    missing = sorted(key for key in used if key not in catalogue.messages["nl"])
    assert missing == []
