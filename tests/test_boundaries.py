"""The package boundaries (flame <- motionprior <- annotator <- eval <- demos), read from the import statements
of every module: flame imports nothing else from the project; annotator and motionprior do not import each other,
except the annotator's motion term, which uses the generator interface; nothing below eval imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flame", "annotator", "motionprior", "eval", "demos")
#: package -> the project packages it may import
ALLOWED = {"flame": set(), "annotator": {"flame"}, "motionprior": {"flame"},
           "eval": {"flame", "annotator", "motionprior"}, "demos": set(PACKAGES)}
#: the one module allowed to cross the annotator / motionprior boundary
MOTION_TERM = "annotator/motion_term.py"


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages imported anywhere in a module (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_the_design_allows(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED[package] | {package} | ({"motionprior"} if rel == MOTION_TERM else set())
        extra = imported_packages(path) - allowed
        if extra:
            bad.append(f"{rel} imports {sorted(extra)}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from motionprior.state import StateSpec\n    import eval.report\n")
    assert imported_packages(module) == {"motionprior", "eval"}
