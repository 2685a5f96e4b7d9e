"""The search service end to end on each engine, and several indexers draining one outbox.

Everything here runs on real databases (PostgreSQL from ``DOCSVC_TEST_POSTGRES_URL``, skipped
without it unless ``DOCSVC_REQUIRE_ALL``): the PostgreSQL engine (``SEARCH_BACKEND=postgres``
over a PostgreSQL catalog) and, where the behaviour does not depend on the engine and it is
cheap, Whoosh over SQLite too. Faults (a failing write, a pause, a kill) are injected; nothing
else is replaced.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from docsvc.app import open_docsvc
from docsvc.cli import cli
from docsvc.core.search import SearchRequest
from docsvc.errors import InvalidInput, Unavailable
from tests.conftest import add, require_rum, wait_for
from tests.search_contract import entry

PG = pytest.param("postgresql", marks=pytest.mark.postgres, id="postgres")
BOTH_ENGINES = pytest.mark.parametrize("db_url", [pytest.param("sqlite", id="whoosh-sqlite"), PG], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("db_url", [PG], indirect=True)

SLA = "服务等级协议：乙方提供 7×24 小时运维服务，系统可用性不低于 99.9%，一级故障 15 分钟内响应。"
CONTRACT = "信息服务管理合同：合同到期前三十日，双方协商续签事宜；争议提交大连仲裁委员会仲裁。"
MINUTES = "项目例会纪要：讨论数据中心机房搬迁计划与割接窗口。"


@pytest.fixture
def conf(config, db_url) -> dict:
    """The conftest config on the engine that goes with the catalog: PostgreSQL's own full-text
    tables on a PostgreSQL catalog, the Whoosh folder on SQLite."""
    backend = "postgres" if db_url.startswith("postgresql") else "whoosh"
    return {**config, "SEARCH_BACKEND": backend, "FSYNC": False}


@pytest.fixture
def svc(conf):
    s = open_docsvc(conf)
    yield s
    s.close()


@pytest.fixture
def opened(conf):
    """More Docsvc objects on the same catalog and index: each its own engine and pool, as a
    separate server would have. Closed at the end."""
    made = []

    def open_one():
        made.append(open_docsvc(conf))
        return made[-1]

    yield open_one
    for s in made:
        s.close()


def hits(svc, q, **kw):
    return [(h.document_id, h.number) for h in svc.index.search(SearchRequest(query=q, **kw)).hits]


def indexed_entries(svc) -> list:
    """Every version in the index, as hits (read through the engine's own search)."""
    out, page = [], 1
    while True:
        result = svc.index.search(
            SearchRequest(query="", all_versions=True, per_page=100, page=page, facets=False, highlight=False)
        )
        out.extend(result.hits)
        if len(result.hits) < 100:
            return out
        page += 1


def assert_index_matches_catalog(svc) -> None:
    """The index holds every catalog version exactly once, each document's latest version is
    the catalog's and the only one marked latest, the outbox is empty and check() agrees."""
    catalog = svc.catalog.version_hashes()
    assert svc.index.index.indexed_versions() == catalog
    assert svc.index.index.doc_count() == len(catalog)  # no version twice
    entries = indexed_entries(svc)
    assert Counter(h.version_id for h in entries) == Counter(catalog.keys())
    doc_ids = sorted({h.document_id for h in entries})
    latest = svc.catalog.latest_version_ids(doc_ids)
    marked: dict[int, list[int]] = {}
    for h in entries:
        if h.is_latest:
            marked.setdefault(h.document_id, []).append(h.version_id)
    assert marked == {d: [v] for d, v in latest.items()}
    assert svc.catalog.counts()["outbox_pending"] == 0
    report = svc.index.check()
    assert report.ok and report.outbox_pending == 0, report.to_dict()


# --- a fresh archive, changes, drift ---------------------------------------------------------


@BOTH_ENGINES
def test_a_fresh_index_is_built_inline_and_follows_the_archive(svc):
    assert svc.index.index.needs_rebuild  # nothing built yet
    assert svc.index.ensure() and not svc.index.index.needs_rebuild
    a = add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA", doc_type="sla")
    b = add(svc, CONTRACT.encode(), "contract.txt", title="运维服务合同", doc_type="contract")
    c = add(svc, MINUTES.encode(), "minutes.md", title="项目例会纪要", doc_type="meeting_minutes")
    a, b, c = a.document.id, b.document.id, c.document.id
    assert svc.catalog.counts()["outbox_pending"] == 3  # queued, not applied yet (see the stats test below)
    assert svc.index.sync().applied == 3
    assert hits(svc, "可用性") == [(a, 1)]
    assert hits(svc, "续签") == [(b, 1)]
    assert hits(svc, '"机房搬迁"') == [(c, 1)]

    # A metadata change: the new title and project are what is found.
    svc.archive.set_metadata(b, {"title": "大连港仲裁条款备忘", "project": "港口二期"}, actor="王芳")
    assert hits(svc, "仲裁条款备忘") == []
    assert svc.index.sync().applied == 1
    assert hits(svc, "仲裁条款备忘") == [(b, 1)]
    found = svc.index.search(SearchRequest(query="", filters={"project": ["港口二期"]})).hits
    assert [(h.document_id, h.title, h.project) for h in found] == [(b, "大连港仲裁条款备忘", "港口二期")]

    # A new version: only the latest is found by default, every version with all_versions.
    svc.archive.add_version(
        a,
        "服务等级协议（修订）：可用性提高到 99.95%，增加驻场工程师。".encode(),
        "sla2.txt",
        actor="李娜",
        reason="年度修订",
    )
    assert svc.index.sync().applied == 1
    assert hits(svc, "驻场工程师") == [(a, 2)]
    assert hits(svc, "一级故障") == []
    assert hits(svc, "一级故障", all_versions=True) == [(a, 1)]
    assert sorted(hits(svc, "服务等级协议", all_versions=True)) == [(a, 1), (a, 2)]
    assert_index_matches_catalog(svc)

    # A version lost from the index is reported as missing.
    lost = svc.archive.version(c).id
    assert svc.index.index.delete([lost]) == 1
    report = svc.index.check()
    assert not report.ok and report.missing == [lost] and not report.extra and not report.mismatched
    assert report.catalog_versions == 4 and report.indexed_versions == 3


# --- rebuild ----------------------------------------------------------------------------------


def _fill(svc, docs: int = 5) -> list[int]:
    ids = []
    for i in range(docs):
        r = add(svc, f"第 {i} 份运维月报，巡检服务器 {i} 台。".encode(), f"r{i}.txt", title=f"月报 {i}")
        ids.append(r.document.id)
    for i in ids[:2]:
        svc.archive.add_version(
            i, f"运维月报（修订）{i}：补充巡检结论。".encode(), f"r{i}b.txt", actor="李娜", reason="补充"
        )
    return ids


@BOTH_ENGINES
def test_rebuild_from_scratch_and_resume_after_a_failed_chunk(svc, monkeypatch):
    svc.index.ensure()
    _fill(svc)  # 7 versions
    svc.index.sync()
    assert svc.index.rebuild(resume=False) == 7
    assert_index_matches_catalog(svc)

    # The fault: the engine refuses the second chunk's write.
    index = svc.index.index
    real_upsert, calls = index.upsert, []

    def second_write_fails(entries, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise Unavailable("注入的故障", "injected fault")
        return real_upsert(entries, **kw)

    monkeypatch.setattr(index, "upsert", second_write_fails)
    with pytest.raises(Unavailable):
        svc.index.rebuild(chunk=3, resume=False)
    monkeypatch.undo()
    versions = sorted(svc.catalog.version_hashes())
    cursor = index.rebuild_cursor()
    assert cursor is not None and cursor["after"] == versions[2]  # the first chunk is committed
    assert svc.index.rebuild_pending() and index.needs_rebuild
    assert sorted(index.indexed_versions()) == versions[:3]
    status = svc.index.status()
    assert status["needs_rebuild"] and status["rebuild_in_progress"] and not status["ok"]

    assert svc.index.rebuild(chunk=3, resume=True) == 4  # the first chunk is not redone
    assert not svc.index.rebuild_pending() and not index.needs_rebuild
    assert_index_matches_catalog(svc)
    assert len(hits(svc, "运维月报", per_page=20)) == 5  # latest versions only


# --- the command line on the PostgreSQL engine ------------------------------------------------


@pytest.fixture
def run(conf, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": conf["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": conf["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": conf["DATABASE_URL"],
        "DOCSVC_SEARCH_BACKEND": conf["SEARCH_BACKEND"],
        "DOCSVC_TEMPLATES_DIR": conf["TEMPLATES_DIR"],
        "DOCSVC_ACTOR": "张伟",
        "DOCSVC_FSYNC": "false",
    }
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, extra: dict | None = None):
        result = runner.invoke(cli, list(args), env={**env, **(extra or {})}, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


@POSTGRES_ONLY
def test_cli_index_commands_and_search_on_postgres(svc, run):
    assert svc.index.ensure()
    a = add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA", doc_type="sla").document.id
    b = add(svc, CONTRACT.encode(), "contract.txt", title="运维服务合同", doc_type="contract").document.id
    svc.archive.add_version(
        a, "服务等级协议（修订）：增加驻场工程师。".encode(), "sla2.txt", actor="李娜", reason="修订"
    )

    assert json.loads(run("index", "sync", "--json").stdout) == {
        "applied": 3,
        "failed": 0,
        "pending": 0,
        "error": "",
        "ocr_jobs": 0,
        "embedded": 0,
    }
    found = json.loads(run("search", "驻场工程师", "--json").stdout)
    assert [(h["document_id"], h["version"], h["is_latest"]) for h in found["hits"]] == [(a, 2, True)]
    assert json.loads(run("search", "一级故障", "--json").stdout)["total"] == 0  # version 1 is not the latest
    every = json.loads(run("search", "一级故障", "--all-versions", "--json").stdout)
    assert [(h["document_id"], h["version"]) for h in every["hits"]] == [(a, 1)]
    assert [
        h["document_id"]
        for h in json.loads(run("search", "仲裁", "--filter", "doc_type=contract", "--json").stdout)["hits"]
    ] == [b]
    checked = json.loads(run("index", "check", "--json").stdout)
    assert checked["ok"] and checked["catalog_versions"] == checked["indexed_versions"] == 3

    # Drift: a version gone from the index makes `index check` fail; `index rebuild` repairs it.
    lost = svc.archive.version(b).id
    svc.index.index.delete([lost])
    drift = json.loads(run("index", "check", "--json", code=1).stdout)
    assert not drift["ok"] and drift["missing"] == [lost]
    assert json.loads(run("index", "rebuild", "--json").stdout) == {"indexed": 3}
    assert json.loads(run("index", "check", "--json").stdout)["ok"]
    assert [h["document_id"] for h in json.loads(run("search", "续签", "--json").stdout)["hits"]] == [b]


def _word_index_types(svc) -> dict[str, str]:
    with svc.catalog.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT i.relname, am.amname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_am am ON am.oid = i.relam WHERE x.indrelid IN "
                "('search_entry'::regclass, 'search_passage'::regclass) AND am.amname <> 'btree'"
            )
        ).all()
    return dict(rows)


