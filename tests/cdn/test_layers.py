"""The cdn app sits left of the catalog and videos: it imports neither (nor anything after)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"streamsite", "shield", "accounts", "cdn"}
APPS = {"streamsite", "shield", "accounts", "cdn", "catalog", "videos", "progress", "streaming"}


def imported_apps(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found & APPS


def test_the_cdn_app_imports_only_apps_to_its_left():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) - ALLOWED)
        for path in (ROOT / "cdn").rglob("*.py")
        if imported_apps(path) - ALLOWED
    }

    assert offenders == {}
