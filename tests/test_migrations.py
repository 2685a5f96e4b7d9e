"""The table definitions used by the code match what the migrations create."""

from __future__ import annotations

import pytest
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


@pytest.mark.slow
def test_servers_starting_together_migrate_a_new_database_once():
    """Several servers started at once on an empty PostgreSQL database (SQLite has one writer)."""
    import threading
    import uuid

    import sqlalchemy as sa

    from docsvc.adapters.catalog import SqlCatalog
    from tests.conftest import PG_URL, require

    require(bool(PG_URL), "DOCSVC_TEST_POSTGRES_URL is not set; this test needs PostgreSQL")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"docsvc_m_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    catalogs = [SqlCatalog(url) for _ in range(3)]
    results, errors = [], []

    def migrate(cat):
        try:
            results.append(cat.migrate())
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=migrate, args=(c,)) for c in catalogs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert sorted(len(r) for r in results) == [0, 0, 1]  # one migrated, the others found it done
        current, head = catalogs[0].schema_revision()
        assert current == head
    finally:
        for cat in catalogs:
            cat.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_saved_views_migration_0019_goes_down_and_up(svc):
    """0019 adds the saved views and their pins beside the existing data, and takes them away again."""
    import sqlalchemy as sa
    from alembic import command

    from docsvc.adapters.catalog import _alembic_config

    svc.users.create_user("alice", "member", actor="setup", password="correct-horse-42", projects=["港口运维二期"])
    guard = svc.guard(svc.users.principal_for_cli("alice"))
    guard.views.create("我的合同", "documents", "doc_type=contract", pinned=True)

    def tables() -> set[str]:
        with svc.catalog.engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())

    with svc.catalog.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0018")
    assert {"saved_views", "saved_view_pins"}.isdisjoint(tables()) and "users" in tables()
    assert svc.catalog.migrate() != []  # up again, to the head
    current, head = svc.catalog.schema_revision()
    assert current == head
    assert {"saved_views", "saved_view_pins"} <= tables()
    assert guard.views.list() == []  # the views went with the downgrade; the user stayed
    assert guard.views.create("我的合同", "documents", "doc_type=contract").name == "我的合同"


def test_tag_catalog_migration_0024_seeds_the_names_on_documents(svc):
    """0024 adds the tag and counterparty catalogs, seeded with every name already on a document,
    and takes them away again."""
    import sqlalchemy as sa
    from alembic import command

    from docsvc.adapters.catalog import _alembic_config
    from tests.conftest import add

    add(svc, title="运维服务合同", tags=["等保", "合同"], counterparty="大连港集团有限公司")
    add(svc, title="巡检记录", tags=["巡检", "等保"], counterparty="")
    with svc.catalog.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0023")
        assert {"tag_catalog", "counterparty_catalog"}.isdisjoint(sa.inspect(conn).get_table_names())
    assert svc.catalog.migrate() != []
    with svc.catalog.engine.connect() as conn:
        tags = conn.execute(sa.text("SELECT name, colour FROM tag_catalog ORDER BY name")).all()
        cps = conn.execute(sa.text("SELECT name FROM counterparty_catalog")).scalars().all()
    assert sorted(tags) == sorted([("等保", "grey"), ("合同", "grey"), ("巡检", "grey")])
    assert cps == ["大连港集团有限公司"]