@POSTGRES_ONLY
def test_rum_word_indexes_from_the_settings_at_a_rebuild_and_back(svc, conf, run, opened, monkeypatch):
    """DOCSVC_SEARCH_PG_INDEX=rum: the next rebuild builds RUM indexes for the phrase columns,
    searches match phrases through them (new versions too), and gin at a later rebuild turns
    them back, and servers already running follow; a server without the extension gets a clear
    error and an unchanged index."""
    from docsvc.adapters.pg_search import index as pg_index

    monkeypatch.setattr(pg_index, "STATS_TTL_S", 0.0)  # servers look again at every search

    require_rum(svc.catalog.engine)
    assert svc.index.ensure()
    a = add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA").document.id
    add(svc, CONTRACT.encode(), "contract.txt", title="运维服务合同")
    run("index", "sync")
    gin = _word_index_types(svc)
    assert set(gin.values()) == {"gin"} and "ix_search_passage_content_tsv" in gin

    rum = {"DOCSVC_SEARCH_PG_INDEX": "rum"}
    assert json.loads(run("index", "rebuild", "--json", extra=rum).stdout) == {"indexed": 2}
    phrase_columns = {
        f"ix_search_{table}_{column}" for table in ("entry", "passage") for column in ("content_tsv", "bigram_tsv")
    }
    assert {name for name, kind in _word_index_types(svc).items() if kind == "rum"} == phrase_columns
    assert _word_index_types(svc).keys() == gin.keys()  # the same indexes, by name, of another type
    served = opened()
    served_rum = open_docsvc({**conf, "SEARCH_PG_INDEX": "rum"})
    try:
        assert served_rum.index.index.positions_indexed == {"content_tsv", "bigram_tsv"}
        assert served.index.index.positions_indexed == {"content_tsv", "bigram_tsv"}  # what is built
        assert svc.index.index.positions_indexed == set()  # opened before the rebuild …
        assert hits(svc, '"一级故障"') == [(a, 1)]
        assert svc.index.index.positions_indexed == {"content_tsv", "bigram_tsv"}  # … and following
        b = add(
            served_rum, "变更记录：一级故障 15 分钟内响应的要求不变。".encode(), "change.txt", title="变更"
        ).document.id
        served_rum.index.sync()
        assert sorted(hits(served_rum, '"一级故障 15 分钟内响应"')) == sorted([(a, 1), (b, 1)])
        assert hits(served_rum, '"响应 一级故障"') == []  # the words, not in that order
        assert hits(served_rum, '"割接窗口"') == []
    finally:
        served_rum.close()
    found = json.loads(run("search", '"争议提交大连仲裁委员会"', "--json", extra=rum).stdout)
    assert [h["title"] for h in found["hits"]] == ["运维服务合同"]

    # Without the extension on the server: refused before the index changed.
    before = _word_index_types(svc)
    with monkeypatch.context() as patched:
        patched.setattr(pg_index, "RUM_EXTENSION", "rum_not_installed")
        refused = run("index", "rebuild", code=2, extra=rum)
    assert "需要 PostgreSQL 服务器上的 RUM 扩展" in refused.stderr and "needs the RUM extension" in refused.stderr
    assert _word_index_types(svc) == before
    assert json.loads(run("index", "check", "--json").stdout)["ok"]

    assert json.loads(run("index", "rebuild", "--json").stdout) == {"indexed": 3}
    assert _word_index_types(svc) == gin
    assert sorted(hits(served, '"一级故障 15 分钟内响应"')) == sorted([(a, 1), (b, 1)])
    assert served.index.index.positions_indexed == set()


