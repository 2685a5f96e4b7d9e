"""The table definitions used by the code match what the migrations create."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from docsvc.adapters.tables import metadata


def test_models_match_migrations(svc):
    with svc.catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_is_idempotent(svc):
    assert svc.catalog.migrate() == []
    current, head = svc.catalog.schema_revision()
    assert current == head
