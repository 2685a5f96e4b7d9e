"""Fresh PostgreSQL catalogs for the tests of one process, without a CREATE DATABASE each.

Cloning the migrated template costs about 0.4 s a test (the server copies and syncs the files);
a database a test is done with is emptied instead, in a few milliseconds, renamed and lent
again. It is only reused when nothing but rows changed: a test that altered the schema (a migration test going
down and up, a dropped index) or the database's settings gets its database dropped, and the next
test a new clone.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

# Everything a test could change besides the rows: tables, columns, constraints, indexes,
# sequences, views, functions, triggers, extensions, schemas, privileges, row security, the
# database's own settings and the migration it is at.
_SCHEMA = sa.text(r"""
SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
  SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
         || ' ' || coalesce(column_default, '')
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT 'sequence ' || sequencename FROM pg_sequences WHERE schemaname = 'public'
  UNION ALL SELECT 'view ' || viewname || ' ' || md5(definition) FROM pg_views WHERE schemaname = 'public'
  UNION ALL SELECT 'function ' || p.proname || ' ' || md5(p.prosrc)
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'extension ' || extname FROM pg_extension
  UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
    WHERE left(nspname, 7) <> 'pg_temp' AND left(nspname, 13) <> 'pg_toast_temp'
  UNION ALL SELECT 'relation ' || relname || ' ' || relkind::text || ' ' || coalesce(relacl::text, '') || ' '
         || relrowsecurity::text || ' ' || coalesce(array_to_string(reloptions, ','), '')
    FROM pg_class WHERE relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'setting ' || array_to_string(setconfig, ',') FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL SELECT 'migration ' || version_num FROM alembic_version
) AS schema(x)
""")

# What any DDL leaves behind, read in a millisecond: each catalog's row count and newest row
# version (a statement that creates, alters or drops anything inserts or deletes catalog rows
# under a new transaction id; VACUUM's statistics are written in place, without one). A clone
# copies the template's catalogs byte for byte, so it starts with the template's token. Only
# when the token moved is the full fingerprint above compared.
_CATALOG_TOKEN = sa.text(
    "SELECT concat_ws(' ', "
    + ", ".join(
        f"(SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM {catalog})"
        for catalog in (
            "pg_class",
            "pg_attribute",
            "pg_attrdef",
            "pg_constraint",
            "pg_index",
            "pg_proc",
            "pg_trigger",
            "pg_namespace",
            "pg_extension",
            "pg_rewrite",
            "pg_policy",
            "pg_type",
        )
    )
    + ", (SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM pg_db_role_setting"
    " WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())),"
    " (SELECT string_agg(version_num, ',') FROM alembic_version))"
)


class PgDatabases:
    """Lends the databases of one test process: ``take()`` one, ``give_back()`` it when done."""

    def __init__(self, server_url: str, template: str) -> None:
        self.server = sa.engine.make_url(server_url)
        self.template = template
        self.admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.free: list[str] = []
        engine = self._engine(template)
        with engine.connect() as conn:
            self.fingerprint = conn.execute(_SCHEMA).scalar()
            # A database's catalog token when it was lent: a clone's is the template's.
            self.template_token: str = conn.execute(_CATALOG_TOKEN).scalar_one()
            self.tokens: dict[str, str] = {}
            self.tables = [
                name
                for (name,) in conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                if name != "alembic_version"
            ]
            meta = sa.MetaData()
            # The rows the migrations wrote (the audit chain's head): written back after emptying.
            self.seed: dict[sa.Table, list[dict[str, Any]]] = {}
            for name in self.tables:
                rows = [dict(r) for r in conn.execute(sa.text(f'SELECT * FROM "{name}"')).mappings()]
                if rows:
                    self.seed[sa.Table(name, meta, autoload_with=conn)] = rows
        engine.dispose()

    def url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def _engine(self, name: str) -> sa.Engine:
        return sa.create_engine(self.url(name), poolclass=sa.pool.NullPool)

    @contextlib.contextmanager
    def lent(self) -> Iterator[str]:
        """A database's URL for the length of a test; then the database is emptied or dropped."""
        name = self.take()
        try:
            yield self.url(name)
        finally:
            self.give_back(name)

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"docsvc_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def give_back(self, name: str) -> None:
        """Empty the database and lend it again under a new name, so that a process the test
        left behind cannot reach into the next test's database; or drop it."""
        fresh = f"docsvc_t_{uuid.uuid4().hex[:12]}"
        try:
            token = self._empty(name)
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"')
        except sa.exc.SQLAlchemyError:
            self.drop(name)
        else:
            if token != self.template_token:
                self.tokens[fresh] = token
            self.free.append(fresh)

    def _empty(self, name: str) -> str:
        """Empty the database; its catalog token afterwards."""
        engine = self._engine(name)
        try:
            with engine.begin() as conn:
                # What the test left running (a server it started).
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                token = conn.execute(_CATALOG_TOKEN).scalar_one()
                lent_with = self.tokens.pop(name, self.template_token)
                if token != lent_with and conn.execute(_SCHEMA).scalar() != self.fingerprint:
                    raise sa.exc.InvalidRequestError("the test changed the schema")
                # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE makes new files for
                # every table. Replica mode skips the foreign-key triggers, so any order will do.
                # One round trip, on the driver's cursor (without parameters, it sends several
                # statements at once): a statement each would cost more than the deleting.
                cursor = conn.connection.cursor()
                cursor.execute(
                    "SET LOCAL lock_timeout = '5s'; SET LOCAL session_replication_role = replica; "
                    + " ".join(f'DELETE FROM "{table}";' for table in self.tables)
                    + " SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)"
                    " FROM pg_sequences WHERE schemaname = 'public'"
                )
                cursor.close()
                for table, rows in self.seed.items():
                    conn.execute(table.insert(), rows)
            return token
        finally:
            engine.dispose()

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in self.free:
            self.drop(name)
        self.free.clear()
        self.admin.dispose()