@pytest.mark.parametrize("db_url", [pytest.param("sqlite", id="sqlite")], indirect=True)
def test_postgres_engine_needs_a_postgres_catalog_and_unknown_engines_are_refused(conf, run):
    from pathlib import Path

    catalog_file = Path(conf["DATABASE_URL"].removeprefix("sqlite:///"))
    catalog_file.unlink()  # the suite copies in a migrated catalog; this test starts from nothing
    with pytest.raises(InvalidInput) as refused:
        open_docsvc({**conf, "SEARCH_BACKEND": "postgres"})
    assert refused.value.field == "DOCSVC_SEARCH_BACKEND"
    assert "DOCSVC_SEARCH_BACKEND=postgres 需要 PostgreSQL 目录库" in refused.value.zh
    assert "needs the catalog on PostgreSQL" in refused.value.en
    result = run("index", "check", code=2, extra={"DOCSVC_SEARCH_BACKEND": "postgres"})
    assert "需要 PostgreSQL 目录库" in result.stderr and "needs the catalog on PostgreSQL" in result.stderr
    # Refused before anything was made: no SQLite catalog, archive or index folder.
    assert not catalog_file.exists() and not Path(conf["ARCHIVE_DIR"]).exists() and not Path(conf["INDEX_DIR"]).exists()

    with pytest.raises(InvalidInput) as unknown:
        open_docsvc({**conf, "SEARCH_BACKEND": "elastic"})
    assert unknown.value.field == "DOCSVC_SEARCH_BACKEND" and "elastic" in unknown.value.en
    result = run("search", "合同", code=2, extra={"DOCSVC_SEARCH_BACKEND": "elastic"})
    assert "DOCSVC_SEARCH_BACKEND" in result.stderr and "错误：" in result.stderr and "Error:" in result.stderr


