"""The core never imports Django, sqlite3 or psycopg (shared/DESIGN.md): it is tested
and used without settings or a database."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hepatrial.core

FORBIDDEN = ("django", "sqlite3", "psycopg", "psycopg2", "sqlalchemy")
CORE = Path(hepatrial.core.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_core_module_imports_a_database_or_web_framework():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(CORE)): sorted(imported_modules(f) & set(FORBIDDEN)) for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_checker_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom django.db import models\nif True:\n    import sqlite3\n")
    assert imported_modules(bad) & set(FORBIDDEN) == {"django", "sqlite3"}


def test_importing_the_whole_core_loads_none_of_them():
    modules = [
        "hepatrial.core." + ".".join(f.relative_to(CORE).with_suffix("").parts)
        for f in CORE.rglob("*.py")
        if f.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
