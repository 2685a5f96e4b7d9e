"""docs/architecture.md shows the code as it is: its dependency picture and its table of ports are
made from the code (tests/architecture.py), and the picture's arrows obey the layers."""

from __future__ import annotations

import ast

import pytest

from tests import architecture


@pytest.mark.slow
def test_the_architecture_document_is_current() -> None:
    text = architecture.DOC.read_text(encoding="utf-8")
    assert text == architecture.render(text), (
        "docs/architecture.md is stale: run  .venv/bin/python -m tests.architecture  and commit it"
    )


def test_every_upward_arrow_is_a_named_debt() -> None:
    # The same rule as the layers contract, read off the picture: an arrow from a lower layer to a
    # higher one is drawn only when pyproject.toml names each of its imports as a known debt.
    order = [
        "docsvc.cli",
        "docsvc.web",
        "docsvc.app",
        "docsvc.services",
        "docsvc.adapters",
        "docsvc.core",
        "docsvc.errors",
    ]
    edges, debts = architecture.package_edges()
    upward = {(a, b) for a, b in edges if a in order and b in order and order.index(a) > order.index(b)}
    assert upward == debts, f"upward imports not named in the layers contract: {sorted(upward - debts)}"


@pytest.mark.slow
def test_every_search_engine_and_blob_store_is_found_as_an_adapter() -> None:
    # The ports table is only as good as its matching: the engines docsvc ships must be found.
    found = dict(architecture.ports())
    assert {"docsvc.adapters.whoosh.index.WhooshIndex", "docsvc.adapters.pg_search.index.PostgresIndex"} <= set(
        found["docsvc.core.search.SearchIndex"]
    )
    assert {"docsvc.adapters.blobstore.LocalBlobStore", "docsvc.adapters.s3_blobstore.S3BlobStore"} <= set(
        found["docsvc.core.blobs.BlobStore"]
    )


def test_the_faces_call_use_cases_not_the_catalog() -> None:
    # The web and the CLI go through the services object's use cases (and Guard); only the
    # wiring that builds the Flask app may read the catalog (the shared session key).
    wiring = {architecture.ROOT / "docsvc" / "web" / "factory.py"}
    reached = []
    for face in ("cli", "web"):
        for path in sorted((architecture.ROOT / "docsvc" / face).rglob("*.py")):
            if path in wiring:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "catalog":
                    reached.append(f"{path.relative_to(architecture.ROOT)}:{node.lineno}")
    assert not reached, f"faces reading the catalog directly: {reached}"