# --- several indexers on one queue (PostgreSQL) -----------------------------------------------

PROJECTS = ("港口运维二期", "数据中心搬迁", "智慧港口", "集装箱码头")


def _queue_a_busy_archive(svc, docs: int = 60, versions: int = 5) -> dict[int, int]:
    """``docs`` documents of ``versions`` versions each, with metadata edits in between (by
    themselves and with a new version), written round-robin so that every document's rows are
    spread over the queue. Returns document id → the number of its latest version."""
    ids = [
        add(
            svc,
            f"第{d}号机房巡检记录第1版：UPS 编号 XJ{d:03d}A1。".encode(),
            f"巡检{d}.txt",
            title=f"巡检记录 {d}",
            project=PROJECTS[0],
        ).document.id
        for d in range(docs)
    ]
    for n in range(2, versions + 1):
        for d, doc_id in enumerate(ids):
            if (d + n) % 3 == 0:
                svc.archive.set_metadata(doc_id, {"title": f"巡检记录 {d}（第{n}次修订）"}, actor="王芳")
            meta = {"project": PROJECTS[(d + n) % len(PROJECTS)]} if (d + n) % 4 == 0 else None
            svc.archive.add_version(
                doc_id,
                f"第{d}号机房巡检记录第{n}版：UPS 编号 XJ{d:03d}A{n}。".encode(),
                f"巡检{d}.txt",
                actor="李娜",
                reason=f"第{n}次巡检",
                metadata=meta,
            )
    return {doc_id: versions for doc_id in ids}


