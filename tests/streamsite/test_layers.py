"""The layer order holds: each app imports only the apps to its left (README, Architecture).

``streamsite`` ← ``shield`` ← ``accounts`` ← ``cdn`` ← ``catalog`` ← ``videos`` ← ``progress``
← ``streaming``. import-linter (``.importlinter``) checks the import statements, wherever they
are (inside functions too); the scan below adds what it cannot see: a later app reached by a
string, as in ``apps.get_model("streaming", "Provider")``, ``import_string("progress.x")``, or a
lazy model reference such as ``"streaming.Provider"``. A lower app that needs something from a
higher one offers a registration point instead (as accounts does for token resolvers).
"""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"

# Where the project is put together, apps are named by design: the installed apps and
# middleware, the root URLconf including each app's urls, and the one beat schedule naming
# each app's periodic tasks.
COMPOSITION_ROOTS = {"streamsite/settings.py", "streamsite/urls.py", "streamsite/celery.py"}
# Calls whose string argument names an app or one of its modules.
LOOKUPS = {
    "get_model",
    "get_app_config",
    "get_containing_app_config",
    "is_installed",
    "import_string",
    "import_module",
    "__import__",
    "include",
    "send_task",
    "signature",
}


def layer_order() -> list[str]:
    """The apps from the bottom layer up, as the import-linter contract lists them."""
    config = configparser.ConfigParser()
    config.read(CONFIG)
    return config["importlinter:contract:layers"]["layers"].split()[::-1]


def string_lookups(order: list[str]) -> list[str]:
    """``path:line: app -> "later.thing"`` for each string that reaches a later app."""
    found = []
    for position, app in enumerate(order):
        later = order[position + 1 :]
        if not later:
            continue
        names = "|".join(later)
        dotted = re.compile(rf"^(?:{names})\.[A-Za-z_]\w*(?:\.\w+)*$")
        bare = re.compile(rf"^(?:{names})(?:\.\w+)*$")
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in COMPOSITION_ROOTS:
                continue
            tree = ast.parse(path.read_text(), filename=relative)
            for node in ast.walk(tree):
                strings: list[ast.Constant] = []
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if dotted.match(node.value):
                        strings.append(node)
                elif isinstance(node, ast.Call) and _called_name(node.func) in LOOKUPS:
                    strings.extend(
                        arg
                        for arg in node.args
                        if isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and bare.match(arg.value)
                        and not dotted.match(arg.value)  # reported once, as a string above
                    )
                found.extend(f"{relative}:{s.lineno}: {app} -> {s.value!r}" for s in strings)
    return found


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def test_apps_import_only_the_apps_to_their_left() -> None:
    linter = subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--config", CONFIG, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lookups = string_lookups(layer_order())
    problems = []
    if linter.returncode != 0:
        problems.append(f"import-linter (.importlinter):\n{linter.stdout}{linter.stderr}")
    if lookups:
        problems.append("Strings that look up a later app:\n" + "\n".join(lookups))
    assert not problems, "\n\n".join(problems)
