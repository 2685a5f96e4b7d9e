"""The layers hold: Whoosh stays inside docsvc/adapters/whoosh/, and docsvc/core/ depends on no
adapter, service, face or framework. Every module under docsvc/ is read with ``ast``; a
failure names the file and line of each import that breaks a rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCSVC = ROOT / "docsvc"
WHOOSH_PACKAGE = DOCSVC / "adapters" / "whoosh"
# Old module paths kept only so that pickles in existing indexes still load.
SHIMS = {DOCSVC / "adapters" / "whoosh_index.py", DOCSVC / "adapters" / "whoosh_write.py"}
APP = DOCSVC / "app.py"
CORE_MAY_NOT_IMPORT = ("docsvc.adapters", "docsvc.services", "docsvc.web", "docsvc.cli", "flask", "sqlalchemy")


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every module an import statement of ``path`` may load: for
    ``from a.b import c`` both ``a.b`` and ``a.b.c`` (c may be a module). Relative imports are
    resolved against the file's package (``root`` holds the top package)."""
    package = ".".join(path.relative_to(root).parent.parts)
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            out.append((node.lineno, source))
            out += [(node.lineno, f"{source}.{alias.name}") for alias in node.names if alias.name != "*"]
    return out


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def modules() -> list[Path]:
    return sorted(DOCSVC.rglob("*.py"))


def where(path: Path, line: int, module: str) -> str:
    return f"{path.relative_to(ROOT)}:{line} imports {module}"


def test_only_the_whoosh_package_imports_whoosh() -> None:
    found = [
        where(path, line, module)
        for path in modules()
        if not path.is_relative_to(WHOOSH_PACKAGE)
        for line, module in imports(path)
        if within(module, "whoosh")
    ]
    assert not found, "Whoosh is used outside docsvc/adapters/whoosh/:\n" + "\n".join(found)


@pytest.mark.slow
def test_the_whoosh_package_is_reached_only_through_the_app_wiring() -> None:
    # docsvc/app.py picks the index (WhooshIndex, from the package itself); the shims re-export
    # pickled classes. Everything else speaks docsvc.core.search, and nothing imports the shims.
    found = []
    for path in modules():
        if path.is_relative_to(WHOOSH_PACKAGE):
            continue
        for line, module in imports(path):
            if within(module, "docsvc.adapters.whoosh_index", "docsvc.adapters.whoosh_write"):
                found.append(where(path, line, module))
            elif within(module, "docsvc.adapters.whoosh"):
                allowed = path in SHIMS or (
                    path == APP and module in ("docsvc.adapters.whoosh", "docsvc.adapters.whoosh.WhooshIndex")
                )
                if not allowed:
                    found.append(where(path, line, module))
    assert not found, "The Whoosh package is imported past its seam:\n" + "\n".join(found)


def test_core_imports_no_adapter_service_face_or_framework() -> None:
    found = [
        where(path, line, module)
        for path in modules()
        if path.is_relative_to(DOCSVC / "core")
        for line, module in imports(path)
        if within(module, *CORE_MAY_NOT_IMPORT)
    ]
    assert not found, "docsvc/core/ depends on an outer layer:\n" + "\n".join(found)


def test_the_import_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    # The rules above are only as good as imports(): absolute, from-, relative and aliased forms.
    package = tmp_path / "docsvc" / "core"
    package.mkdir(parents=True)
    source = package / "sample.py"
    source.write_text(
        "import whoosh.query as wq\nfrom docsvc.adapters import whoosh\nfrom ..services import search\n"
        "from . import text\n\ndef f():\n    from flask import g\n",
        encoding="utf-8",
    )
    assert sorted(imports(source, root=tmp_path)) == [
        (1, "whoosh.query"),
        (2, "docsvc.adapters"),
        (2, "docsvc.adapters.whoosh"),
        (3, "docsvc.services"),
        (3, "docsvc.services.search"),
        (4, "docsvc.core"),
        (4, "docsvc.core.text"),
        (7, "flask"),
        (7, "flask.g"),
    ]


@pytest.mark.slow
def test_only_the_s3_adapter_speaks_to_the_object_store() -> None:
    s3 = DOCSVC / "adapters" / "s3_blobstore.py"
    found = [
        where(path, line, module)
        for path in modules()
        if path != s3
        for line, module in imports(path)
        if within(module, "boto3", "botocore")
    ]
    assert not found, "boto3 is used outside docsvc/adapters/s3_blobstore.py:\n" + "\n".join(found)


def test_services_and_faces_speak_the_blob_port_not_an_engine() -> None:
    # app.py picks the store; catalog.py maps disk errors with the local store's helper.
    allowed = {APP, DOCSVC / "adapters" / "catalog.py"}
    found = [
        where(path, line, module)
        for path in modules()
        if path not in allowed and not path.is_relative_to(DOCSVC / "adapters")
        for line, module in imports(path)
        if within(module, "docsvc.adapters.blobstore", "docsvc.adapters.s3_blobstore")
    ]
    assert not found, "use docsvc.core.blobs instead:\n" + "\n".join(found)


def test_use_cases_take_their_connections_from_the_catalogs_units_of_work() -> None:
    """One persistence style (docs/architecture.md): a service never reaches the engine behind
    the catalog; it asks for ``reading()``, ``writing()`` or ``transaction()`` and hands the
    connection to a table gateway."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno} uses .engine"
        for path in sorted((DOCSVC / "services").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.Attribute) and node.attr == "engine" and _names_catalog(node.value)
    ]
    assert not found, "use the catalog's units of work:\n" + "\n".join(found)


def _names_catalog(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "catalog") or (
        isinstance(node, ast.Name) and node.id == "catalog"
    )