@POSTGRES_ONLY
@pytest.mark.slow
def test_three_indexers_drain_one_queue_and_split_it(svc, opened):
    assert svc.index.ensure()
    latest = _queue_a_busy_archive(svc)
    queued = svc.catalog.counts()["outbox_pending"]
    assert svc.catalog.counts()["versions"] == 300 and queued > 300
    servers = [opened() for _ in range(3)]  # three servers' indexers: own engines and pools
    for s in servers:
        assert s.index.ensure()
    start = threading.Barrier(len(servers))
    reports: dict[int, object] = {}
    errors: list[BaseException] = []

    def indexer(i: int) -> None:
        try:
            start.wait(10)
            reports[i] = servers[i].index.sync(batch=10)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=indexer, args=(i,)) for i in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads) and len(reports) == len(servers)
    assert all(r.failed == 0 and not r.error for r in reports.values()), reports
    applied = [r.applied for r in reports.values()]
    assert sum(applied) == queued  # each row applied once, by one indexer
    assert sum(1 for n in applied if n) >= 2 and max(applied) < queued, applied  # and the work was shared
    assert_index_matches_catalog(svc)
    # Each document's latest version is what is found, the others only with all_versions.
    some = sorted(latest)[7]
    assert hits(svc, "XJ007A5") == [(some, 5)]
    assert hits(svc, "XJ007A3") == [] and hits(svc, "XJ007A3", all_versions=True) == [(some, 3)]
    # Every version carries its document's current metadata (the edits were all made before
    # the drain, so each one's queued change brings every version up to date).
    docs = svc.catalog.documents_by_id(sorted(latest))
    entries = indexed_entries(svc)
    assert [
        (h.document_id, h.number)
        for h in entries
        if (h.title, h.project) != (docs[h.document_id].metadata.title, docs[h.document_id].metadata.project)
    ] == []


def _sync_killed_inside_apply(conf, inside) -> None:
    """A child process's indexer that claims the queue and is killed while applying it."""
    from docsvc.services.search import IndexService

    def stuck(self, items, **kw):
        inside.set()
        threading.Event().wait(120)  # the fault: a hung indexer, until the parent kills it

    IndexService._apply = stuck  # in this child only
    child = open_docsvc(conf)
    child.index.sync()
    os._exit(0)  # not reached


@POSTGRES_ONLY
def test_a_killed_indexers_rows_return_to_the_queue(svc, conf):
    assert svc.index.ensure()
    ids = [
        add(
            svc, f"第{i}份应急预案：机房断电时启动柴油发电机 {i} 号。".encode(), f"plan{i}.txt", title=f"应急预案 {i}"
        ).document.id
        for i in range(4)
    ]
    svc.archive.set_metadata(ids[0], {"project": "数据中心搬迁"}, actor="王芳")
    queued = {i.id for i in svc.catalog.outbox(limit=100)}
    assert len(queued) == 5
    ctx = multiprocessing.get_context("fork")
    inside = ctx.Event()
    child = ctx.Process(target=_sync_killed_inside_apply, args=(conf, inside))
    child.start()
    try:
        assert inside.wait(20), "the child indexer never reached _apply"
        # While the child holds the rows, nobody else applies them; they stay in the outbox.
        assert svc.index.sync().applied == 0
        assert {i.id for i in svc.catalog.outbox(limit=100)} == queued
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    assert child.exitcode == -signal.SIGKILL
    applied: list[int] = []
    # PostgreSQL ends the dead client's session (and its locks) once it sees the socket close.
    assert wait_for(lambda: applied.append(svc.index.sync().applied) or sum(applied) == 5, 10), applied
    assert_index_matches_catalog(svc)
    assert sorted(d for d, _ in hits(svc, "柴油发电机", per_page=10)) == sorted(ids)
    assert [h.document_id for h in svc.index.search(SearchRequest(filters={"project": ["数据中心搬迁"]})).hits] == [
        ids[0]
    ]


