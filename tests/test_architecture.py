"""The shape of the codebase: imports point one way, callback data has one home, Telegram
stays at the edge, catalogues are complete."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.i18n import Catalogue

ROOT = Path(__file__).resolve().parents[1]
# Higher layers may import lower ones, never the other way round. Jobs are Telegram glue
# triggered by time: handlers may wake them, they never call a handler.
LAYERS = {"bot": 4, "handlers": 3, "jobs": 2, "core": 1, "storage": 0, "faq": 0}
PACKAGES = tuple(LAYERS)


def imported_modules(source: str) -> Iterator[str]:
    """Every module a source imports, also inside functions (late imports count too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def upward_imports(root: Path) -> list[str]:
    found: list[str] = []
    for package, layer in LAYERS.items():
        for path in sorted((root / package).rglob("*.py")):
            for module in imported_modules(path.read_text(encoding="utf-8")):
                top = module.split(".")[0]
                if top in LAYERS and LAYERS[top] > layer:
                    found.append(f"{path.relative_to(root)} imports {module}")
                if top in LAYERS and LAYERS[top] == layer and top != package:
                    found.append(f"{path.relative_to(root)} imports its neighbour {module}")
    return found


def test_imports_point_one_way() -> None:
    assert upward_imports(ROOT) == []


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "handlers" / "agenda.py").write_text("from storage.activities import x\n")
    (tmp_path / "core" / "dates.py").write_text("def f():\n    from handlers import agenda\n")
    (tmp_path / "storage" / "users.py").write_text("import faq.matching\n")
    assert upward_imports(tmp_path) == [
        "core/dates.py imports handlers",
        "storage/users.py imports its neighbour faq.matching",
    ]


def sibling_imports(root: Path) -> list[str]:
    """Handler modules never import one another: what two share lives in core/, or bot/app.py
    hands one's function to the other, so that only bot/ imports handlers."""
    found: list[str] = []
    for path in sorted((root / "handlers").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                found.append(f"{where} imports its sibling .{node.module or ''}")
        for module in imported_modules(source):
            if module.split(".")[0] == "handlers":
                found.append(f"{where} imports its sibling {module}")
    return found


def test_handler_modules_do_not_import_each_other() -> None:
    assert sibling_imports(ROOT) == []


def test_the_sibling_check_catches_a_handler_importing_a_handler(tmp_path: Path) -> None:
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "faq.py").write_text("from handlers.basics import show_help\n")
    (tmp_path / "handlers" / "groups.py").write_text("def f():\n    from handlers import inbox\n")
    (tmp_path / "handlers" / "privacy.py").write_text("from .signup import DRAFT\n")
    (tmp_path / "handlers" / "mine.py").write_text("from core.replies import reply\n")
    assert sibling_imports(tmp_path) == [
        "handlers/faq.py imports its sibling handlers.basics",
        "handlers/groups.py imports its sibling handlers",
        "handlers/privacy.py imports its sibling .signup",
    ]


@pytest.mark.parametrize("package", ["faq", "storage"])
def test_domain_packages_never_import_telegram(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        modules = imported_modules(path.read_text(encoding="utf-8"))
        assert not any(m.split(".")[0] == "telegram" for m in modules), path


CALLBACK_LITERAL = re.compile(r"^(signup|mine|offer|remind|forget|faq|bc|att|agenda|lang):")
PARSING_METHODS = {"split", "rsplit", "removeprefix", "startswith", "endswith", "partition"}


def callback_data_outside_its_home(source: str) -> list[int]:
    """Lines that build callback data from a literal, or parse `.data` by hand."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant) and CALLBACK_LITERAL.match(str(first.value)):
                lines.add(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if CALLBACK_LITERAL.match(node.value):
                lines.add(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PARSING_METHODS
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "data"
        ):
            lines.add(node.lineno)
    return sorted(lines)


def test_callback_data_is_built_and_parsed_only_in_core_callbacks() -> None:
    home = ROOT / "core" / "callbacks.py"
    forger = ROOT / "bot" / "offline" / "fuzz.py"  # forges callback data on purpose
    offenders = {
        str(path.relative_to(ROOT)): lines
        for package in ("bot", "core", "handlers", "jobs")
        for path in (ROOT / package).rglob("*.py")
        if path not in (home, forger)
        and (lines := callback_data_outside_its_home(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_callback_check_catches_hand_made_data() -> None:
    source = 'a = f"offer:claim:{rid}"\nb = "faq:none"\nc = query.data.rsplit(":", 1)\n'
    assert callback_data_outside_its_home(source) == [1, 2, 3]


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    assert Catalogue.load().problems() == []


def test_every_catalogue_key_used_in_code_exists() -> None:
    catalogue = Catalogue.load()
    used: set[str] = set()
    for folder in ("handlers", "bot", "core", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "i18n.py":
                continue  # its docstring shows made-up examples
            source = path.read_text(encoding="utf-8")
            used |= set(re.findall(r"\.text\(\s*(?:[a-z_.]+,\s*)?\"([a-z_]+)\"", source))
    missing = sorted(key for key in used if key not in catalogue.messages["nl"])
    assert missing == []
