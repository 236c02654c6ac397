"""The test suite keeps its layout: tests in packages that mirror lib/, helpers in tests/support/,
no test module importing another, and one way to wait."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TEST_MODULES = sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)
HAND_WAIT = re.compile(r"^\s*deadline\s*=|time\.(monotonic|time)\(\)\s*\+|while\s+time\.(monotonic|time)\(\)\s*<")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(TESTS)): sorted(m for m in imported_modules(path) if re.match(r"tests(\.\w+)*\.(test_\w+|conftest)$", m))
        for path in TEST_MODULES
    }
    assert not {k: v for k, v in offenders.items() if v}, "share it through tests/support/ or a conftest.py instead"


def test_every_test_module_is_in_a_package():
    """Packages give modules with the same file name in two folders their own names."""
    assert len(TEST_MODULES) > 40
    missing = sorted({str(p.parent.relative_to(TESTS)) for p in TEST_MODULES if not (p.parent / "__init__.py").exists()})
    assert not missing


def test_tests_wait_with_wait_until_only():
    found = [
        f"{path.relative_to(TESTS)}:{n}"
        for path in TEST_MODULES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_WAIT.search(line)
    ]
    assert not found, "use tests.support.wait_until.wait_until"