@POSTGRES_ONLY
def test_a_document_held_by_one_indexer_is_left_to_it_by_another(svc, opened):
    assert svc.index.ensure()
    d = add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA", doc_type="sla").document.id
    svc.archive.add_version(
        d, "服务等级协议（修订）：增加驻场工程师。".encode(), "sla2.txt", actor="李娜", reason="修订"
    )
    e = add(svc, CONTRACT.encode(), "contract.txt", title="运维服务合同").document.id
    f = add(svc, MINUTES.encode(), "minutes.md", title="项目例会纪要").document.id
    svc.archive.set_metadata(d, {"title": "港口运维服务等级协议"}, actor="王芳")
    rows = svc.catalog.outbox(limit=100)
    assert [(r.document_id, r.op) for r in rows] == [(d, "add"), (d, "add"), (e, "add"), (f, "add"), (d, "metadata")]

    first = opened()
    inside, release = threading.Event(), threading.Event()
    real_apply = first.index._apply

    def paused(items, **kw):  # the fault: the first indexer stalls while it holds D
        inside.set()
        release.wait(20)
        return real_apply(items, **kw)

    first.index._apply = paused
    result: list = []
    holder = threading.Thread(target=lambda: result.append(first.index.sync(batch=2, limit=2)))
    holder.start()
    try:
        assert inside.wait(20)
        # The other indexer takes E and F, and leaves all of D's rows (its claimed two and the
        # later metadata change) queued.
        report = svc.index.sync()
        assert (report.applied, report.failed) == (2, 0)
        assert [(r.id, r.document_id) for r in svc.catalog.outbox(limit=100)] == [
            (rows[0].id, d),
            (rows[1].id, d),
            (rows[4].id, d),
        ]
        assert hits(svc, "续签") == [(e, 1)] and hits(svc, '"机房搬迁"') == [(f, 1)]
        assert hits(svc, "驻场工程师", all_versions=True) == [] and hits(svc, "可用性", all_versions=True) == []
    finally:
        release.set()
        holder.join(20)
    assert result and result[0].applied == 2
    assert [r.id for r in svc.catalog.outbox(limit=100)] == [rows[4].id]
    assert svc.index.sync().applied == 1
    assert_index_matches_catalog(svc)
    assert hits(svc, "驻场工程师") == [(d, 2)]
    assert {h.title for h in svc.index.search(SearchRequest(query="服务等级协议", all_versions=True)).hits} == {
        "港口运维服务等级协议"
    }


# --- statistics and relabelling (bugs found and fixed) ------------------------------------


@BOTH_ENGINES
def test_a_search_of_the_empty_index_does_not_break_the_next_ones(svc):
    assert svc.index.ensure()
    assert svc.index.search(SearchRequest(query="可用性")).total == 0  # a fresh server's first search
    a = add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA", doc_type="sla").document.id
    assert svc.index.sync().applied == 1
    assert hits(svc, "可用性") == [(a, 1)]


@BOTH_ENGINES
def test_ranking_follows_the_documents_added_since_the_last_search(svc):
    assert svc.index.ensure()
    add(svc, "会议纪要：讨论年度预算。".encode(), "m.txt", title="会议纪要")
    svc.index.sync()
    assert svc.index.search(SearchRequest(query="预算")).total == 1  # statistics of a one-document index
    others = [
        add(svc, f"机房巡检记录 {i}：一切正常。".encode(), f"x{i}.txt", title=f"记录{i}").document.id for i in range(4)
    ]
    best = add(svc, "巡检巡检巡检：机房巡检发现告警，巡检员复查。".encode(), "x.txt", title="巡检记录").document.id
    svc.index.sync()
    result = svc.index.search(SearchRequest(query="巡检"))
    assert [h.document_id for h in result.hits][0] == best and sorted(h.document_id for h in result.hits[1:]) == others
    assert all(h.score > 0 for h in result.hits)


@BOTH_ENGINES
def test_a_version_added_with_new_metadata_relabels_every_version(svc):
    assert svc.index.ensure()
    d = add(svc, "第一版：机房巡检记录。".encode(), "a.txt", title="巡检记录", project="港口运维二期").document.id
    svc.index.sync()
    svc.archive.add_version(
        d,
        "第二版：机房巡检记录（复核）。".encode(),
        "a.txt",
        actor="李娜",
        reason="复核",
        metadata={"title": "巡检记录（复核）", "project": "数据中心搬迁"},
    )
    svc.index.sync()
    every = svc.index.search(SearchRequest(query="巡检", all_versions=True)).hits
    assert sorted((h.number, h.title, h.project) for h in every) == [
        (1, "巡检记录（复核）", "数据中心搬迁"),
        (2, "巡检记录（复核）", "数据中心搬迁"),
    ]
    assert (
        svc.index.search(SearchRequest(query="", all_versions=True, filters={"project": ["港口运维二期"]})).total == 0
    )


