"""The full-text index over whoosh-reloaded: one Whoosh document per archived version.

The index is derived data (design guarantee 4): everything in it can be recreated from the
catalog, so the rules here favour "detect and rebuild" over repair.

- ``docsvc_index.json`` beside the Whoosh files records SCHEMA_VERSION and ANALYZER_VERSION
  and whether a rebuild finished. :meth:`WhooshIndex.open` reports ``needs_rebuild`` when they
  differ, when the file or the index is missing or unreadable (a deleted ``_MAIN_*.toc``), or
  when a rebuild did not finish.
- Every field is stored, so metadata changes and latest-version flips re-add a document from
  its stored fields without the caller re-sending (or re-extracting) the text.
- One writer at a time: an in-process lock, then Whoosh's file lock, retried with backoff; if
  another process holds it too long, :class:`Unavailable` (the caller keeps the work queued).
- One searcher, kept warm and refreshed after commits. Whoosh readers seek on shared file
  objects, so searches are serialised by a lock; under the GIL that costs little throughput.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import collectors, sorting
from whoosh import index as windex
from whoosh import query as wq
from whoosh.collectors import FilterCollector, TimeLimit
from whoosh.filedb.filestore import FileStorage
from whoosh.writing import LockError

from docsvc.adapters.whoosh import fast
from docsvc.adapters.whoosh.merge import _tiered_merge
from docsvc.adapters.whoosh.query import Weighting, _QueryBuilder
from docsvc.adapters.whoosh.schema import SCHEMA_VERSION, _to_utc_naive, build_schema
from docsvc.adapters.whoosh.write import (
    DocsvcCodec,
    DocsvcSegmentWriter,
    SegmentStreams,
    StagedSegment,
    write_segments,
)
from docsvc.core import text
from docsvc.core.search import (
    FACETS,
    LIST_FACETS,
    MAX_SNIPPET_SPANS,
    Hit,
    IndexEntry,
    SearchRequest,
    SearchResult,
    Snippet,
    SortOrder,
    check_metadata_changes,
    check_request,
    find_strings,
    make_snippet,
    parse_request,
    rebuilding_elsewhere,
)
from docsvc.errors import Unavailable

META_FILE = "docsvc_index.json"
REBUILD_LOCK = ".rebuild.lock"  # held by the process that rebuilds (see rebuilding())
CURSOR_FILE = "docsvc_rebuild_cursor.json"  # where an unfinished rebuild stopped
STAGING_DIR = "staging"  # streams' writer processes build their segments in here (see IndexStream)
STAGING_LOCK = ".lock"
INDEX_NAME = "MAIN"
COLUMN_FACETS = tuple(f for f in FACETS if f not in LIST_FACETS)  # one value per document: a column


# --- the index ------------------------------------------------------------------------------


class WhooshIndex:
    """See the module docstring. Create with :meth:`open`."""

    def __init__(self, path: Path, *, lock_timeout: float, search_timeout: float, tz: dt.tzinfo) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.search_timeout = search_timeout
        self.tz = tz  # the zone in which date: and created: ranges are meant (whole local days)
        self._ix: windex.FileIndex | None = None
        self._searcher: Any = None
        self._write_lock = threading.Lock()
        self._search_lock = threading.RLock()
        # Facet columns in memory: per segment, and assembled for the current searcher.
        self._segment_columns: dict[tuple[str, str], np.ndarray] = {}  # per segment: facet codes, created_at
        # Per facet: code → value, value → code (code 0: no value).
        self._facet_values: dict[str, tuple[list[Any], dict[Any, int]]] = {
            name: ([None], {None: 0}) for name in COLUMN_FACETS
        }
        # Per segment and list facet (tags): each value's docnums in the segment, from its postings.
        self._segment_postings: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._columns: tuple[Any, dict[str, tuple[np.ndarray, list[Any]]]] | None = None
        self._created: tuple[Any, np.ndarray] | None = None  # created_at per document, for date order
        self._fast = fast.Evaluator()  # word searches as array operations, with its caches
        self.needs_rebuild = False
        self.rebuild_reason = ""

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float = 10.0,
        search_timeout: float = 1.0,
        tz: dt.tzinfo = dt.UTC,
    ) -> WhooshIndex:
        """Open the index at ``path``, never raising for a damaged one: check ``needs_rebuild``."""
        self = cls(Path(path), lock_timeout=lock_timeout, search_timeout=search_timeout, tz=tz)
        self.path.mkdir(parents=True, exist_ok=True)
        text.load()  # jieba once per process, now rather than in the first request
        meta = self._read_meta()
        if meta is None:
            return self._broken("索引不存在或缺少版本信息。", "the index is missing or has no version file")
        if meta.get("schema_version") != SCHEMA_VERSION or meta.get("analyzer_version") != text.ANALYZER_VERSION:
            return self._broken(
                "索引结构或分词器版本已变化。",
                f"schema/analyzer changed ({meta.get('schema_version')}/{meta.get('analyzer_version')} → "
                f"{SCHEMA_VERSION}/{text.ANALYZER_VERSION})",
            )
        try:
            storage = self._storage()
            if not storage.index_exists(INDEX_NAME):
                return self._broken("索引文件缺失（没有目录文件 TOC）。", "the index files are missing (no TOC)")
            self._ix = storage.open_index(INDEX_NAME)
            with self._search_lock:
                self._searcher = self._new_searcher()
                self._searcher.doc_count()
                # Reading a stored document touches every segment file the TOC names.
                self._verify_segments()
        except Exception as exc:  # noqa: BLE001 - any failure to open means: rebuild it
            self._ix = None
            return self._broken("索引已损坏。", f"the index is unreadable ({type(exc).__name__}: {exc})")
        if not meta.get("complete", False):
            self.needs_rebuild = True
            self.rebuild_reason = "索引重建尚未完成。 / A rebuild has not finished."
        return self

    def _storage(self) -> FileStorage:
        """Whoosh's file storage without mmap. With mmap, whoosh-reloaded 2.7.5 copies every
        segment file into a BytesIO when a searcher opens (BufferFile): opening took 1.6 s and
        held the whole index in memory at 10k documents. Plain reads fetch only what a query
        touches; they seek on shared file objects, which is fine because searches are
        serialised (see the module docstring)."""
        return FileStorage(str(self.path), supports_mmap=False)

    def _broken(self, zh: str, en: str) -> WhooshIndex:
        self.needs_rebuild = True
        self.rebuild_reason = f"{zh} / {en}"
        return self

    def _verify_segments(self) -> None:
        reader = self._searcher.reader()
        for docnum in reader.all_doc_ids():
            reader.stored_fields(docnum)
            break

    # -- meta --------------------------------------------------------------------------------

    def _read_meta(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_meta(self, *, complete: bool) -> None:
        data = {
            "schema_version": SCHEMA_VERSION,
            "analyzer_version": text.ANALYZER_VERSION,
            "complete": complete,
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        tmp = self.path / (META_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / META_FILE)

    # -- rebuild -----------------------------------------------------------------------------

    def clear(self) -> None:
        """Replace the index with an empty one of the current schema, marked incomplete.

        Then :meth:`upsert` everything and call :meth:`mark_complete`. A rebuild that stops
        half-way is resumable: :meth:`indexed_versions` tells what is already in.
        """
        with self._locked_storage():
            with self._search_lock:
                self._searcher = None
                self._ix = None
                for name in os.listdir(self.path):
                    # Only Whoosh's files and ours: the directory may hold other things.
                    if re.match(
                        rf"^_?{INDEX_NAME}_.*\.(toc|seg|pst|trm|dcz|fln|vps|vpc|col|cl)$", name
                    ) or name.startswith(META_FILE):
                        (self.path / name).unlink(missing_ok=True)
                self._ix = self._storage().create_index(build_schema(), INDEX_NAME)
                self._write_meta(complete=False)
                self._searcher = self._new_searcher()
        self.needs_rebuild = True
        self.rebuild_reason = "索引重建尚未完成。 / A rebuild has not finished."

    def mark_complete(self) -> None:
        """Record that a rebuild finished: ``needs_rebuild`` becomes False. No full merge here:
        it rewrites every posting in Python (minutes at 10k documents); :meth:`optimize` does
        it on demand."""
        self._require_index()
        self._write_meta(complete=True)
        self.needs_rebuild = False
        self.rebuild_reason = ""

    def rebuild_cursor(self) -> dict[str, int] | None:
        try:
            return {k: int(v) for k, v in json.loads((self.path / CURSOR_FILE).read_text("utf-8")).items()}
        except (OSError, ValueError, AttributeError):
            return None

    @contextlib.contextmanager
    def rebuilding(self) -> Iterator[None]:
        """A lock file beside the index held while this process rebuilds it."""
        with open(self.path / REBUILD_LOCK, "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise rebuilding_elsewhere() from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def save_rebuild_cursor(self, cursor: Mapping[str, int] | None) -> None:
        path = self.path / CURSOR_FILE
        if cursor is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(cursor)), "utf-8")
        tmp.replace(path)

    def optimize(self) -> None:
        """Merge all segments into one (slow: every posting is rewritten; for a quiet hour)."""
        with self._writer(commit={"optimize": True}):
            pass

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, entries: Iterable[IndexEntry], *, procs: int = 1, limitmb: int = 128) -> int:
        """Add or replace versions (by version_id): one writer, one commit for the batch.

        ``procs`` > 1 analyses in that many processes (for rebuilds; forks this process).
        """
        # The last entry per version: two of the same in one batch would both be added.
        docs = list({e.version_id: _to_fields(e) for e in entries}.values())
        if not docs:
            return 0
        parallel = procs > 1 and len(docs) >= 2 * procs
        context = self._writer(limitmb=limitmb)
        with context as writer:
            _delete_versions(writer, [doc["version_id"] for doc in docs])
            if parallel:
                added = write_segments(self.path, INDEX_NAME, docs, procs, limitmb)
                context.commit = {"mergetype": lambda w, segments: _tiered_merge(w, segments) + added}
            else:
                for doc in docs:
                    writer.add_document(**doc)
        return len(docs)

    @contextlib.contextmanager
    def stream(self, *, procs: int, segment_docs: int, limitmb: int = 128) -> Iterator[IndexStream]:
        """Versions streamed in by ``procs`` writer processes as they come (a bulk import; it
        forks this process), each finished segment of ``segment_docs`` versions per writer
        committed on its own. See :class:`IndexStream`.

        The writers build their segments in a folder under ``staging/`` beside a lock file
        this process holds while the stream lives; a stream that finds a lock file it can take
        removes that folder, left by a stream whose process died."""
        self._require_index()
        root = self.path / STAGING_DIR
        root.mkdir(exist_ok=True)
        _sweep_staging(root)
        owner = tempfile.NamedTemporaryFile(prefix=f"{os.getpid()}-", suffix=STAGING_LOCK, dir=root)  # noqa: SIM115
        fcntl.flock(owner, fcntl.LOCK_EX)
        staging = Path(owner.name[: -len(STAGING_LOCK)])
        staging.mkdir()
        streams = None
        try:
            streams = SegmentStreams(
                staging, INDEX_NAME, self._ix.schema, procs=procs, segment_docs=segment_docs, limitmb=limitmb
            )
            yield IndexStream(self, streams)
        finally:
            if streams is not None:
                streams.close()
            shutil.rmtree(staging, ignore_errors=True)
            owner.close()  # removes the lock file

    def _add_staged(self, staged: list[StagedSegment]) -> None:
        """Commit segments that stream writers finished, replacing the versions already indexed."""
        context = self._writer()
        with context as writer:
            _delete_versions(writer, [str(key) for s in staged for key in s.keys])
            for s in staged:
                for f in s.files():
                    os.replace(f, self.path / f.name)
            segments = [s.segment for s in staged]
            context.commit = {"mergetype": lambda w, existing: _tiered_merge(w, existing) + segments}

    def delete(self, version_ids: Iterable[int]) -> int:
        ids = [str(v) for v in version_ids]
        if not ids:
            return 0
        with self._writer() as writer:
            return sum(writer.delete_by_term("version_id", v) for v in ids)

    def set_latest(self, document_id: int, latest_version_id: int) -> int:
        """Make ``latest_version_id`` the document's only latest version (re-adding the other
        versions from their stored fields). Returns how many versions changed."""
        return self._rewrite(
            document_id,
            lambda e: (
                None
                if e.is_latest == (e.version_id == latest_version_id)
                else replace(e, is_latest=e.version_id == latest_version_id)
            ),
        )

    def update_metadata(self, document_id: int, changes: Mapping[str, Any]) -> int:
        """Apply metadata ``changes`` (IndexEntry field names) to every version of a document."""
        values = check_metadata_changes(changes)
        return self._rewrite(document_id, lambda e: replace(e, **values))

    def _rewrite(self, document_id: int, change: Any) -> int:
        with self._writer() as writer:
            searcher = writer.searcher()  # not closed: its segment readers share the writer's files
            count = 0
            for docnum in list(searcher.document_numbers(document_id=str(document_id))):
                new = change(_from_stored(searcher.stored_fields(docnum)))
                if new is not None:
                    writer.delete_document(docnum)
                    writer.add_document(**_to_fields(new))
                    count += 1
        return count

    class _WriterContext:
        def __init__(self, owner: WhooshIndex, writer: Any, commit: dict[str, Any]) -> None:
            self.owner, self.writer, self.commit = owner, writer, commit

        def __enter__(self) -> Any:
            return self.writer

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            try:
                if exc_type is None:
                    try:
                        self.writer.commit(**self.commit)
                    except OSError as err:
                        raise Unavailable(
                            "写入搜索索引失败，稍后会重试。",
                            f"Writing the search index failed ({err}); it will be retried.",
                        ) from err
                else:
                    self.writer.cancel()
            finally:
                self.owner._write_lock.release()
            if exc_type is None:
                self.owner._refresh()

    def _writer(self, commit: dict[str, Any] | None = None, **kwargs: Any) -> WhooshIndex._WriterContext:
        self._require_index()
        deadline = time.monotonic() + self.lock_timeout
        if not self._write_lock.acquire(timeout=self.lock_timeout):
            raise self._lock_unavailable()
        try:
            delay = 0.02
            while True:
                try:
                    started = time.time()
                    writer = DocsvcSegmentWriter(self._ix, codec=DocsvcCodec(), **kwargs)
                    self._sweep_leftovers(before=started - 1)
                    return self._WriterContext(self, writer, commit or {"mergetype": _tiered_merge})
                except LockError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise self._lock_unavailable() from None
                    time.sleep(min(delay, left))
                    delay = min(delay * 2, 0.5)
        except BaseException:
            self._write_lock.release()
            raise

    def _sweep_leftovers(self, *, before: float) -> None:
        """Delete sort files that killed writers left in ``<index>/*.tmp`` (Whoosh removes its
        own on commit; a server stopped during a merge left 3 GB). We hold the write lock, so a
        file older than this writer belongs to no one."""
        for folder in self.path.glob("*.tmp"):
            if not folder.is_dir():
                continue
            abandoned = folder.name != f"{INDEX_NAME}.tmp" and folder.stat().st_mtime < before
            for f in folder.iterdir():
                with contextlib.suppress(OSError):
                    if f.is_file() and f.stat().st_mtime < before:
                        f.unlink()
            if abandoned:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # a writer process's own folder, empty now

    def _lock_unavailable(self) -> Unavailable:
        return Unavailable(
            f"搜索索引正被另一个进程写入，{self.lock_timeout:g} 秒内未能获得写锁；该任务会保留在队列中稍后重试。",
            f"The search index is locked by another writer and the lock was not free within "
            f"{self.lock_timeout:g} s; the work stays queued and will be retried.",
        )

    class _StorageLock:
        def __init__(self, owner: WhooshIndex) -> None:
            self.owner = owner
            self.lock: Any = None

        def __enter__(self) -> None:
            owner = self.owner
            if not owner._write_lock.acquire(timeout=owner.lock_timeout):
                raise owner._lock_unavailable()
            self.lock = owner._storage().lock(f"{INDEX_NAME}_WRITELOCK")
            deadline = time.monotonic() + owner.lock_timeout
            while not self.lock.acquire(blocking=False):
                if time.monotonic() > deadline:
                    owner._write_lock.release()
                    raise owner._lock_unavailable()
                time.sleep(0.05)

        def __exit__(self, *exc: Any) -> None:
            try:
                self.lock.release()
            finally:
                self.owner._write_lock.release()

    def _locked_storage(self) -> WhooshIndex._StorageLock:
        return self._StorageLock(self)

    # -- reading -----------------------------------------------------------------------------

    def _require_index(self) -> None:
        if self._ix is None:
            raise Unavailable(
                f"搜索索引不可用，需要重建（{self.rebuild_reason}）。请运行 docsvc index rebuild。",
                f"The search index is unavailable and must be rebuilt ({self.rebuild_reason}). "
                "Run: docsvc index rebuild.",
            )

    def _new_searcher(self) -> Any:
        return self._ix.searcher(weighting=Weighting())

    def _refresh(self) -> None:
        """After our own commit: drop the searcher; the next search opens one on the new
        commit. Not opened here: a writer that does not search (the main process of
        ``docsvc serve --workers``) would open one per commit for nothing."""
        with self._search_lock:
            old, self._searcher = self._searcher, None
            if old is not None:
                old.close()

    def _reopened(self, searcher: Any) -> Any:
        """A searcher for the latest commit that keeps the readers of segments which did not
        change: a commit adds a segment or two (and a merge replaces a few), so reopening all
        of them, the files, term tables and lengths of every segment, cost tens of
        milliseconds per commit in every worker.

        Not Whoosh's ``searcher.refresh()``: in whoosh-reloaded 2.7.5 it re-adds segments that a
        merge removed and reuses a segment's reader although new deletions were committed to it
        (replaced versions then showed up twice). Here a reader is kept only for the same segment
        with the same number of deletions (deletions only ever grow), the key fast.py's
        caches use too. Every search runs under ``_search_lock``, so closing is safe.
        """
        from whoosh.reading import MultiReader, SegmentReader
        from whoosh.searching import Searcher

        old = {
            (r.segment().segment_id(), r.segment().deleted_count()): r
            for r, _ in searcher.reader().leaf_readers()
            if r.segment() is not None
        }
        for _ in range(10):
            readers, opened = [], []
            try:
                toc = self._ix._read_toc()
                for seg in toc.segments:
                    reader = old.get((seg.segment_id(), seg.deleted_count()))
                    if reader is None:
                        reader = SegmentReader(self._ix.storage, toc.schema, seg, generation=toc.generation)
                        opened.append(reader)
                    readers.append(reader)
                break
            except OSError:
                # A commit between reading the TOC and opening its segments removed some of
                # them (a merge): read the newer TOC. Whoosh's own reader() retries the same way.
                for reader in opened:
                    reader.close()
                time.sleep(0.05)
        else:
            searcher.close()
            return self._new_searcher()
        kept = {id(r) for r in readers}
        for reader in old.values():
            if id(reader) not in kept:
                reader.close()
        if not readers:
            return self._new_searcher()
        # A MultiReader even for one segment: it carries the new generation (up_to_date()).
        return Searcher(MultiReader(readers, generation=toc.generation), fromindex=self._ix, weighting=Weighting())

    def _current_searcher(self) -> Any:
        """The warm searcher, refreshed if another process committed meanwhile. Call with
        ``_search_lock`` held."""
        self._require_index()
        try:
            if self._searcher is None:
                self._searcher = self._new_searcher()
            elif not self._searcher.up_to_date():  # another process committed
                self._searcher = self._reopened(self._searcher)
        except Exception as exc:  # noqa: BLE001 - unreadable now: report it, rebuild
            self._ix = None
            self._searcher = None
            self._broken("索引已损坏。", f"the index became unreadable ({type(exc).__name__}: {exc})")
            self._require_index()
        return self._searcher

    def _corrupted(self, exc: BaseException) -> Unavailable:
        """A read failed inside Whoosh's files: stop using the index and ask for a rebuild."""
        self._ix = None
        self._searcher = None
        self._broken("索引已损坏。", f"reading the index failed ({type(exc).__name__}: {exc})")
        return Unavailable(
            "搜索索引已损坏，需要重建。请运行 docsvc index rebuild。",
            f"The search index is damaged and must be rebuilt ({type(exc).__name__}). Run: docsvc index rebuild.",
        )

    def doc_count(self) -> int:
        with self._search_lock:
            return self._current_searcher().doc_count()

    def doc_frequencies(self, words: Iterable[str]) -> dict[str, int]:
        with self._search_lock:
            searcher = self._current_searcher()
            return {w: self._fast.doc_frequency(searcher, "content", w) for w in dict.fromkeys(words)}

    def indexed_versions(self) -> dict[int, str]:
        """version_id → sha256 of everything in the index (to compare with the catalog)."""
        with self._search_lock:
            reader = self._current_searcher().reader()
            if reader.doc_count() == 0:
                return {}
            out: dict[int, str] = {}
            # Segment by segment: a segment whose versions all had an empty sha256 has no such
            # column (_to_fields leaves an empty one out), which the multi-segment reader
            # would read past.
            for leaf, _offset in reader.leaf_readers():
                versions = leaf.column_reader("version_id")
                hashes = leaf.column_reader("sha256") if leaf.has_column("sha256") else None
                for n in leaf.all_doc_ids():
                    out[int(versions[n])] = (hashes[n] if hashes is not None else "") or ""
            return out

    def close(self) -> None:
        with self._search_lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None

    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        check_request(request)
        parsed = parse_request(request)
        node = parsed.node
        sort = SortOrder(request.sort)
        if node is None:
            sort = SortOrder.DATE  # nothing to rank by: newest first
        limit = request.page * request.per_page
        if not self._search_lock.acquire(timeout=self.search_timeout * 5):
            raise Unavailable("搜索繁忙，请稍后重试。", "Search is busy; try again shortly.")
        try:
            searcher = self._current_searcher()
            builder = _QueryBuilder(
                self.tz, df=lambda word: self._fast.doc_frequency(searcher, "content", word), n=searcher.doc_count_all()
            )
            main = builder.build_root(node) if node is not None else wq.Every()
            filters = builder.filters(request)
            query = wq.And([main, wq.ConstantScoreQuery(wq.And(filters), score=0.0)]) if filters else main
            allowed = None
            if request.allowed_document_ids is not None:
                allowed = _docnums_for(searcher, request.allowed_document_ids)
                if not allowed:
                    return SearchResult(
                        0, [], {}, request.page, request.per_page, False, (time.perf_counter() - started) * 1000
                    )
            deadline = time.monotonic() + self.search_timeout
            first = (request.page - 1) * request.per_page
            try:
                planned = fast.plan(query, parsed.grams)
                if planned is not None:
                    matched, scores, partial = self._fast.run(
                        searcher, planned, allowed, deadline, rank=limit if sort is SortOrder.RELEVANCE else 0
                    )
                    ranked = (
                        fast.top(matched, scores, limit)
                        if sort is SortOrder.RELEVANCE
                        else self._newest(searcher, matched, scores, limit)
                    )
                    page_hits = [_StoredHit(d, s, searcher.stored_fields(d)) for d, s in ranked[first:]]
                else:
                    matched, ranked, partial = self._collect(searcher, query, sort, limit, allowed, deadline)
                    page_hits = ranked[first:limit]
            except _STORAGE_ERRORS as exc:
                raise self._corrupted(exc) from exc
            total = len(matched)
            facets = self._facets(searcher, matched) if request.facets else {}
            snippets = self._snippets(searcher, page_hits, builder) if request.highlight else {}
            hits = [_hit(h, snippets.get(h.docnum)) for h in page_hits]
        finally:
            self._search_lock.release()
        return SearchResult(
            total,
            hits,
            facets,
            request.page,
            request.per_page,
            partial,
            (time.perf_counter() - started) * 1000,
            parsed.expansions,
            request.synonyms.version if request.synonyms else "",
        )

    @staticmethod
    def _collect(
        searcher: Any, query: wq.Query, sort: SortOrder, limit: int, allowed: set[int] | None, deadline: float
    ) -> tuple[list[int], list[Any], bool]:
        """Whoosh's own evaluation (date order, and what fast.py does not take): every
        matching docnum, the ranked hits up to ``limit``, and whether the deadline cut it short."""
        if sort is SortOrder.DATE:
            inner = searcher.collector(limit=limit, sortedby=sorting.FieldFacet("created_at", reverse=True))
        else:
            # Every match must reach the collector: the total and the facets count them.
            # Whoosh's defaults skip blocks below the current top-N score and "replace" the
            # matcher by dropping sub-queries (a field, a word) that can no longer reach the
            # top N, so documents only those match were never seen (totals 3× too low).
            inner = collectors.TopCollector(limit, usequality=False, replace=0)
        timed = _BoundedCollector(inner, allowed, deadline)
        partial = False
        try:
            searcher.search_with_collector(query, timed)
        except TimeLimit:
            partial = True
        return timed.docs, list(timed.results()), partial

    def _newest(self, searcher: Any, docs: np.ndarray, scores: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` newest of ``docs`` with their scores, in the order of Whoosh's
        ``sortedby=created_at, reverse``: newest first, ties by docnum. Whoosh's sorting collector
        reads a column value per match in Python (~60 ms for the 9,000 matches of a common word
        at 10k documents); this sorts an in-memory column."""
        # Ascending keys for "newest first": the column is unsigned, a missing date its maximum
        # (so, as in Whoosh, undated documents come first).
        age = np.iinfo(np.uint64).max - self._created_column(searcher)[docs]
        if len(docs) > limit:
            cut = np.argpartition(age, limit - 1)[:limit]
            keep = np.flatnonzero(age <= age[cut].max())  # all tied with the cut-off compete on docnum
            docs, scores, age = docs[keep], scores[keep], age[keep]
        order = np.lexsort((docs, age))[:limit]
        return [(int(docs[i]), float(scores[i])) for i in order]

    def _created_column(self, searcher: Any) -> np.ndarray:
        """created_at of every document of the searcher as Whoosh stores it for sorting (an
        integer), read once per segment and kept with the facet codes."""
        if self._created is None or self._created[0] is not searcher:
            self._created = (
                searcher,
                self._segment_arrays(
                    searcher,
                    "created_at",
                    np.uint64,
                    lambda sub: np.fromiter(
                        sub.column_reader("created_at", translate=False), dtype=np.uint64, count=sub.doc_count_all()
                    ),
                ),
            )
        return self._created[1]

    def _segment_arrays(self, searcher: Any, name: str, dtype: Any, read: Any) -> np.ndarray:
        """An array over every document of the searcher, assembled from per-segment arrays that
        ``read(segment reader)`` makes once per segment (segments never change; a commit only
        adds some) and ``_segment_columns`` keeps until the segment is merged away."""
        # An empty index reads through an EmptyReader, which has no segment (and no documents).
        leaves = [(sub, offset) for sub, offset in searcher.reader().leaf_readers() if sub.segment() is not None]
        live = {sub.segment().segment_id() for sub, _ in leaves}
        for key in [k for k in self._segment_columns if k[1] == name and k[0] not in live]:
            del self._segment_columns[key]
        column = np.zeros(searcher.doc_count_all(), dtype=dtype)
        for sub, offset in leaves:
            key = (sub.segment().segment_id(), name)
            values = self._segment_columns.get(key)
            if values is None:
                values = self._segment_columns[key] = read(sub)
            column[offset : offset + len(values)] = values
        return column

    def _facets(self, searcher: Any, docs: Any) -> dict[str, dict[str, int]]:
        """Counts per facet value over the matching documents (a list or array of docnums).

        Not Whoosh's FieldFacet grouping: without mmap it reads a column value per matching
        document from disk (p95 250 ms at 10k documents). The facet columns are small, so they
        are kept in memory per segment (segments never change; a commit only adds some), as
        codes into a table of values, and counted with numpy.
        """
        columns = self._facet_columns(searcher)
        index = np.asarray(docs, dtype=np.int64)
        out: dict[str, dict[str, int]] = {}
        for name in FACETS:
            if name in LIST_FACETS:
                out[name] = self._list_facet(searcher, name, index)
                continue
            codes, values = columns[name]
            counts = np.bincount(codes[index], minlength=len(values)) if len(index) else np.zeros(len(values), int)
            found = [(values[i], int(counts[i])) for i in np.flatnonzero(counts)]
            out[name] = {str(k): v for k, v in sorted(found, key=lambda kv: (-kv[1], str(kv[0]))) if not _missing(k)}
        return out

    def _list_facet(self, searcher: Any, name: str, index: np.ndarray) -> dict[str, int]:
        """Counts of a field holding a list (tags): per value (a term of the field, as matched),
        how many matching documents carry it. A column holds one value per document, so this
        reads each value's postings instead, once per segment (the values are few)."""
        if not len(index):
            return {}
        matched = np.zeros(searcher.doc_count_all(), dtype=bool)
        matched[index] = True
        leaves = [(sub, offset) for sub, offset in searcher.reader().leaf_readers() if sub.segment() is not None]
        live = {sub.segment().segment_id() for sub, _ in leaves}
        for key in [k for k in self._segment_postings if k[1] == name and k[0] not in live]:
            del self._segment_postings[key]
        counts: dict[str, int] = {}
        for sub, offset in leaves:
            key = (sub.segment().segment_id(), name)
            postings = self._segment_postings.get(key)
            if postings is None:
                postings = self._segment_postings[key] = {
                    str(term): np.fromiter(sub.postings(name, term).all_ids(), dtype=np.int64)
                    for term in (sub.field_terms(name) if name in sub.indexed_field_names() else ())
                }
            for term, ids in postings.items():
                n = int(matched[ids + offset].sum())
                if n:
                    counts[term] = counts.get(term, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def _facet_columns(self, searcher: Any) -> dict[str, tuple[np.ndarray, list[Any]]]:
        """Per facet: a code per document of the searcher, and the values the codes stand for.

        Codes are kept per segment and the table of values only grows, so a commit costs the
        new segment's codes and an array copy, not a pass in Python over the whole index."""
        if self._columns is not None and self._columns[0] is searcher:
            return self._columns[1]
        columns: dict[str, tuple[np.ndarray, list[Any]]] = {}
        for name in COLUMN_FACETS:
            column = self._segment_arrays(searcher, name, np.int64, lambda sub, name=name: self._facet_codes(sub, name))
            columns[name] = (column, self._facet_values[name][0])
        self._columns = (searcher, columns)
        return columns

    def _facet_codes(self, sub: Any, name: str) -> np.ndarray:
        """A segment's values of facet ``name`` as codes into the facet's table of values
        (0: no value); new values are added to the table."""
        values, codes_of = self._facet_values[name]
        raw = list(sub.column_reader(name)) if sub.has_column(name) else [None] * sub.doc_count_all()
        for v in set(raw) - codes_of.keys():
            codes_of[v] = len(values)
            values.append(v)
        return np.array([codes_of[v] for v in raw], dtype=np.int64)

    def _snippets(self, searcher: Any, hits: list[Any], builder: _QueryBuilder) -> dict[int, Snippet]:
        if not hits:
            return {}
        spans: dict[int, list[tuple[int, int]]] = {h.docnum: [] for h in hits}
        docnums = sorted(spans)
        for word in sorted(builder.highlight_terms):
            for d, found in self._fast.characters(searcher, "content", word, docnums).items():
                # A word's offsets come in order, and make_snippet looks for a passage among the
                # first MAX_SNIPPET_SPANS only: the rest need not be merged and sorted.
                spans[d].extend(found[:MAX_SNIPPET_SPANS])
        out: dict[int, Snippet] = {}
        for h in hits:
            content = h.get("content", "") or ""
            found = spans[h.docnum]
            if builder.highlight_strings:
                found = found + find_strings(content, builder.highlight_strings)
            out[h.docnum] = make_snippet(content, found)
        return out


class IndexStream:
    """Versions streamed into the index as they are archived (see :meth:`WhooshIndex.stream`
    and :class:`~docsvc.adapters.whoosh.write.SegmentStreams`). Each call returns the version
    ids committed meanwhile. A commit the write lock keeps out is tried again with the next
    finished segment; a failed writer, or a commit that fails otherwise, ends the stream
    (:attr:`failed`): what was finished is still committed where it can be, and the versions
    left are the caller's to index another way."""

    def __init__(self, index: WhooshIndex, streams: SegmentStreams) -> None:
        self._index = index
        self._streams = streams
        self._staged: list[StagedSegment] = []

    @property
    def failed(self) -> str:
        return self._streams.failed

    def add(self, entry: IndexEntry) -> list[int]:
        return self._commit(self._streams.add(entry.version_id, _to_fields(entry)))

    def poll(self) -> list[int]:
        """Commit the segments finished so far, without waiting for more."""
        return self._commit(self._streams.ready())

    def finish(self) -> list[int]:
        """Finish every writer's segment and commit what is left."""
        return self._commit(self._streams.finish())

    def _commit(self, finished: list[StagedSegment]) -> list[int]:
        if not finished:  # (a stream that failed finishes no more segments)
            return []
        self._staged += finished
        try:
            self._index._add_staged(self._staged)
        except Unavailable:
            return []  # locked by another writer: tried again with the next segment
        except _STORAGE_ERRORS as exc:  # the index could not take them: the stream ends here
            self._streams.stop(f"committing a segment failed ({type(exc).__name__}: {exc})")
            return []
        committed, self._staged = self._staged, []
        return [key for s in committed for key in s.keys]


def _delete_versions(writer: Any, version_ids: Iterable[str]) -> None:
    """Delete the indexed documents of these versions, to replace them: one look-up for the
    batch, not Whoosh's update_document, which opens a reader over every segment for each
    document (~8 ms at 14 segments). The reader is not closed: its segment readers share the
    writer's files."""
    reader = writer.searcher().reader()
    for version_id in version_ids:
        key = version_id.encode()
        if ("version_id", key) in reader:
            for docnum in reader.postings("version_id", key).all_ids():
                writer.delete_document(docnum)


def _sweep_staging(root: Path) -> None:
    """Remove the staging folders of streams whose process is gone (see WhooshIndex.stream)."""
    for lock in root.glob(f"*{STAGING_LOCK}"):
        try:
            with open(lock, "rb") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(root / lock.name[: -len(STAGING_LOCK)], ignore_errors=True)
                lock.unlink()
        except OSError:  # BlockingIOError: a live stream's; or removed by its owner meanwhile
            continue


# What a damaged index raises from deep inside Whoosh's readers.
_STORAGE_ERRORS = (OSError, EOFError, zlib.error, struct.error, ValueError, KeyError, windex.IndexError)


class _BoundedCollector(FilterCollector):
    """Whoosh's FilterCollector with a deadline.

    Not TimeLimitCollector: wrapped around a FilterCollector it calls the inner collector
    directly and the filter is skipped (whoosh-reloaded 2.7.5: access control would leak), and
    it starts a timer thread per search.
    """

    def __init__(self, child: Any, allow: set[int] | None, deadline: float) -> None:
        super().__init__(child, allow=allow)
        self.deadline = deadline
        self.docs: list[int] = []  # every matching global docnum: the total and the facets

    def collect_matches(self) -> None:
        child = self.child
        allow = self._allow
        offset = self.offset
        docs = self.docs
        clock = time.monotonic
        for i, sub_docnum in enumerate(child.matches()):
            if not i & 63 and clock() > self.deadline:
                raise TimeLimit
            if allow is not None and offset + sub_docnum not in allow:
                self.filtered_count += 1
                continue
            child.collect(sub_docnum)
            docs.append(offset + sub_docnum)


def _docnums_for(searcher: Any, document_ids: frozenset[int]) -> set[int]:
    reader = searcher.reader()
    out: set[int] = set()
    for doc_id in document_ids:
        btext = str(doc_id).encode()
        if ("document_id", btext) in reader:
            out.update(reader.postings("document_id", btext).all_ids())
    return out


def _missing(value: Any) -> bool:
    # NUMERIC columns fill documents without a value with the type's maximum.
    return value in (None, "") or (isinstance(value, int) and value >= 2**31 - 1)


# --- conversion -----------------------------------------------------------------------------


def _to_fields(e: IndexEntry) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version_id": str(e.version_id),
        "document_id": str(e.document_id),
        "number": e.number,
        "is_latest": bool(e.is_latest),
        "sha256": e.sha256,
        "title": e.title,
        "original_filename": e.original_filename,
        "content": e.content,
        "content_bigram": e.content,
        "content_grams": e.content,
        "doc_type": e.doc_type,
        "service_category": e.service_category,
        "doc_class": e.doc_class,
        "service_scope": e.service_scope,
        "project": e.project,
        "project_text": e.project,
        "counterparty": e.counterparty,
        "counterparty_text": e.counterparty,
        # KEYWORD(commas=True) splits on commas: a comma inside a tag would make two tags.
        "tags": ",".join(t.replace(",", " ").strip() for t in e.tags if t.strip()),
        "status": e.status,
        "extraction_status": e.extraction_status,
    }
    if e.year is not None:
        doc["year"] = int(e.year)
    if e.created_at is not None:
        doc["created_at"] = _to_utc_naive(e.created_at)
    if e.effective_date is not None:
        doc["effective_date"] = dt.datetime.combine(e.effective_date, dt.time.min)
    if e.review_due is not None:
        doc["review_due"] = dt.datetime.combine(e.review_due, dt.time.min)
    # Whoosh rejects None and indexes "" as nothing anyway: leave empty values out.
    return {k: v for k, v in doc.items() if v is not None and v != ""}


def _from_stored(s: Mapping[str, Any]) -> IndexEntry:
    created = s.get("created_at")
    return IndexEntry(
        version_id=int(s["version_id"]),
        document_id=int(s["document_id"]),
        number=int(s.get("number", 0)),
        title=s.get("title", ""),
        content=s.get("content", ""),
        is_latest=bool(s.get("is_latest", False)),
        sha256=s.get("sha256", ""),
        original_filename=s.get("original_filename", ""),
        doc_type=s.get("doc_type", ""),
        service_category=s.get("service_category", ""),
        doc_class=s.get("doc_class", ""),
        service_scope=s.get("service_scope", ""),
        project=s.get("project", ""),
        counterparty=s.get("counterparty", ""),
        tags=tuple(t for t in s.get("tags", "").split(",") if t),
        status=s.get("status", ""),
        year=s.get("year"),
        created_at=created.replace(tzinfo=dt.UTC) if created else None,
        effective_date=s["effective_date"].date() if s.get("effective_date") else None,
        review_due=s["review_due"].date() if s.get("review_due") else None,
        extraction_status=s.get("extraction_status", ""),
    )


@dataclass(frozen=True)
class _StoredHit:
    """A hit of the array path (fast.py), with the face of Whoosh's Hit that _hit and
    _snippets use."""

    docnum: int
    score: float
    stored: Mapping[str, Any]

    def fields(self) -> Mapping[str, Any]:
        return self.stored

    def get(self, name: str, default: Any = None) -> Any:
        return self.stored.get(name, default)


def _hit(h: Any, snippet: Snippet | None) -> Hit:
    e = _from_stored(h.fields())
    return Hit.of(e, float(h.score or 0.0), snippet if snippet is not None else make_snippet(e.content, []))
