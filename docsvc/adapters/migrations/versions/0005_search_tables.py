"""Full-text search in PostgreSQL (DOCSVC_SEARCH_BACKEND=postgres): one row per indexed version
with its metadata and tsvectors under GIN indexes, passages for long documents, and the index's
own state. Created on PostgreSQL only: an SQLite catalog searches with Whoosh.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TSV = "tsvector NOT NULL DEFAULT ''::tsvector"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE TABLE search_entry (
            version_id bigint PRIMARY KEY,
            document_id bigint NOT NULL,
            number integer NOT NULL,
            is_latest boolean NOT NULL,
            sha256 text NOT NULL DEFAULT '',
            title text NOT NULL DEFAULT '',
            original_filename text NOT NULL DEFAULT '',
            doc_type text NOT NULL DEFAULT '',
            service_category text NOT NULL DEFAULT '',
            doc_class text NOT NULL DEFAULT '',
            service_scope text NOT NULL DEFAULT '',
            project text NOT NULL DEFAULT '',
            counterparty text NOT NULL DEFAULT '',
            tags text[] NOT NULL DEFAULT '{{}}',
            status text NOT NULL DEFAULT '',
            year integer,
            created_at timestamptz,
            effective_date date,
            review_due date,
            extraction_status text NOT NULL DEFAULT '',
            content text NOT NULL DEFAULT '',
            content_len integer NOT NULL DEFAULT 0,
            title_len integer NOT NULL DEFAULT 0,
            bigram_len integer NOT NULL DEFAULT 0,
            filename_len integer NOT NULL DEFAULT 0,
            has_passages boolean NOT NULL DEFAULT false,
            content_tsv {_TSV},
            bigram_tsv {_TSV},
            title_tsv {_TSV},
            filename_tsv {_TSV},
            project_tsv {_TSV},
            counterparty_tsv {_TSV}
        )""")
    for column in ("content_tsv", "bigram_tsv", "title_tsv", "filename_tsv", "project_tsv", "counterparty_tsv", "tags"):
        op.execute(f"CREATE INDEX ix_search_entry_{column} ON search_entry USING gin ({column})")
    op.execute("CREATE INDEX ix_search_entry_document ON search_entry (document_id)")
    op.execute("CREATE INDEX ix_search_entry_created ON search_entry (created_at DESC NULLS FIRST, version_id)")
    # Long documents: PostgreSQL keeps positions up to 16,383 and 256 per word in a tsvector, so
    # phrases are also matched in overlapping passages whose positions start again at 1.
    op.execute(f"""
        CREATE TABLE search_passage (
            version_id bigint NOT NULL REFERENCES search_entry (version_id) ON DELETE CASCADE,
            seq integer NOT NULL,
            base integer NOT NULL,
            content_tsv {_TSV},
            bigram_tsv {_TSV},
            PRIMARY KEY (version_id, seq)
        )""")
    op.execute("CREATE INDEX ix_search_passage_content_tsv ON search_passage USING gin (content_tsv)")
    op.execute("CREATE INDEX ix_search_passage_bigram_tsv ON search_passage USING gin (bigram_tsv)")
    op.execute("""
        CREATE TABLE search_state (
            id integer PRIMARY KEY CHECK (id = 1),
            schema_version integer NOT NULL,
            analyzer_version text NOT NULL,
            complete boolean NOT NULL,
            rebuild_cursor jsonb,
            written_at timestamptz NOT NULL
        )""")
    # Large tsvectors are read back to rank the best candidates: lz4 decompresses several times
    # faster than the default pglz.
    op.execute("""
        DO $$ BEGIN
            ALTER TABLE search_entry ALTER COLUMN content_tsv SET COMPRESSION lz4;
            ALTER TABLE search_entry ALTER COLUMN content SET COMPRESSION lz4;
        EXCEPTION WHEN OTHERS THEN NULL;  -- a server built without lz4 keeps pglz
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS search_passage")
    op.execute("DROP TABLE IF EXISTS search_entry")
    op.execute("DROP TABLE IF EXISTS search_state")
