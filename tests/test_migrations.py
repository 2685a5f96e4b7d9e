"""The table definitions used by the code match what the migrations create."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from docsvc.adapters.tables import metadata


def _catalog_only(name, type_, parent_names) -> bool:
    """The search tables (PostgreSQL only) belong to the search engine in
    docsvc/adapters/pg_search, which reads and writes them with SQL of its own (tsvectors, GIN
    indexes): migration 0005 is their one definition."""
    table = name if type_ == "table" else parent_names.get("table_name")
    return not (table or "").startswith("search_")


def test_models_match_migrations(svc):
    with svc.catalog.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _catalog_only})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_migrate_is_idempotent(svc):
    assert svc.catalog.migrate() == []
    current, head = svc.catalog.schema_revision()
    assert current == head
