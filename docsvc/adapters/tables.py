"""The catalog's tables (SQLAlchemy Core). The schema itself is created by Alembic migrations
in ``docsvc/adapters/migrations``; these definitions must match the latest migration
(``tests/test_migrations.py`` checks that they do)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from docsvc.core.model import DocClass
from docsvc.core.search import visible_site_projects

metadata = sa.MetaData()

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("doc_type", sa.String(64), nullable=False),
    sa.Column("service_category", sa.String(16), nullable=False),
    sa.Column("doc_class", sa.String(16), nullable=False),
    sa.Column("service_scope", sa.String(16)),
    sa.Column("pdca_phase", sa.String(16)),
    sa.Column("project", sa.String(500), nullable=False, server_default=""),
    sa.Column("counterparty", sa.String(500), nullable=False, server_default=""),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("effective_date", sa.Date),
    sa.Column("review_due", sa.Date),
    sa.Column("owner", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
    # Pinyin sort keys (docsvc.core.collation, migration 0021): lists sorted by title, project
    # or counterparty come in pinyin order, sorted and paged by the database.
    sa.Column("title_key", sa.String(500), nullable=False, server_default=""),
    sa.Column("project_key", sa.String(500), nullable=False, server_default=""),
    sa.Column("counterparty_key", sa.String(500), nullable=False, server_default=""),
    # Custom field values (migration 0025, docsvc.core.fields): key → canonical text; NULL: none.
    sa.Column("fields", sa.JSON),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(200), nullable=False),
    sa.Column("original_filename", sa.String(500), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("provenance", sa.JSON, nullable=False),
    sa.UniqueConstraint("document_id", "number", name="uq_versions_document_number"),
)
sa.Index("ix_versions_sha256", versions.c.sha256)


def site_visible(site_projects: Collection[str] | None) -> list[Any]:
    """The access rule for on-site (9.2) documents (:func:`docsvc.core.search.site_visible`) as
    conditions on ``documents``: only those of ``site_projects`` (None: every document)."""
    if site_projects is None:
        return []
    projects = visible_site_projects(frozenset(site_projects))
    return [sa.or_(documents.c.doc_class != DocClass.SITE.value, documents.c.project.in_(projects))]


audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("document_id", sa.Integer),
    sa.Column("version", sa.Integer),
    # Canonical JSON text, not a JSON column: PostgreSQL's jsonb would reorder keys and the
    # hash must be recomputable from exactly what is stored.
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)
sa.Index("ix_audit_log_document", audit_log.c.document_id, audit_log.c.seq)

# One row (id = 1): the last seq and hash. Every write transaction locks it first, which
# serialises appends so two processes can never fork the chain.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Changes waiting to reach the search index, written in the same transaction as the change.
index_outbox = sa.Table(
    "index_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document_id", sa.Integer, nullable=False),
    sa.Column("version_id", sa.Integer),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    # Until then the row is left to whoever claimed it (a bulk import indexing its versions, which
    # renews the lease while it runs), or, unclaimed, to nobody (an extraction retried later).
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
    sa.Column("claimed_by", sa.String(64)),  # the lease holder (see SqlCatalog.renew_outbox_lease)
)

# Word templates: each version's .docx is a blob; its schema is kept as canonical JSON text.
templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("schema_sha256", sa.String(64), nullable=False),
    sa.Column("name_zh", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("doc_type", sa.String(64), nullable=False),
    sa.Column("lint", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("slug", "version", name="uq_templates_slug_version"),
)

# Derived files of a version (the PDF of a generated DOCX): blobs too, never replacing the version.
renditions = sa.Table(
    "renditions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("media_type", sa.String(200), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("producer", sa.String(200), nullable=False),
    sa.UniqueConstraint("version_id", "media_type", name="uq_renditions_version_type"),
)

# Extracted text per content hash and extractor version: derived, recomputed when the
# extractor changes, shared by identical content.
extractions = sa.Table(
    "extractions",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("extractor_version", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("chars", sa.Integer, nullable=False),
    sa.Column("pages", sa.Integer),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# OCR results page by page (migration 0020), per content hash and OCR cache key
# (docsvc.core.ocr.cache_key): written as each page is recognised, so that a job interrupted
# mid-document goes on from there; removed when the document's text is cached in extractions.
ocr_pages = sa.Table(
    "ocr_pages",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("engine", sa.String(32), primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True),  # 1-based
    sa.Column("data", sa.Text, nullable=False),  # docsvc.core.ocr.OcrPage.to_dict() as JSON
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Classification suggestions; "pending" ones that need review form the review list.
suggestions = sa.Table(
    "suggestions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("doc_type", sa.String(64), nullable=False),
    sa.Column("doc_type_confidence", sa.Float, nullable=False),
    sa.Column("service_category", sa.String(16), nullable=False),
    sa.Column("service_category_confidence", sa.Float, nullable=False),
    sa.Column("project", sa.String(500)),
    sa.Column("terms", sa.JSON, nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("needs_review", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", sa.String(200)),
)
sa.Index("ix_suggestions_state", suggestions.c.state, suggestions.c.needs_review)
sa.Index("ix_suggestions_document", suggestions.c.document_id, suggestions.c.state)  # (migration 0030)

# --- people: accounts, API tokens, project membership (migration 0003) -----------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("role", sa.String(16), nullable=False),
    # werkzeug.security hash (scrypt); "!" for accounts that may only use API tokens.
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_login_at", sa.DateTime(timezone=True)),
    # Someone else chose the password (initial admin, generated, reset): the UI asks for a new one.
    sa.Column("password_change_required", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Only the SHA-256 of a token is stored: the token itself is shown once, when it is made.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_api_tokens_user", api_tokens.c.user_id)

# Who works on which project: decides who may read on-site (9.2) documents of that project.
project_members = sa.Table(
    "project_members",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("project", sa.String(500), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

# Secrets all servers of one installation share, e.g. the session-signing key (migration 0007).
instance_secrets = sa.Table(
    "instance_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Failed sign-ins per account ("account", username as typed) and per client address ("address",
# IP), migration 0010: the delay and the lockout live here so that they hold across servers.
# ``failures`` counts attempts in the current window, including ones still being checked.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retry_at", sa.DateTime(timezone=True)),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("lockouts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reasons", sa.JSON, nullable=False),
)
sa.Index("ix_login_failures_last", login_failures.c.last_failure_at)

# Sign-in sessions (migration 0012): the cookie carries a random secret, the catalog only its
# SHA-256 (``id``), so reading the catalog gives no one a session. A session is valid while it is
# not ended, its user is active, and it is within the idle and absolute limits (settings).
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Written at most once a minute (docsvc.services.users.SESSION_TOUCH_INTERVAL).
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("end_reason", sa.String(32)),  # docsvc.services.users.SessionEnd
)
sa.Index("ix_sessions_user", sessions.c.user_id, sessions.c.ended_at)
sa.Index("ix_sessions_last_seen", sessions.c.last_seen_at)

# --- background work that every server of an installation shares (migration 0008) -------------

# The job queue: any server's runner claims a job (FOR UPDATE SKIP LOCKED on PostgreSQL), holds
# it under a lease it keeps renewing, and records the outcome; a job whose lease ran out (its
# server died) is claimed again. ``attempts`` is also the fencing token of the current run.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON text
    sa.Column("state", sa.String(16), nullable=False),  # docsvc.adapters.jobs.JobState
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
    sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("node", sa.String(200)),  # the server that claimed it last
    sa.Column("error", sa.Text),  # JSON text: {"code", "message" (中文), "message_en"}
    # What the job is about ("rendition.pdf:<version id>"), kept for finding the latest job of a
    # subject; ``active_key`` holds the same while the job is queued or running and is unique, so
    # asking twice (on any server) finds the job already there instead of queueing another.
    sa.Column("key", sa.String(200)),
    sa.Column("active_key", sa.String(200), unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("result", sa.Text),  # JSON text
)
sa.Index("ix_jobs_claim", jobs.c.state, jobs.c.run_after)
sa.Index("ix_jobs_key", jobs.c.key)

# Periodic jobs: the server whose conditional UPDATE moves next_run_at on (WHERE next_run_at <=
# now) queues the period's job; every other server's UPDATE then matches no row.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_run_at", sa.DateTime(timezone=True)),
    sa.Column("last_node", sa.String(200)),
)

# The servers (their job runners) and their heartbeats.
nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stopped_at", sa.DateTime(timezone=True)),
)

# Review reminders (spec 8.1.3): one row per document and review-due date it reached, so a
# document is reminded of once per due date however many servers run the daily job.
review_reminders = sa.Table(
    "review_reminders",
    metadata,
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
    sa.Column("review_due", sa.Date, primary_key=True),
    sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("job_id", sa.Integer),
)

# Derived models every server uses, each kept as a blob and named here (migration 0009): the
# current classifier is the one row named "classifier". An older model's blob is then an
# orphan that `docsvc gc` removes.
derived_models = sa.Table(
    "derived_models",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("labels_fingerprint", sa.String(64), nullable=False),
    sa.Column("n_samples", sa.Integer, nullable=False),
    sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("trained_by", sa.String(200), nullable=False),
)

# First-page thumbnails, derived data kept per (content hash, renderer version) (migration
# 0018): versions with the same content share one, and a new renderer version makes them again.
# The picture (a few kB of WebP) is kept in the row: it is remade from the archive at will, so it
# needs neither the blob store's durability nor its garbage collection. A row that is not "ok"
# records why there is no picture (encrypted, too large, failed), so it is not tried again.
thumbnails = sa.Table(
    "thumbnails",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),  # of the version's content
    sa.Column("renderer", sa.String(64), primary_key=True),  # docsvc.core.thumbnail.THUMBNAILER_VERSION
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("media_type", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("pages", sa.Integer),
    sa.Column("source_sha256", sa.String(64), nullable=False),  # what was drawn: the version, or its PDF
    sa.Column("detail", sa.JSON, nullable=False),  # {"zh", "en"} when not ok; the rendering time
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Passage vectors of versions, for semantic ranking (migration 0023): derived data, one row per
# version, made by the model named in ``model`` (docsvc.core.semantic.Embedder.version) from the
# passages whose hash is ``text_key``; rows of another model are made again, never compared.
passage_vectors = sa.Table(
    "passage_vectors",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("text_key", sa.String(64), nullable=False),
    sa.Column("passages", sa.Integer, nullable=False),
    sa.Column("vectors", sa.LargeBinary, nullable=False),  # float16, passages × dim
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_passage_vectors_key", "model", "text_key"),
)

# The meaning of each content's head for the classifier (migration 0029): derived data, one
# row per content, made by the model named in ``model``; another model's row is made again.
meaning_vectors = sa.Table(
    "meaning_vectors",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float16, dim
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Saved views (migration 0019): a search or a document-list filter under a name, per owner
# (names unique per owner), optionally shared with every signed-in user. ``params`` holds the
# query string's parameters as [name, value] pairs, checked by the same parser the page uses.
saved_views = sa.Table(
    "saved_views",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # docsvc.services.views.ViewKind
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("owner_id", "name", name="uq_saved_views_owner_name"),
)

# The views a user shows on their dashboard as widgets (their own, or shared ones).
saved_view_pins = sa.Table(
    "saved_view_pins",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("view_id", sa.Integer, sa.ForeignKey("saved_views.id"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Managed tags and counterparties (migration 0024, docsvc.services.terms): documents keep the names.
tag_catalog = sa.Table(
    "tag_catalog",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(500), nullable=False, unique=True),
    sa.Column("colour", sa.String(16), nullable=False, server_default="grey"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Custom fields per document type (migration 0025): retired, never deleted (values stay readable).
field_definitions = sa.Table(
    "field_definitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("doc_type", sa.String(64), nullable=False),
    sa.Column("key", sa.String(40), nullable=False, unique=True),
    sa.Column("label_zh", sa.String(100), nullable=False),
    sa.Column("label_en", sa.String(100), nullable=False, server_default=""),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("choices", sa.JSON, nullable=False),
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retired_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

counterparty_catalog = sa.Table(
    "counterparty_catalog",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(500), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
