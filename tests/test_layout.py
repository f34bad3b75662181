"""The shape of the test suite itself: shared builders live in modules of their own, never in a
test module, so that a test module can be read, moved or changed without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _is_test_module(dotted: str) -> bool:
    return any(part.startswith("test_") for part in dotted.split("."))


def imported_test_modules(source: str, package: str) -> list[str]:
    """The test modules (``test_*``) that Python source in ``package`` imports, in order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            if _is_test_module(base):
                found.append(base)
            found += [f"{base}.{a.name}" for a in node.names if a.name.startswith("test_")]
    return found


def test_the_check_sees_every_way_of_importing_a_test_module() -> None:
    source = (
        "import tests.fidelity.test_contacts\n"
        "from tests.reports.test_pipeline import table\n"
        "from tests.config import test_settings\n"
        "from .test_contact_pages import form\n"
        "from tests.fidelity.builders import make_components\n"
        "from tests import factories\n"
    )
    assert imported_test_modules(source, "tests.fidelity") == [
        "tests.fidelity.test_contacts",
        "tests.reports.test_pipeline",
        "tests.config.test_settings",
        "tests.fidelity.test_contact_pages",
    ]


def test_no_module_imports_from_a_test_module() -> None:
    """Helpers that test modules share go to a module of builders (``tests/factories.py``,
    ``tests/<app>/builders.py`` and the like), imported from there by each."""
    offenders = {}
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            package = ".".join(path.relative_to(ROOT).parent.parts)
            found = imported_test_modules(path.read_text(encoding="utf-8"), package)
            if found:
                offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_no_test_empties_the_whole_cache() -> None:
    """``cache.clear()`` empties the whole Redis database, which the other test processes use
    at the same time: a test empties its own keys with ``tests.conftest.clear_cache``."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name not in ("conftest.py", "test_layout.py")
        and "cache.clear()" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
