"""The library layer never imports slicer or Qt (DESIGN.md: one-way layers)."""
import ast
from pathlib import Path

import InnerEarSegLib

FORBIDDEN = ("slicer", "qt", "PySide6", "PyQt5", "PythonQt", "ctk", "vtkmodules.qt")


def test_no_library_module_imports_slicer_or_qt():
    root = Path(InnerEarSegLib.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders
    assert len(list(root.rglob("*.py"))) > 10  # the walk really saw the package
