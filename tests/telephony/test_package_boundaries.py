"""`telephony` stays a leaf package: no web framework, no engines, a docstring per module."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import telephony

FORBIDDEN = ("starlette", "uvicorn", "tts_core", "gateway")
PACKAGE_DIR = Path(telephony.__file__).parent


def module_files() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def test_no_module_imports_a_forbidden_package() -> None:
    for path in module_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_importing_everything_loads_no_forbidden_package() -> None:
    modules = [m.name for m in pkgutil.walk_packages([str(PACKAGE_DIR)], "telephony.")]
    assert "telephony.carriers.audiosocket" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    assert out.stdout.strip() == ""


def test_every_module_says_what_it_owns() -> None:
    for path in module_files():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc) > 40, f"{path.relative_to(PACKAGE_DIR)} lacks a module docstring"
