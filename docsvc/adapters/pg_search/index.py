"""The PostgreSQL engine: :class:`PostgresIndex` (see the package docstring)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from docsvc.adapters.pg_search.query import Compiler, Leaf, phrase_rows
from docsvc.adapters.pg_search.rows import (
    HIT_COLUMNS,
    LENGTHS,
    MAX_POSITION,
    PARALLEL_MIN,
    PASSAGE_COLUMNS,
    STEADY_PENDING_LIST,
    TIERS,
    Analysed,
    quote,
    tier_lexeme,
    tsvector,
    utc,
    write_entries,
    write_in_processes,
)
from docsvc.core import ranking, text
from docsvc.core.model import DocClass
from docsvc.core.search import (
    FACETS,
    LIST_FACETS,
    Hit,
    IndexEntry,
    SearchRequest,
    SearchResult,
    SortOrder,
    check_metadata_changes,
    check_request,
    find_strings,
    make_snippet,
    parse_request,
    rebuilding_elsewhere,
    resolve_filters,
    visible_site_projects,
)
from docsvc.errors import InvalidInput, Unavailable

log = logging.getLogger(__name__)

# 2: grams_tsv and search_gram (docsvc.core.ranking); 3: grams across the spaces of letter-spaced Chinese
SCHEMA_VERSION = 3
MIN_CANDIDATES = 200  # documents whose term frequencies are read to rank the page
SEARCH_WORK_MEM = "64MB"  # per sort or hash of one search (see search())
# Per GIN index a completing rebuild builds, two at a time (1 GB was no faster at 100,000 documents).
BUILD_MEMORY = "256MB"
STATS_TTL_S = 10.0  # how long collection statistics (count, average lengths) are reused
# search_gram (how many documents have each gram) is counted again once the index has grown by
# this share: idf moves slowly, and counting reads every document's grams.
GRAMS_REFRESH_GROWTH = 0.25
GRAMS_REFRESH_INLINE_DOCS = 5000  # up to this many documents the count is redone within the write
# Up to this many documents (counted at the last refresh) a write counts them exactly to decide.
EXACT_COUNT_DOCS = 20_000
GRAMS_SAMPLE_DOCS = 10_000  # past this many documents the grams are counted in a sample (refresh_grams)
WORDS_MIN_SHARE = 0.01  # search_word keeps the words at least this share of the documents have
_REBUILD_LOCK = 0x646F6373726562  # the advisory lock of a rebuild ("docsreb")
_GRAMS_LOCK = 0x646F637367726D  # the advisory lock of a search_gram refresh ("docsgrm")
RUM_EXTENSION = "rum"


class WordIndex(StrEnum):
    """The index type of the columns phrases are matched in (PASSAGE_COLUMNS), in both tables."""

    GIN = "gin"  # PostgreSQL's own: the rows that have a phrase's words, whose positions are then read
    RUM = "rum"  # the RUM extension's: positions in the index, which matches a phrase and ranks a word


def _word_index_definition(definition: str, kind: WordIndex) -> str:
    """An index definition of :meth:`PostgresIndex._drop_word_indexes` as ``kind`` builds it."""
    for column in PASSAGE_COLUMNS:
        # (rum_tsvector_ops is RUM's default for a tsvector, which pg_get_indexdef leaves out)
        forms = {WordIndex.GIN: f"USING gin ({column})", WordIndex.RUM: f"USING rum ({column})"}
        for other in WordIndex:
            definition = definition.replace(forms[other], forms[kind])
    return definition


class PostgresIndex:
    """See the module docstring. Create with :meth:`open`; any number of processes on any
    number of machines may hold one on the same database."""

    def __init__(
        self, engine: sa.Engine, *, search_timeout: float, tz: dt.tzinfo, word_index: WordIndex = WordIndex.GIN
    ) -> None:
        self.engine = engine
        self.search_timeout = search_timeout
        self.tz = tz
        self.word_index = word_index  # what a rebuild builds
        self.positions_indexed: frozenset[str] = frozenset()  # the columns whose index (RUM) matches a phrase
        self.needs_rebuild = False
        self.rebuild_reason = ""
        self._stats: tuple[float, dict[str, float]] | None = None
        self._stats_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        engine: sa.Engine,
        *,
        search_timeout: float = 2.0,
        tz: dt.tzinfo = dt.UTC,
        word_index: WordIndex = WordIndex.GIN,
    ) -> PostgresIndex:
        """Open the index in ``engine``'s database, never raising for a missing or outdated one:
        check ``needs_rebuild``. ``word_index`` is what the next rebuild builds; until then a
        search uses what the last one built."""
        self = cls(engine, search_timeout=search_timeout, tz=tz, word_index=word_index)
        text.load()  # jieba once per process, now rather than in the first request
        self._read_state()
        return self

    def _read_state(self) -> None:
        try:
            with self.engine.connect() as conn:
                state = (
                    conn.execute(sa.text("SELECT schema_version, analyzer_version, complete FROM search_state"))
                    .mappings()
                    .first()
                )
                built = self._word_indexes(conn)
        except sa.exc.ProgrammingError:
            self._broken(
                "搜索表不存在，请先运行 docsvc init（数据库迁移）。",
                "the search tables are missing; run docsvc init (database migrations) first",
            )
            return
        except sa.exc.OperationalError as exc:
            self._broken("无法连接数据库。", f"the database is unreachable ({type(exc).__name__})")
            return
        if state is None:
            self._broken("索引尚未建立。", "the index has not been built")
        elif state["schema_version"] != SCHEMA_VERSION or state["analyzer_version"] != text.ANALYZER_VERSION:
            self._broken(
                "索引结构或分词器版本已变化。",
                f"schema/analyzer changed ({state['schema_version']}/{state['analyzer_version']} → "
                f"{SCHEMA_VERSION}/{text.ANALYZER_VERSION})",
            )
        elif not state["complete"]:
            self._broken("索引重建尚未完成。", "A rebuild has not finished.")
        else:
            self.needs_rebuild, self.rebuild_reason = False, ""
        self._note_word_indexes(built)
        kinds = ", ".join(sorted(set(built.values())))
        if built and not self.needs_rebuild and kinds != self.word_index.value:
            log.warning(
                "搜索词索引的类型为 %s，设置要求 %s：下次 docsvc index rebuild 时更换。 / The search word indexes "
                "are %s, the settings ask for %s: the next docsvc index rebuild changes them.",
                kinds,
                self.word_index.value,
                kinds,
                self.word_index.value,
            )

    def _note_word_indexes(self, built: Mapping[str, str]) -> None:
        self.positions_indexed = frozenset(column for column, kind in built.items() if kind == WordIndex.RUM)

    @staticmethod
    def _word_indexes(conn: sa.Connection) -> dict[str, str]:
        """search_entry's phrase columns (PASSAGE_COLUMNS) and their index types."""
        rows = conn.execute(
            sa.text(
                "SELECT a.attname, am.amname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_am am ON am.oid = i.relam "
                "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] "
                "WHERE x.indrelid = 'search_entry'::regclass AND a.attname = ANY(:columns)"
            ),
            {"columns": list(PASSAGE_COLUMNS)},
        ).all()
        return dict(rows)

    def _broken(self, zh: str, en: str) -> None:
        self.needs_rebuild = True
        self.rebuild_reason = f"{zh} / {en}"

    def close(self) -> None:
        pass  # the engine (and its pool) belongs to the catalog

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                conn.execute(STEADY_PENDING_LIST)
                yield conn
        except sa.exc.OperationalError as exc:
            raise Unavailable(
                "写入搜索索引失败，稍后会重试。",
                f"Writing the search index failed ({type(exc).__name__}); it will be retried.",
            ) from exc
        finally:
            self._stats = None  # this process's next search reads the statistics afresh

    # -- state and rebuild ---------------------------------------------------------------------

    def _save_state(self, conn: sa.Connection, **values: Any) -> None:
        conn.execute(
            sa.text(
                "INSERT INTO search_state (id, schema_version, analyzer_version, complete, rebuild_cursor, written_at) "
                "VALUES (1, :schema, :analyzer, :complete, CAST(:cursor AS jsonb), now()) ON CONFLICT (id) DO UPDATE SET "
                "schema_version = excluded.schema_version, analyzer_version = excluded.analyzer_version, "
                "complete = excluded.complete, rebuild_cursor = excluded.rebuild_cursor, written_at = now()"
            ),
            {"schema": SCHEMA_VERSION, "analyzer": text.ANALYZER_VERSION, **values},
        )

    def clear(self) -> None:
        """Empty the index for a rebuild, which is not searched until :meth:`mark_complete`.

        The word indexes (GIN, RUM) are dropped meanwhile and built again there: building one over
        all the rows at once costs a fraction of growing it row by row (at 100,000 documents the
        writes slowed from 96 to 55 documents a second as the indexes grew). Their definitions
        wait in search_state, so a rebuild resumed after a crash still builds them, as
        ``word_index`` says."""
        if self.word_index is WordIndex.RUM:
            self._require_rum()
        with self._write() as conn:
            conn.execute(sa.text("TRUNCATE search_passage, search_entry, search_gram, search_word"))
            deferred = self._drop_word_indexes(conn)
            self._save_state(conn, complete=False, cursor=None)
            conn.execute(
                sa.text("UPDATE search_state SET grams_docs = NULL, deferred_indexes = CAST(:d AS jsonb)"),
                {"d": json.dumps(deferred)},
            )
        self._broken("索引重建尚未完成。", "A rebuild has not finished.")
        self._stats = None

    def _require_rum(self) -> None:
        """The RUM extension in this database, or a clear error before anything changed."""
        with self.engine.connect() as conn:
            installed, available = conn.execute(
                sa.text(
                    "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = :x), "
                    "EXISTS (SELECT FROM pg_available_extensions WHERE name = :x)"
                ),
                {"x": RUM_EXTENSION},
            ).one()
        if installed:
            return
        if not available:
            raise InvalidInput(
                "DOCSVC_SEARCH_PG_INDEX=rum 需要 PostgreSQL 服务器上的 RUM 扩展（Debian：apt-get install "
                "postgresql-15-rum，版本号与服务器一致）；请安装后重试，或改回 gin。索引未作任何改动。",
                "DOCSVC_SEARCH_PG_INDEX=rum needs the RUM extension on the PostgreSQL server (Debian: apt-get "
                "install postgresql-15-rum, for the server's version); install it and try again, or set gin. "
                "The index is unchanged.",
                field="DOCSVC_SEARCH_PG_INDEX",
            )
        try:
            with self._write() as conn:
                conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {RUM_EXTENSION}"))
        except sa.exc.ProgrammingError as exc:  # not a superuser: RUM is not a trusted extension
            raise InvalidInput(
                "数据库用户无权安装 RUM 扩展：请数据库管理员在该数据库中执行 CREATE EXTENSION rum; 后重试。"
                "索引未作任何改动。",
                "The database user may not install the RUM extension: ask the database administrator to run "
                "CREATE EXTENSION rum; in this database, then try again. The index is unchanged.",
                field="DOCSVC_SEARCH_PG_INDEX",
            ) from exc

    @staticmethod
    def _drop_word_indexes(conn: sa.Connection) -> list[str]:
        """Drop the search tables' word indexes (GIN or RUM); their definitions, with any an
        unfinished rebuild dropped before."""
        waiting = conn.execute(sa.text("SELECT deferred_indexes FROM search_state")).scalar() or []
        current = conn.execute(
            sa.text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam "
                "WHERE x.indrelid IN ('search_entry'::regclass, 'search_passage'::regclass) AND am.amname IN ('gin', 'rum') "
                "ORDER BY i.relname"
            )
        ).all()
        for name, _definition in current:
            conn.execute(sa.text(f'DROP INDEX "{name}"'))
        return [*waiting, *(definition for _name, definition in current if definition not in waiting)]

    def _build_indexes_and_count_grams(self) -> None:
        """Build the indexes :meth:`clear` dropped, two at a time (each is one process on the
        server; one built before a crash is kept), and count the grams meanwhile: counting needs
        no word index, and the bigram index alone takes minutes, with the other worker idle."""
        with self.engine.connect() as conn:
            deferred = conn.execute(sa.text("SELECT deferred_indexes FROM search_state")).scalar() or []

        if self.word_index is WordIndex.RUM:
            self._require_rum()

        def build(definition: str) -> None:
            definition = _word_index_definition(definition, self.word_index)
            with self._write() as conn:
                conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
                conn.execute(sa.text(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)))

        with ThreadPoolExecutor(2, thread_name_prefix="docsvc-index-build") as pool:
            tasks = [pool.submit(build, definition) for definition in deferred]
            tasks.append(pool.submit(self.refresh_grams))
            for task in tasks:
                task.result()

    def mark_complete(self) -> None:
        self._build_indexes_and_count_grams()
        with self._write() as conn:
            conn.execute(
                sa.text("UPDATE search_state SET complete = TRUE, deferred_indexes = NULL, written_at = now()")
            )
        # Writes during the rebuild (another server's indexer) leave words in the GIN indexes'
        # pending lists, which every search would read through, and every page has rows every
        # search would check for visibility: VACUUM merges the lists and marks the pages,
        # ANALYZE gives the planner the new sizes.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM (ANALYZE) search_entry, search_passage"))
        self._read_state()

    @contextlib.contextmanager
    def rebuilding(self) -> Iterator[None]:
        """A session advisory lock held while this process rebuilds: servers that start on an
        empty index together do not rebuild it twice."""
        with self.engine.connect() as conn:
            if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _REBUILD_LOCK}).scalar():
                raise rebuilding_elsewhere()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _REBUILD_LOCK})
                conn.commit()

    def rebuild_cursor(self) -> dict[str, int] | None:
        with self.engine.connect() as conn:
            try:
                raw = conn.execute(sa.text("SELECT rebuild_cursor FROM search_state")).scalar()
            except sa.exc.ProgrammingError:
                return None
        return {k: int(v) for k, v in raw.items()} if isinstance(raw, dict) else None

    def save_rebuild_cursor(self, cursor: Mapping[str, int] | None) -> None:
        with self._write() as conn:
            conn.execute(
                sa.text("UPDATE search_state SET rebuild_cursor = CAST(:c AS jsonb), written_at = now()"),
                {"c": json.dumps(dict(cursor)) if cursor is not None else None},
            )

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, entries: Iterable[IndexEntry], *, procs: int = 1) -> int:
        """Add or replace versions (by version_id). One transaction; with ``procs`` > 1 (a
        rebuild, a sync from the command line) the batch is shared among that many forked
        processes, each analysing and writing its share in its own transaction."""
        latest = list({e.version_id: e for e in entries}.values())  # the last entry per version
        if not latest:
            return 0
        if procs > 1 and len(latest) >= PARALLEL_MIN * procs:
            write_in_processes(self.engine, latest, procs)
            self._stats = None
        else:
            with self._write() as conn:
                write_entries(conn, latest)
        self._refresh_grams_if_grown()
        return len(latest)

    def _refresh_grams_if_grown(self) -> None:
        with self.engine.connect() as conn:
            complete, counted, estimate = conn.execute(
                sa.text(
                    "SELECT complete, grams_docs, (SELECT reltuples FROM pg_class "
                    "WHERE oid = 'search_entry'::regclass) FROM search_state"
                )
            ).first() or (False, None, 0)
            # A rebuild is not searched until it completes, and completing it counts: recounting
            # while it writes would read every document's grams again and again.
            if not complete:
                return
            # Every write asks: counting a large index would cost each upload tens of ms, and
            # growth by a quarter needs no exact count (autovacuum's ANALYZE keeps reltuples
            # within a tenth of the truth).
            n = (
                estimate
                if counted and counted > EXACT_COUNT_DOCS
                else conn.execute(sa.text("SELECT count(*) FROM search_entry")).scalar_one()
            )
        if counted and n <= counted * (1 + GRAMS_REFRESH_GROWTH):
            return
        if n <= GRAMS_REFRESH_INLINE_DOCS:
            self.refresh_grams()  # well under a second
        else:
            # Minutes at 100,000 documents: the write that crossed the threshold (an upload
            # waiting to be searchable) does not wait for it.
            threading.Thread(target=self._refresh_grams_quietly, name="docsvc-grams", daemon=True).start()

    def _refresh_grams_quietly(self) -> None:
        try:
            self.refresh_grams()
        except (Unavailable, sa.exc.SQLAlchemyError):
            pass  # the next write that finds the counts stale tries again

    def refresh_grams(self) -> None:
        """Count again how many documents have each gram (search_gram) and each of the
        commoner words (search_word: those in WORDS_MIN_SHARE of them or more), unless another
        process is counting. Searches meanwhile rank with the counts before.

        Past GRAMS_SAMPLE_DOCS documents the counts come from a repeatable random sample of
        about that many, scaled to the whole: counting reads every gram of every document it
        counts (the benchmark's generated documents, whose random words make ~450 new grams
        each, have 2.3 million distinct grams at 5,000 documents). An idf needs no more
        precision than a sample of ten thousand gives; a gram the sample lacks ranks as a rare
        one. Grouped by a hash, which spills to disk past work_mem: ts_stat, which keeps every
        distinct gram in a tree in memory, took 2.4 times as long (and 6 GB over 100,000 documents)."""
        with self._write() as conn:
            if not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _GRAMS_LOCK}).scalar():
                return
            n = conn.execute(sa.text("SELECT count(*) FROM search_entry")).scalar_one()
            source, scale = "search_entry", 1.0
            if n > GRAMS_SAMPLE_DOCS:
                # The same seed draws the same rows of the same table: counted, then read.
                source = f"search_entry TABLESAMPLE BERNOULLI ({100 * GRAMS_SAMPLE_DOCS / n:.6f}) REPEATABLE (1)"
                scale = n / max(conn.execute(sa.text(f"SELECT count(*) FROM {source}")).scalar_one(), 1)
            conn.execute(sa.text("DELETE FROM search_gram; DELETE FROM search_word"))
            conn.execute(
                sa.text(
                    "INSERT INTO search_gram (gram, df) SELECT gram, round(count(*) * :scale) "
                    f"FROM {source}, unnest(tsvector_to_array(grams_tsv)) gram GROUP BY gram"
                ),
                {"scale": scale},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO search_word (word, df) SELECT word, round(count(*) * :scale) "
                    f"FROM {source}, unnest(tsvector_to_array(content_tsv)) word GROUP BY word "
                    "HAVING count(*) * :scale >= :least"
                ),
                {"scale": scale, "least": max(1.0, WORDS_MIN_SHARE * n)},
            )
            conn.execute(sa.text("UPDATE search_state SET grams_docs = :n"), {"n": n})

    def delete(self, version_ids: Iterable[int]) -> int:
        ids = list(version_ids)
        if not ids:
            return 0
        with self._write() as conn:
            return conn.execute(sa.text("DELETE FROM search_entry WHERE version_id = ANY(:ids)"), {"ids": ids}).rowcount

    def set_latest(self, document_id: int, latest_version_id: int) -> int:
        with self._write() as conn:
            return conn.execute(
                sa.text(
                    "UPDATE search_entry SET is_latest = (version_id = :v) "
                    "WHERE document_id = :d AND is_latest <> (version_id = :v)"
                ),
                {"d": document_id, "v": latest_version_id},
            ).rowcount

    def update_metadata(self, document_id: int, changes: Mapping[str, Any]) -> int:
        values = check_metadata_changes(changes)
        if not values:
            return 0
        sets, params = [], {"d": document_id}
        for name, value in values.items():
            params[name] = value
            if name == "tags":
                params[name] = sorted({t.strip().lower() for t in value if t.strip()})
            elif name in ("project", "counterparty"):
                params[name] = (value or "").strip()
            elif name == "created_at":
                params[name] = utc(value)
            sets.append(f"{name} = :{name}")
            column = {
                "title": "title_tsv",
                "original_filename": "filename_tsv",
                "project": "project_tsv",
                "counterparty": "counterparty_tsv",
            }.get(name)
            if column:
                analysed = Analysed.of(value or "")
                params[column] = tsvector(analysed.words)
                sets.append(f"{column} = CAST(:{column} AS tsvector)")
                if name in ("title", "original_filename"):
                    length = "title_len" if name == "title" else "filename_len"
                    params[length] = analysed.length
                    sets.append(f"{length} = :{length}")
        with self._write() as conn:
            return conn.execute(
                sa.text(f"UPDATE search_entry SET {', '.join(sets)} WHERE document_id = :d"), params
            ).rowcount

    @contextlib.contextmanager
    def stream(self, *, procs: int, segment_docs: int) -> Iterator[_Stream]:
        """A bulk import's new versions, written a batch at a time as they come."""
        yield _Stream(self, batch=max(1, min(segment_docs, 200)))

    # -- reading -------------------------------------------------------------------------------

    def _require(self) -> None:
        if self.needs_rebuild:
            raise Unavailable(
                f"搜索索引不可用，需要重建（{self.rebuild_reason}）。请运行 docsvc index rebuild。",
                f"The search index is unavailable and must be rebuilt ({self.rebuild_reason}). "
                "Run: docsvc index rebuild.",
            )

    def doc_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM search_entry")).scalar_one()

    def doc_frequencies(self, words: Iterable[str]) -> dict[str, int]:
        """The commoner words as last counted (search_word: counting them now would read much
        of the index), the others counted through the GIN index."""
        self._require()
        wanted = list(dict.fromkeys(words))
        with self.engine.connect() as conn:
            common = self._counted_words(conn, self._collection(conn), wanted)
            out = {w: round(common[w]) for w in wanted if w in common}
            rest = [w for w in wanted if w not in common and quote(w)]
            if rest:
                counts = ", ".join(
                    f"count(*) FILTER (WHERE content_tsv @@ CAST(:w{i} AS tsquery))" for i in range(len(rest))
                )
                conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
                row = conn.execute(
                    sa.text(f"SELECT {counts} FROM search_entry WHERE content_tsv @@ CAST(:any AS tsquery)"),
                    {"any": " | ".join(quote(w) for w in rest), **{f"w{i}": quote(w) for i, w in enumerate(rest)}},
                ).one()
                out.update(zip(rest, row))
        return {w: int(out.get(w, 0)) for w in wanted}

    def indexed_versions(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT version_id, sha256 FROM search_entry")).all())

    def _collection(self, conn: sa.Connection) -> dict[str, float]:
        """Document count and average field lengths for BM25, reused for STATS_TTL_S: they move
        slowly, and every server reading them per query would scan the table.

        Raises Unavailable while another process rebuilds the index: it is incomplete, and
        without its word indexes until the rebuild completes. The word indexes' types are read
        again with them: another server's rebuild may have changed them."""
        with self._stats_lock:
            cached = self._stats
        stats = cached[1] if cached is not None and time.monotonic() - cached[0] < STATS_TTL_S else None
        if stats is None:
            averages = ", ".join(f"avg({length})" for length in LENGTHS.values())
            row = conn.execute(
                sa.text(
                    f"SELECT count(*), {averages}, (SELECT grams_docs FROM search_state), "
                    "(SELECT complete FROM search_state) FROM search_entry"
                )
            ).one()
            stats = {
                "n": float(row[0] or 0),
                **{column: float(avg or 1) for column, avg in zip(LENGTHS, row[1:-2])},
                "grams_docs": float(row[-2] or 0),
                "complete": float(bool(row[-1])),
            }
            self._note_word_indexes(self._word_indexes(conn))
            with self._stats_lock:
                self._stats = (time.monotonic(), stats)
        if not stats["complete"]:
            raise rebuilding_elsewhere()
        return stats

    @staticmethod
    def _counted_words(conn: sa.Connection, stats: Mapping[str, float], words: Iterable[str]) -> dict[str, float]:
        """How many documents have each of ``words`` that is among the commoner ones
        (search_word, scaled to the documents there are now; the rest are rarer): what a long
        question's words are ranked by to keep the rarest, and what tells the words that only
        rank. Looked up per search: the table holds tens of thousands of words."""
        scale = stats["n"] / stats["grams_docs"] if stats["grams_docs"] else 1.0
        rows = conn.execute(sa.text("SELECT word, df FROM search_word WHERE word = ANY(:w)"), {"w": list(words)})
        return {w: df * scale for w, df in rows}

    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        check_request(request)
        self._require()
        parsed = parse_request(request)
        node = parsed.node
        sort = SortOrder(request.sort) if node is not None else SortOrder.DATE
        limit = request.page * request.per_page
        first = (request.page - 1) * request.per_page
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {max(1, int(self.search_timeout * 1000))}"))
                stats = self._collection(conn)  # (a scan of the small heap tuples: before the next line)
                common = self._counted_words(conn, stats, {t.text for t in text.analyze(request.query)})
                c = Compiler(
                    self.tz, df=lambda word: common.get(word, 0.0), n=stats["n"], positions=self.positions_indexed
                )
                filters = c.filters = " AND ".join(self._filters(request, c)) or "TRUE"
                words = c.root(node) if node is not None else "TRUE"
                leaves = list(dict.fromkeys(c.leaves))
                # Every word is in a GIN index: a sequential scan would read each row's tsvector (and
                # no JIT compilation is paid for the cost that setting implies); parallel workers
                # cost more to start than the small scans of one search take. A word in half of
                # 100,000 documents makes tens of thousands of rows to count and rank: in memory,
                # not spilled to temporary files (the default work_mem is 4 MB).
                conn.execute(
                    sa.text(
                        "SET LOCAL enable_seqscan = off; SET LOCAL jit = off; "
                        f"SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL work_mem = '{SEARCH_WORK_MEM}'"
                    )
                )
                total, ranked, df, facets = self._match(
                    conn, c, words, filters, leaves, sort, limit, stats, facets=request.facets
                )
                if sort is SortOrder.RELEVANCE and leaves:
                    scored = self._rank(conn, ranked, leaves, df, stats, dict(parsed.grams))
                else:
                    scored = [(v, 0.0) for v, _, _ in ranked]
                page = scored[first:limit]
                hits = self._hits(conn, page, c if request.highlight else None)
        except sa.exc.OperationalError as exc:
            if "statement timeout" in str(exc) or "canceling statement" in str(exc):
                raise Unavailable(
                    f"搜索超过 {self.search_timeout:g} 秒未完成，请缩小搜索范围后重试。",
                    f"The search took longer than {self.search_timeout:g} s; narrow it and try again.",
                ) from exc
            raise Unavailable(
                "搜索暂时不可用（数据库无响应），请稍后重试。",
                f"Search is unavailable (the database did not answer: {type(exc).__name__}); try again shortly.",
            ) from exc
        return SearchResult(
            total,
            hits,
            facets,
            request.page,
            request.per_page,
            False,
            (time.perf_counter() - started) * 1000,
            parsed.expansions,
            request.synonyms.version if request.synonyms else "",
        )

    def _match(
        self,
        conn: sa.Connection,
        c: Compiler,
        words: str,
        filters: str,
        leaves: list[Leaf],
        sort: SortOrder,
        limit: int,
        stats: Mapping[str, float],
        *,
        facets: bool,
    ) -> tuple[int, list[tuple[int, list[int], dict[str, int]]], dict[int, int], dict[str, dict[str, int]]]:
        """One statement: the total, the candidates in order (with the leaves each matches and
        its field lengths),
        each leaf's document frequency among the matches' population, and the facet counts.

        Candidates for relevance are the matches with the highest sum of their leaves' idf,
        from the GIN indexes alone; :meth:`_rank` then reads their term frequencies."""
        params = dict(c.params)
        params["n"] = max(stats["n"], 1.0)
        names = ["version_id", "created_at", *FACETS, *LENGTHS.values()]
        columns = ", ".join(f"e.{n}" for n in names)
        # Optional words and phrases only: the matches are the documents that any leaf matches.
        # With a phrase among them the leaves' scans read each match's columns as they pass, so
        # that a phrase, whose positions are checked in every document that has its words, is
        # checked once. Otherwise one scan of the words' GIN indexes, OR'ed, reads the matches
        # and the leaves' scans only name them, which beats dropping the duplicates of wide rows
        # (three words, one of them in half of 100,000 documents: p50 304 → 251 ms).
        pure = bool(leaves) and c.only_leaves and any(leaf.is_phrase for leaf in leaves)
        sets = []
        for i, leaf in enumerate(leaves):
            params[f"l{i}"] = leaf.tsquery
            query = f"CAST(:l{i} AS tsquery)"
            source = "search_entry e"
            if leaf.is_phrase and leaf.column in PASSAGE_COLUMNS:
                params[f"a{i}"] = leaf.all_words
                rows = phrase_rows(
                    leaf.column,
                    query,
                    f"CAST(:a{i} AS tsquery)",
                    filters,
                    in_index=leaf.column in c.positions,
                )
                source = (
                    f"(SELECT e.version_id FROM search_entry e WHERE {rows} UNION "
                    f"SELECT version_id FROM search_passage WHERE {leaf.column} @@ {query}) x "
                    "JOIN search_entry e USING (version_id)"
                )
                query = ""
            found = f"e.{leaf.column} @@ {query} AND " if query else ""
            sets.append(
                f"SELECT {i} AS leaf, {columns if pure else 'e.version_id'} FROM {source} WHERE {found}{filters}"
            )
        if pure:
            ctes = [
                f"u AS MATERIALIZED ({' UNION ALL '.join(sets)})",
                f"m AS MATERIALIZED (SELECT DISTINCT {', '.join(names)} FROM u)",
            ]
        else:
            ctes = [f"m AS MATERIALIZED (SELECT {columns} FROM search_entry e WHERE {words} AND {filters})"]
            if leaves:
                # A query of optional words alone matches what any of its leaves matches (with the
                # same filters): every leaf's row is one of the matches already, and hashing the
                # matches to check it cost a tenth of the search.
                within = "" if c.only_leaves else " WHERE version_id IN (SELECT version_id FROM m)"
                ctes.append(f"u AS MATERIALIZED (SELECT * FROM ({' UNION ALL '.join(sets)}) x{within})")
        if sort is SortOrder.RELEVANCE and leaves:
            ctes += [
                "df AS (SELECT leaf, count(*) AS n FROM u GROUP BY leaf)",
                "s AS (SELECT u.version_id, sum(ln(1 + (:n - df.n + 0.5) / (df.n + 0.5))) AS idf "
                "FROM u JOIN df USING (leaf) GROUP BY u.version_id)",
            ]
            # The candidates first (a bounded sort keeps the best of tens of thousands), then
            # their places: numbering every match would sort them all.
            lengths = ", ".join(LENGTHS.values())
            k = max(MIN_CANDIDATES, 2 * limit)
            candidates = (
                f"SELECT version_id, {lengths}, coalesce(s.idf, 0) AS score FROM m LEFT JOIN s USING (version_id)"
            )
            # One word's candidates by idf all tie: half of them come from how often each match
            # says it instead, read off a RUM index or the GIN index of the word's tiers.
            # (Several words': adding as many again cost three words with a common one 100 ms
            # at p95 for a few more of BM25F's ten best.)
            word = self._one_ranked_word(c, leaves)
            if word is None:
                by_index = []
            elif "content_tsv" in c.positions:
                by_index = self._ranked_by_index(conn, c, word.tsquery, filters, k // 2)
            else:
                by_index = self._ranked_by_tiers(conn, c, word.words[0], filters, k // 2)
            chosen = f"({candidates} ORDER BY score DESC, version_id LIMIT {k - len(by_index)})"
            if by_index:
                params["r"] = by_index
                chosen += f" UNION ({candidates} WHERE version_id = ANY(:r))"
            ctes.append(
                f"t AS MATERIALIZED (SELECT version_id, json_build_array({lengths}) AS lengths, "
                f"row_number() OVER (ORDER BY score DESC, version_id) AS rn FROM ({chosen}) c)"
            )
            # The leaves each candidate matches: for the candidates only, not every match.
            top = (
                "SELECT t.version_id, coalesce(l.leaves, '{}') AS leaves, t.lengths, t.rn FROM t LEFT JOIN "
                "(SELECT version_id, array_agg(leaf) AS leaves FROM u WHERE version_id IN (SELECT version_id FROM t) "
                "GROUP BY version_id) l USING (version_id)"
            )
            frequencies = "(SELECT json_object_agg(leaf, n) FROM df)"
        else:
            order = "created_at DESC NULLS FIRST, version_id"
            top = (
                f"SELECT version_id, '{{}}'::int[] AS leaves, NULL AS lengths, row_number() OVER (ORDER BY {order}) AS rn "
                f"FROM m ORDER BY {order} LIMIT {limit}"
            )
            frequencies = "NULL"
        grouped = "NULL"
        lists = "NULL"
        if facets:
            grouping = ", ".join(f"GROUPING({f}) AS g{i}" for i, f in enumerate(SCALAR_FACETS))
            sets_sql = ", ".join(f"({f})" for f in SCALAR_FACETS)
            grouped = (
                f"(SELECT json_agg(g) FROM (SELECT {grouping}, {', '.join(SCALAR_FACETS)}, count(*) "
                f"FROM m GROUP BY GROUPING SETS ({sets_sql})) g)"
            )
            # A list (tags) counts each version once under each of its values.
            lists = (
                "json_build_object("
                + ", ".join(
                    f"'{f}', (SELECT json_object_agg(v, n) FROM (SELECT v, count(*) AS n FROM m, unnest(m.{f}) AS v "
                    f"GROUP BY v) x)"
                    for f in sorted(LIST_FACETS)
                )
                + ")"
            )
        row = conn.execute(
            sa.text(
                f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM m), "
                f"(SELECT json_agg(json_build_array(version_id, leaves, lengths) ORDER BY rn) FROM ({top}) t), {frequencies}, "
                f"{grouped}, {lists}"
            ),
            params,
        ).one()
        ranked = [(int(v), matched, dict(zip(LENGTHS, lengths or ()))) for v, matched, lengths in (row[1] or [])]
        df = {int(k): int(v) for k, v in (row[2] or {}).items()}
        return row[0], ranked, df, _facet_counts(row[3] or [], row[4] or {}) if facets else {}

    @staticmethod
    def _one_ranked_word(c: Compiler, leaves: list[Leaf]) -> Leaf | None:
        """The content leaf of the query's one matching word (a common word's leaves only
        rank), if that is what the query is; None otherwise."""
        matching = [leaf for leaf in leaves if leaf not in c.rank_only]
        content = [leaf for leaf in matching if leaf.column == "content_tsv" and not leaf.is_phrase]
        return content[0] if len(content) == 1 and len({leaf.words for leaf in matching}) == 1 else None

    @staticmethod
    def _ranked_by_tiers(conn: sa.Connection, c: Compiler, word: str, filters: str, k: int) -> list[int]:
        """Up to ``k`` matches of ``word`` that say it most: its highest tiers first (tier_tsv,
        see rows.tiers_tsvector). A tier is asked for only while fewer than ``k`` are found (the
        highest hold few documents, the lowest most), and in no order within it, so each query
        stops reading rows at its limit; BM25F then ranks them with the other candidates. This
        is what GIN, which keeps no counts, can tell of how well a document matches one word
        without reading its words: on 20,000 generated documents one word's ten best agreed 98 %
        with BM25F over every match (27 % by idf alone), for 2.5 ms at the median. Versions
        indexed before the tiers existed have none."""
        found: list[int] = []
        for tier in TIERS:
            lexeme = tier_lexeme(tier, word)
            if lexeme is None:
                break
            found += conn.execute(
                sa.text(
                    f"SELECT e.version_id FROM search_entry e WHERE e.tier_tsv @@ CAST(:tier AS tsquery) "
                    f"AND {filters} LIMIT {k - len(found)}"
                ),
                {**c.params, "tier": lexeme},
            ).scalars()
            if len(found) >= k:
                break
        return found

    @staticmethod
    def _ranked_by_index(conn: sa.Connection, c: Compiler, word: str, filters: str, k: int) -> list[int]:
        """The ``k`` matches of ``word`` (a tsquery) that a RUM index ranks best by how often they
        have it (RUM's ``<=>``, from the positions it keeps): candidates by idf alone tie among
        the documents that match the same word. Of a word in 16,000 of 100,000 documents they
        held 6 % of BM25F's ten best over every match; with these, nearly all. The planner would
        rather sort the matches by reading each one's tsvector (a second for a word in half of
        them): the index's order is asked for outright."""
        rq = "CAST(:rq AS tsquery)"
        conn.execute(sa.text("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"))
        ranked = conn.execute(
            sa.text(
                f"SELECT e.version_id FROM search_entry e WHERE e.content_tsv @@ {rq} AND {filters} "
                f"ORDER BY e.content_tsv <=> {rq} LIMIT {k}"
            ),
            {**c.params, "rq": word},
        ).scalars()
        found = list(ranked)
        conn.execute(sa.text("SET LOCAL enable_bitmapscan = DEFAULT; SET LOCAL enable_sort = DEFAULT"))
        return found

    def _filters(self, request: SearchRequest, c: Compiler) -> list[str]:
        out = []
        if not request.all_versions:
            out.append("e.is_latest")
        if request.allowed_document_ids is not None:
            out.append(f"e.document_id = ANY({c.param(sorted(request.allowed_document_ids))})")
        if request.site_projects is not None:
            out.append(
                f"(e.doc_class <> {c.param(DocClass.SITE.value)} OR "
                f"e.project = ANY({c.param(visible_site_projects(request.site_projects))}))"
            )
        for f in resolve_filters(request):
            if f.name == "tags":
                out.append(f"e.tags && CAST({c.param(list(f.values))} AS text[])")
            else:
                out.append(f"e.{f.name} = ANY({c.param(list(f.values))})")
        return out

    def _rank(
        self,
        conn: sa.Connection,
        candidates: list[tuple[int, list[int], dict[str, int]]],
        leaves: list[Leaf],
        df: Mapping[int, int],
        stats: Mapping[str, float],
        grams: Mapping[str, float],
    ) -> list[tuple[int, float]]:
        """The candidates ordered by docsvc's ranking (docsvc.core.ranking, as the Whoosh
        engine scores): BM25F of the words from the term frequencies in their tsvectors, plus
        the question's grams."""
        if not candidates:
            return []
        ids = [v for v, _, _ in candidates]
        occurrences = self._occurrences(conn, ids, leaves)
        # The count is read at most STATS_TTL_S ago, and other servers write meanwhile: never
        # fewer documents than a word is in.
        n = max(stats["n"], max(df.values(), default=0))
        gram_tf, gram_weight = self._grams(conn, ids, grams, stats) if grams else ({}, {})
        # A word's leaves in the content and the title are one term of BM25F, weighted by the
        # idf of the field more documents have it in.
        terms = [(leaf.words, leaf.offsets) for leaf in leaves]
        idf: dict[tuple, float] = {}
        for i, term in enumerate(terms):
            idf[term] = min(idf.get(term, math.inf), ranking.idf(n, df.get(i, 0)))
        scored = []
        for version_id, matched, lengths in candidates:
            fields: dict[tuple, list[tuple[float, float, float, float]]] = defaultdict(list)
            for i in set(matched):
                leaf = leaves[i]
                # At least once: a phrase found only in a long document's passages.
                tf = max(_frequency(leaf, occurrences.get((version_id, leaf.column), {})), 1)
                fields[terms[i]].append((tf, lengths.get(leaf.column) or 1, stats[leaf.column], leaf.boost))
            score = sum(ranking.bm25f(parts, idf[term]) for term, parts in fields.items())
            length = lengths.get("grams_tsv") or 1
            for gram, tf in gram_tf.get(version_id, {}).items():
                score += ranking.bm25f([(tf, length, stats["grams_tsv"], 1.0)], gram_weight[gram])
            scored.append((version_id, score))
        scored.sort(key=lambda vs: (-vs[1], vs[0]))
        return scored

    def _grams(
        self, conn: sa.Connection, ids: list[int], grams: Mapping[str, float], stats: Mapping[str, float]
    ) -> tuple[dict[int, dict[str, int]], dict[str, float]]:
        """Each candidate's count of each of the question's grams, and each gram's weight (its
        idf, from search_gram scaled to the documents there are now, times the question's)."""
        words = sorted(grams)
        tf: dict[int, dict[str, int]] = defaultdict(dict)
        for version_id, gram, count in conn.execute(
            sa.text(
                "SELECT version_id, w.lexeme, w.positions[1] FROM search_entry e, "
                "unnest(ts_filter(setweight(e.grams_tsv, 'A', :g), '{a}')) w WHERE e.version_id = ANY(:ids)"
            ),
            {"ids": ids, "g": words},
        ):
            tf[version_id][gram] = count
        counted = dict(
            conn.execute(sa.text("SELECT gram, df FROM search_gram WHERE gram = ANY(:g)"), {"g": words}).all()
        )
        n = stats["n"]
        scale = n / stats["grams_docs"] if stats["grams_docs"] else 1.0
        weight = {g: grams[g] * ranking.idf(n, min(counted.get(g, 0) * scale, n)) for g in words}
        return tf, weight

    def _occurrences(
        self, conn: sa.Connection, ids: list[int], leaves: list[Leaf]
    ) -> dict[tuple[int, str], dict[str, list[int]]]:
        """(version_id, column) → word → positions (compact offsets) of the leaves' words."""
        out: dict[tuple[int, str], dict[str, list[int]]] = defaultdict(dict)
        by_column: dict[str, set[str]] = defaultdict(set)
        for leaf in leaves:
            by_column[leaf.column].update(leaf.words)
        if not ids or not by_column:
            return out
        parts, params = [], {"ids": ids}
        for i, (column, words) in enumerate(sorted(by_column.items())):
            params[f"w{i}"] = sorted(words)
            # setweight marks the query's words, ts_filter keeps just them: a small tsvector to
            # unnest instead of every word of the document.
            parts.append(
                f"SELECT version_id, '{column}' AS col, w.lexeme, w.positions FROM search_entry e, "
                f"unnest(ts_filter(setweight(e.{column}, 'A', :w{i}), '{{a}}')) w "
                f"WHERE e.version_id = ANY(:ids)"
            )
        for version_id, column, word, positions in conn.execute(sa.text(" UNION ALL ".join(parts)), params):
            out[(version_id, column)][word] = [p - 1 for p in positions]
        return out

    def _hits(self, conn: sa.Connection, page: list[tuple[int, float]], c: Compiler | None) -> list[Hit]:
        if not page:
            return []
        ids = [v for v, _ in page]
        rows = {
            r["version_id"]: r
            for r in conn.execute(
                sa.text(
                    f"SELECT {', '.join(HIT_COLUMNS)}, content, has_passages FROM search_entry WHERE version_id = ANY(:ids)"
                ),
                {"ids": ids},
            ).mappings()
        }
        spans: dict[int, list[tuple[int, int]]] = {v: [] for v in ids}
        if c is not None and c.highlight_words:
            words = sorted(c.highlight_words)
            leaf = [Leaf("content_tsv", tuple(words), tuple(range(len(words))), 1.0)]
            found = self._occurrences(conn, ids, leaf)
            for positions in found.values():  # the last position stands for every one past it
                for word, at in positions.items():
                    positions[word] = [p for p in at if p < MAX_POSITION - 1]
            long_ids = [v for v in ids if rows[v]["has_passages"]]
            if long_ids:  # positions past the limits: from the passages
                for version_id, base, word, positions in conn.execute(
                    sa.text(
                        "SELECT version_id, base, w.lexeme, w.positions FROM search_passage p, "
                        "unnest(ts_filter(setweight(p.content_tsv, 'A', :w), '{a}')) w "
                        "WHERE p.version_id = ANY(:ids)"
                    ),
                    {"ids": long_ids, "w": words},
                ):
                    found[(version_id, "content_tsv")].setdefault(word, []).extend(base + p - 1 for p in positions)
            for v in ids:
                at = {(p, w) for w, ps in found.get((v, "content_tsv"), {}).items() for p in ps}
                spans[v] = text.char_spans(rows[v]["content"], at)
                if c.highlight_strings:
                    spans[v] += find_strings(rows[v]["content"], c.highlight_strings)
        return [Hit.of(_entry(rows[v]), score, make_snippet(rows[v]["content"], spans[v])) for v, score in page]


SCALAR_FACETS = tuple(f for f in FACETS if f not in LIST_FACETS)


def _facet_counts(rows: list[list[Any]], lists: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Facet counts from the GROUPING SETS rows and the lists' counts: per facet, value →
    count, most first."""
    out: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    n = len(SCALAR_FACETS)
    for g in rows:
        row = list(g.values())  # json_agg of a record: its columns in order
        grouping, values, count = row[:n], row[n : 2 * n], row[-1]
        for i, name in enumerate(SCALAR_FACETS):
            if grouping[i] == 0 and values[i] not in (None, ""):
                out[name][str(values[i])] = count
    for name, counts in lists.items():
        out[name] = {str(k): int(v) for k, v in (counts or {}).items() if k not in (None, "")}
    return {name: dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))) for name, found in out.items()}


def _entry(r: Mapping[str, Any]) -> IndexEntry:
    values = {k: r[k] for k in HIT_COLUMNS}
    values["tags"] = tuple(r["tags"] or ())
    if r["created_at"] is not None:
        values["created_at"] = r["created_at"].astimezone(dt.UTC)
    return IndexEntry(**values)


def _frequency(leaf: Leaf, positions: Mapping[str, list[int]]) -> int:
    """How often the leaf occurs: a word's count, or the places where every word of a phrase
    sits at its offset."""
    if not leaf.is_phrase:
        return len(positions.get(leaf.words[0], ()))
    starts: set[int] | None = None
    for word, off in zip(leaf.words, leaf.offsets):
        at = {p - off for p in positions.get(word, ())}
        starts = at if starts is None else starts & at
        if not starts:
            return 0
    return len(starts or ())


class _Stream:
    """What :meth:`PostgresIndex.stream` yields: entries written ``batch`` at a time."""

    def __init__(self, index: PostgresIndex, *, batch: int) -> None:
        self._index = index
        self._batch = batch
        self._pending: list[IndexEntry] = []
        self.failed = ""

    def add(self, entry: IndexEntry) -> list[int]:
        self._pending.append(entry)
        return self._flush() if len(self._pending) >= self._batch else []

    def finish(self) -> list[int]:
        return self._flush()

    def _flush(self) -> list[int]:
        pending, self._pending = self._pending, []
        if not pending or self.failed:
            return []
        try:
            self._index.upsert(pending)
        except Unavailable as exc:
            self.failed = exc.en
            return []
        return [e.version_id for e in pending]