@POSTGRES_ONLY
def test_gram_counts_follow_a_growing_index_without_holding_up_the_write(svc, monkeypatch):
    """How many documents have each character gram (search_gram, for the ranking's idf) is counted
    again once the index has grown by a quarter: within the write while the index is small, in
    the background past GRAMS_REFRESH_INLINE_DOCS, so the upload that crossed the threshold is
    searchable without waiting for the count."""
    import sqlalchemy as sa

    from docsvc.adapters.pg_search import index as pg

    assert svc.index.ensure()
    engine = svc.index.index.engine

    def counted() -> tuple[int | None, int]:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT (SELECT grams_docs FROM search_state), (SELECT df FROM search_gram WHERE gram = '巡检')"
                )
            ).one()

    add(svc, "机房巡检记录：一切正常。".encode(), "a.txt", title="巡检")
    svc.index.sync()
    assert counted() == (1, 1)  # small: counted within the write
    monkeypatch.setattr(pg, "GRAMS_REFRESH_INLINE_DOCS", 0)
    release = threading.Event()
    real = pg.PostgresIndex.refresh_grams

    def slow_refresh(self):
        release.wait(10)
        real(self)

    monkeypatch.setattr(pg.PostgresIndex, "refresh_grams", slow_refresh)
    add(svc, "第二份巡检报告：UPS 告警已处理。".encode(), "b.txt", title="巡检报告")
    svc.index.sync()  # returns while the count waits
    assert svc.index.search(SearchRequest(query="UPS")).total == 1
    assert counted() == (1, 1)
    release.set()
    assert wait_for(lambda: counted() == (2, 2))


@POSTGRES_ONLY
def test_a_large_index_judges_its_growth_by_the_planners_estimate(svc, monkeypatch):
    """Past EXACT_COUNT_DOCS a write does not count the documents to decide whether the grams are
    due again (a count of a large index costs every upload): it reads the estimate ANALYZE keeps."""
    import sqlalchemy as sa

    from docsvc.adapters.pg_search import index as pg

    monkeypatch.setattr(pg, "EXACT_COUNT_DOCS", 0)
    index = svc.index.index
    assert svc.index.ensure()

    def grams_docs() -> int | None:
        with index.engine.connect() as conn:
            return conn.execute(sa.text("SELECT grams_docs FROM search_state")).scalar()

    index.upsert([entry(100, 100, "巡检", "巡检第一次：机房温度正常。")])
    assert grams_docs() == 1  # never counted before: counted exactly
    with index.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE search_entry"))  # the estimate: one document
    index.upsert([entry(101, 101, "巡检", "巡检第二次：UPS 告警已处理。")])
    assert grams_docs() == 1  # two documents, but the estimate still says one
    with index.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE search_entry"))  # as autovacuum would after the growth
    index.upsert([entry(102, 102, "巡检", "巡检第三次：空调已检修。")])
    assert grams_docs() == 3


@POSTGRES_ONLY
def test_a_rebuild_counts_the_grams_once_when_it_completes(svc, monkeypatch):
    """A rebuild's index is not searched until it completes: its writes do not count the grams
    (every count reads every document's grams), completing it does."""
    import sqlalchemy as sa

    from docsvc.adapters.pg_search import index as pg

    monkeypatch.setattr(pg, "GRAMS_REFRESH_INLINE_DOCS", 10**9)
    index = svc.index.index
    index.clear()
    counts = []
    real = pg.PostgresIndex.refresh_grams
    monkeypatch.setattr(pg.PostgresIndex, "refresh_grams", lambda self: counts.append(1) or real(self))
    for i in range(3):
        index.upsert([entry(100 + i, 100 + i, "巡检", f"巡检第{i}次：机房温度正常。")])
    assert counts == []
    index.mark_complete()
    assert counts == [1]
    with index.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT grams_docs FROM search_state")).scalar() == 3
        assert conn.execute(sa.text("SELECT df FROM search_gram WHERE gram = '巡检'")).scalar() == 3
        # The words with them: every word, in an index this small.
        words = dict(conn.execute(sa.text("SELECT word, df FROM search_word")).all())
    assert words["巡检"] == words["温度"] == 3


