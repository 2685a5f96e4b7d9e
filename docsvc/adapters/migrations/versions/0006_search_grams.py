"""PostgreSQL search ranks by character grams too (docsvc.core.ranking): each version's
characters and character bigrams with their counts, and how many documents have each gram
(refreshed in bulk from the column, not per write). PostgreSQL only, like 0005.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # No GIN index: the grams only rank candidates the words found, read by version_id.
    op.execute(
        "ALTER TABLE search_entry ADD COLUMN grams_tsv tsvector NOT NULL DEFAULT ''::tsvector, "
        "ADD COLUMN grams_len integer NOT NULL DEFAULT 0"
    )
    op.execute("""
        DO $$ BEGIN
            ALTER TABLE search_entry ALTER COLUMN grams_tsv SET COMPRESSION lz4;
        EXCEPTION WHEN OTHERS THEN NULL;  -- a server built without lz4 keeps pglz (as in 0005)
        END $$""")
    op.execute("CREATE TABLE search_gram (gram text PRIMARY KEY, df integer NOT NULL)")
    op.execute("ALTER TABLE search_state ADD COLUMN grams_docs integer")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_state DROP COLUMN grams_docs")
    op.execute("DROP TABLE search_gram")
    op.execute("ALTER TABLE search_entry DROP COLUMN grams_len, DROP COLUMN grams_tsv")