def _word_indexes(engine) -> set[str]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT indexdef FROM pg_indexes WHERE tablename IN ('search_entry', 'search_passage') "
                    "AND indexdef LIKE '% USING gin %'"
                )
            ).scalars()
        )


@POSTGRES_ONLY
def test_a_rebuild_builds_the_word_indexes_when_it_completes_even_after_a_crash(svc):
    """A rebuild writes without the GIN indexes and builds them at the end; a rebuild that
    starts again after a crash (the indexes already dropped) or one that crashed while building
    them still ends with every one of them, as the migrations made them."""
    import sqlalchemy as sa

    index = svc.index.index
    made = _word_indexes(index.engine)
    assert len(made) == 10 and any("(tier_tsv)" in d for d in made)  # the words' tiers (migration 0028) too
    index.clear()
    assert _word_indexes(index.engine) == set()
    index.upsert([entry(300, 300, "巡检", "机房巡检：UPS 电池组更换完成。")])
    index.clear()  # started again: what the first one dropped is still waiting
    index.upsert([entry(301, 301, "巡检", "机房巡检：UPS 电池组更换完成。")])
    with index.engine.begin() as conn:  # it crashed after building one of them
        deferred = conn.execute(sa.text("SELECT deferred_indexes FROM search_state")).scalar()
        assert set(deferred) == made
        conn.execute(sa.text(deferred[0]))
    index.mark_complete()
    assert _word_indexes(index.engine) == made
    with index.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT deferred_indexes FROM search_state")).scalar() is None
    assert svc.index.search(SearchRequest(query="电池组")).total == 1


@POSTGRES_ONLY
def test_another_server_refuses_to_search_while_a_rebuild_runs(svc, monkeypatch):
    """Another server's searches meet an incomplete index without its word indexes while a
    rebuild runs: they are refused with a clear reason until it completes."""
    from docsvc.adapters.pg_search import index as pg
    from docsvc.errors import Unavailable

    monkeypatch.setattr(pg, "STATS_TTL_S", 0.0)  # what it reads about the index is never reused
    index = svc.index.index
    index.clear()
    index.upsert([entry(400, 400, "巡检", "机房巡检：UPS 电池组更换完成。")])
    index.mark_complete()
    other = pg.PostgresIndex.open(index.engine)
    assert other.search(SearchRequest(query="电池组")).total == 1
    index.clear()
    index.upsert([entry(401, 401, "巡检", "机房巡检：UPS 电池组更换完成。")])
    with pytest.raises(Unavailable) as refused:
        other.search(SearchRequest(query="电池组"))
    assert "rebuilding" in refused.value.en and "重建" in refused.value.zh
    index.mark_complete()
    assert [h.version_id for h in other.search(SearchRequest(query="电池组")).hits] == [401]


@POSTGRES_ONLY
def test_past_the_sample_size_the_grams_are_counted_in_a_sample_scaled_to_the_whole(svc, monkeypatch):
    """Counting reads every gram of every document counted: a large index counts its grams in
    a repeatable sample, scaled to every document."""
    import sqlalchemy as sa

    from docsvc.adapters.pg_search import index as pg

    monkeypatch.setattr(pg, "GRAMS_SAMPLE_DOCS", 20)
    index = svc.index.index
    index.clear()
    index.upsert(
        [
            entry(200 + i, 200 + i, "巡检", f"机房巡检第{i}次：{'温度正常' if i % 2 else '湿度偏高'}。")
            for i in range(200)
        ]
    )
    index.mark_complete()
    with index.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT grams_docs FROM search_state")).scalar() == 200
        df = dict(conn.execute(sa.text("SELECT gram, df FROM search_gram")).all())
    assert df["巡检"] == df["机房"] == 200  # in every document: every sampled one, scaled
    assert 40 <= df["湿度"] <= 160 and 40 <= df["温度"] <= 160  # in half of them: estimated
    # The words likewise, those in one document in a hundred or more (the sample's one-offs are not).
    with index.engine.connect() as conn:
        words = dict(conn.execute(sa.text("SELECT word, df FROM search_word")).all())
    assert words["巡检"] == words["机房"] == 200 and 40 <= words["湿度"] <= 160
    assert index.doc_frequencies(["巡检", "湿度"]) == {"巡检": 200, "湿度": words["湿度"]}
    assert svc.index.search(SearchRequest(query="机房巡检")).total == 200
