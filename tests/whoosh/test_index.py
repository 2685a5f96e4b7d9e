"""The Whoosh index and the query language, on a real index in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from whoosh import formats
from whoosh.codec import whoosh3
from whoosh.filedb.filestore import FileStorage

from docsvc.adapters.whoosh.index import META_FILE, WhooshIndex, _to_fields
from docsvc.adapters.whoosh.merge import MERGE_FACTOR
from docsvc.adapters.whoosh.schema import ZhCharacters, ZhPositions, build_schema
from docsvc.adapters.whoosh.write import DocsvcCodec, DocsvcSegmentWriter, TermPool, merge_segments
from docsvc.core.search import IndexEntry, SearchRequest, Snippet, make_snippet
from docsvc.errors import InvalidInput, Unavailable
from tests.conftest import wait_for, within

UTC = dt.UTC


def entry(vid: int, doc: int, title: str, content: str, **kw) -> IndexEntry:
    kw.setdefault("number", 1)
    kw.setdefault("sha256", f"sha-{vid}")
    return IndexEntry(version_id=vid, document_id=doc, title=title, content=content, **kw)


DOCS = [
    entry(
        1,
        1,
        "信息服务管理合同（旧版）",
        "本合同到期后双方可协商续签。",
        number=1,
        is_latest=False,
        doc_type="contract",
        service_category="4.2",
        doc_class="site",
        project="智慧城市运维",
        counterparty="大连数据科技有限公司",
        tags=("续签",),
        status="superseded",
        year=2025,
        created_at=dt.datetime(2025, 12, 1, tzinfo=UTC),
    ),
    entry(
        2,
        1,
        "信息服务管理合同",
        "本合同到期前三十日，甲方可书面提出续签申请，续签条件不变。违约责任按第九条执行。",
        number=2,
        doc_type="contract",
        service_category="4.2",
        doc_class="site",
        project="智慧城市运维",
        counterparty="大连数据科技有限公司",
        tags=("续签", "运维"),
        status="effective",
        year=2026,
        created_at=dt.datetime(2026, 2, 10, tzinfo=UTC),
        effective_date=dt.date(2026, 3, 1),
        original_filename="信息服务管理合同v2.docx",
    ),
    entry(
        3,
        2,
        "服务等级协议",
        "服务等级协议规定核心系统可用性不低于99.9%，故障响应时间30分钟。编号SLA-2026-001。",
        doc_type="sla",
        service_category="4.2",
        doc_class="user",
        project="智慧城市运维",
        year=2026,
        created_at=dt.datetime(2026, 1, 5, tzinfo=UTC),
        review_due=dt.date(2026, 12, 31),
    ),
    entry(
        4,
        3,
        "服务质量说明",
        "服务质量等级分为三级。具体协议另行约定，不在本说明范围内。",
        doc_type="report",
        service_category="4.9.2",
        doc_class="user",
        year=2025,
        created_at=dt.datetime(2025, 6, 30, 20, tzinfo=UTC),
    ),
    entry(
        5,
        4,
        "数据中心机房巡检报告",
        "本月数据中心机房巡检发现UPS告警两次，已更换电池。Service level agreement met.",
        doc_type="report",
        service_category="4.2",
        doc_class="site",
        project="数据中心托管",
        tags=("巡检",),
        year=2026,
        created_at=dt.datetime(2026, 4, 2, tzinfo=UTC),
    ),
    entry(
        6,
        5,
        "软件测试验收报告",
        "系统通过验收测试。The level of service in the agreement was met.",
        doc_type="acceptance_report",
        service_category="4.9.1",
        doc_class="site",
        counterparty="沈阳某银行",
        year=2026,
        created_at=dt.datetime(2026, 6, 30, 23, 30, tzinfo=UTC),
    ),
]


@pytest.fixture()
def ix(tmp_path: Path) -> WhooshIndex:
    index = WhooshIndex.open(tmp_path / "index")
    index.clear()
    index.upsert(DOCS)
    index.mark_complete()
    return index


def ids(ix: WhooshIndex, query: str = "", **kw) -> list[int]:
    return [h.version_id for h in ix.search(SearchRequest(query, **kw)).hits]


# --- the Whoosh analyzer ---------------------------------------------------------------------


def test_whoosh_tokenizer_gives_compact_offsets_and_keeps_character_offsets() -> None:
    from docsvc.adapters.whoosh.schema import BIGRAMS, WORDS

    source = "乙方应在服务等级协议（SLA-2026-001）约定的时间内响应。"
    toks = [(t.text, t.pos, t.startchar, t.endchar) for t in WORDS(source, positions=True, chars=True)]
    for word, pos, start, end in toks:
        assert source[start:end].lower() == word
        assert pos == start - source[:start].count("（") - source[:start].count("）") - source[:start].count("-")
    assert "服务等级协议" in [w for w, *_ in toks] and "sla-2026-001" in [w for w, *_ in toks]
    bigrams = [(t.text, t.pos) for t in BIGRAMS("甲方使用云栖数服务", positions=True)]
    assert bigrams == [("用云", 3), ("云栖", 4), ("栖数", 5), ("数服", 6)]


# --- query language -------------------------------------------------------------------------


def test_plain_language_question_finds_the_document(ix: WhooshIndex) -> None:
    assert ids(ix, "合同到期后服务怎么续签？")[0] == 2


def test_phrase_matches_adjacent_words_only(ix: WhooshIndex) -> None:
    # Doc 4 has 服务, 等级 and 协议, but scattered.
    assert ids(ix, '"服务等级协议"') == [3]
    assert 4 in ids(ix, "服务 等级 协议")
    assert ids(ix, '"service level agreement"') == [5]
    assert set(ids(ix, "service level agreement")) == {5, 6}


def test_phrase_inside_a_longer_dictionary_word(ix: WhooshIndex) -> None:
    # jieba cuts 服务等级协议规定 as 服务等级协议/规定; 协议 is indexed as a part of the first
    # word at its offset, so the phrase 协议规定 is still found.
    assert ids(ix, '"协议规定"') == [3]
    assert ids(ix, '"规定协议"') == []


def test_word_jieba_does_not_know_is_found_through_bigrams(ix: WhooshIndex) -> None:
    index = ix
    index.upsert([entry(20, 20, "新词", "我们部署了赛博朋克风格的监控大屏。")])
    assert ids(index, "赛博朋克") == [20]
    hit = index.search(SearchRequest("赛博朋克")).hits[0]
    assert "赛博朋克" in marked(hit.snippet)


def test_unknown_name_glued_to_a_known_word_is_found(ix: WhooshIndex) -> None:
    # jieba cuts 云栖数服务 as 云/栖/数/服务: the name's last character went into 服务, so the
    # words field has no 服 at that offset; the bigram field (云栖 栖数 数服) still has the name.
    ix.upsert(
        [entry(21, 21, "平台", "我们采购了云栖数服务平台的运维服务。"), entry(22, 22, "无关", "云栖小镇的数据服务。")]
    )
    assert ids(ix, "云栖数服") == [21]
    assert ids(ix, '"云栖数服"') == [21]
    assert ids(ix, '"栖数服务"') == [21]


def test_and_or_not(ix: WhooshIndex) -> None:
    assert ids(ix, "机房 AND UPS") == [5]
    assert set(ids(ix, "巡检 OR 验收")) == {5, 6}
    assert 3 not in ids(ix, "可用性 OR 续签 NOT SLA-2026-001")
    assert 2 not in ids(ix, "合同 -续签")
    assert set(ids(ix, "-合同")) == {3, 4, 5, 6}
    assert ids(ix, "(巡检 OR 验收) AND UPS") == [5]


def test_identifiers(ix: WhooshIndex) -> None:
    assert ids(ix, "SLA-2026-001") == [3]
    assert ids(ix, "sla-2026-001") == [3]
    assert ids(ix, "ＳＬＡ－２０２６－００１") == [3]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("type:contract", {2}),
        ("类型:合同", {2}),
        ("doc_type:sla", {3}),
        ("category:4.2", {2, 3, 5}),
        ("类别:运维", {2, 3, 5}),
        ("category:4.9", {4, 6}),
        ("class:user", {3, 4}),
        ("文档类别:现场", {2, 5, 6}),
        ("project:智慧城市运维", {2, 3}),
        ("项目:数据中心", {5}),
        ("counterparty:沈阳某银行", {6}),
        ("tag:续签", {2}),
        ("标签:巡检", {5}),
        ("status:生效", {2}),
        ("filename:信息服务管理合同v2.docx", {2}),
        ("title:验收", {6}),
        ("标题:协议", {3}),
        ("year:2025", {4}),
        ("year:2026..2026", {2, 3, 5, 6}),
        ("date:2026-01-01..2026-03-31", {2, 3}),
        ("created:[2026-01 TO 2026-06]", {2, 3, 5, 6}),
        ("date:2026-06", {6}),
        ("date:..2025-12-31", {4}),
        ("date:[2026-04 TO]", {5, 6}),
        ("生效:2026-03", {2}),
        ("复审:2026", {3}),
        ("type:(contract sla)", {2, 3}),
        ("续签 type:contract", {2}),
    ],
)
def test_field_filters(ix: WhooshIndex, query: str, expected: set[int]) -> None:
    assert set(ids(ix, query)) == expected


def test_dates_are_local_days_in_the_configured_zone(tmp_path: Path) -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    index = WhooshIndex.open(tmp_path / "i", tz=shanghai)
    index.clear()
    index.upsert(DOCS)
    # Doc 6 was created 2026-06-30 23:30 UTC = 2026-07-01 07:30 in Shanghai.
    assert 6 not in ids(index, "date:2026-06")
    assert 6 in ids(index, "date:2026-07")


def test_filters_argument(ix: WhooshIndex) -> None:
    assert set(ids(ix, filters={"doc_type": ["report"]})) == {4, 5}
    assert set(ids(ix, filters={"doc_type": ["report", "sla"], "year": ["2026"]})) == {3, 5}
    assert set(ids(ix, "巡检", filters={"tags": ["巡检"]})) == {5}
    with pytest.raises(InvalidInput):
        ix.search(SearchRequest("", filters={"owner": ["alice"]}))
    with pytest.raises(InvalidInput):
        ix.search(SearchRequest("", filters={"year": ["二〇二六"]}))


def test_facet_counts(ix: WhooshIndex) -> None:
    r = ix.search(SearchRequest(""))
    assert r.total == 5
    assert r.facets["doc_type"] == {"report": 2, "contract": 1, "sla": 1, "acceptance_report": 1}
    assert r.facets["service_category"] == {"4.2": 3, "4.9.1": 1, "4.9.2": 1}
    assert r.facets["project"] == {"智慧城市运维": 2, "数据中心托管": 1}
    assert r.facets["year"] == {"2026": 4, "2025": 1}
    assert r.facets["doc_class"] == {"site": 3, "user": 2}
    r = ix.search(SearchRequest("", all_versions=True))
    assert r.total == 6 and r.facets["doc_type"]["contract"] == 2


def test_access_control_limits_hits_totals_and_facets(ix: WhooshIndex) -> None:
    r = ix.search(SearchRequest("报告 OR 合同 OR 协议", allowed_document_ids=frozenset({1, 4})))
    assert {h.document_id for h in r.hits} <= {1, 4}
    assert r.total == 2
    assert sum(r.facets["doc_type"].values()) == 2
    # A field query cannot reach other documents either.
    assert ids(ix, "type:sla", allowed_document_ids=frozenset({1})) == []
    assert ix.search(SearchRequest("合同", allowed_document_ids=frozenset())).total == 0


def test_latest_only_by_default_all_versions_on_request(ix: WhooshIndex) -> None:
    assert ids(ix, "续签 type:contract") == [2]
    assert set(ids(ix, "续签 type:contract", all_versions=True)) == {1, 2}


def test_set_latest_flips_the_other_versions(ix: WhooshIndex) -> None:
    assert ix.set_latest(1, 1) == 2
    hits = ix.search(SearchRequest("type:contract", all_versions=True)).hits
    assert {h.version_id: h.is_latest for h in hits} == {1: True, 2: False}
    assert ix.doc_count() == 6  # re-added, not duplicated
    assert ix.set_latest(1, 1) == 0
    # Text stayed searchable although the caller did not resend it.
    assert ids(ix, "续签 type:contract") == [1]


def test_update_metadata_keeps_text(ix: WhooshIndex) -> None:
    assert ix.update_metadata(1, {"status": "archived", "tags": ["归档"], "project": "新项目"}) == 2
    assert set(ids(ix, "status:archived", all_versions=True)) == {1, 2}
    assert ids(ix, "tag:归档 书面") == [2]
    assert ids(ix, "project:新项目") == [2]
    assert ix.doc_count() == 6
    with pytest.raises(InvalidInput):
        ix.update_metadata(1, {"content": "x"})


def test_delete_and_indexed_versions(ix: WhooshIndex) -> None:
    assert ix.indexed_versions() == {v: f"sha-{v}" for v in range(1, 7)}
    assert ix.delete([5, 99]) == 1
    assert 5 not in ix.indexed_versions()
    assert ids(ix, "巡检") == []


def test_upsert_replaces_by_version_id(ix: WhooshIndex) -> None:
    ix.upsert([entry(5, 4, "数据中心机房巡检报告", "改写后的内容：空调告警。", doc_type="report")])
    assert ix.doc_count() == 6
    assert ids(ix, "空调") == [5]
    assert ids(ix, "UPS") == []


def test_upsert_with_two_processes(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "mp")
    index.clear()
    many = [entry(100 + i, 100 + i, f"报告{i}", f"第{i}号机房巡检记录，温度正常。") for i in range(40)]
    assert index.upsert(many, procs=2, limitmb=32) == 40
    index.mark_complete()
    assert index.doc_count() == 40
    assert index.search(SearchRequest("机房 巡检")).total == 40
    # Again in two processes, replacing ten of them: the old versions are deleted, not doubled.
    again = [entry(100 + i, 100 + i, f"报告{i}", f"第{i}号机房巡检记录，空调告警。") for i in range(10)]
    assert index.upsert(again + [entry(200 + i, 200 + i, "新报告", "机房巡检") for i in range(10)], procs=2) == 20
    assert index.doc_count() == 50
    assert index.search(SearchRequest("空调告警")).total == 10
    assert index.search(SearchRequest('"温度正常"')).total == 30


def test_term_pool_spills_runs_and_merges_them_back_in_order(tmp_path: Path) -> None:
    # Postings arrive in docnum order, one at a time (a merge) or a document's field at once;
    # past its memory limit the pool spills its terms to run files and merges them back, each
    # term's postings in docnum order across the runs.
    from whoosh.filedb.filestore import FileStorage as Storage

    storage = Storage(str(tmp_path)).create()
    pool = TermPool(storage, segment=None, limitmb=1)
    expected: dict[tuple[str, bytes], list] = {}
    for docnum in range(6_000):
        items = [(f"词{(docnum * 7 + k) % 997}".encode(), 1, 1.0 + k, b"v%d" % docnum) for k in range(3)]
        if docnum % 2:
            length = pool.add_field("content", docnum, items, 2.0)
            assert length == 3
            items = [(t, f, w * 2.0, v) for t, f, w, v in items]
        else:
            for t, _f, w, v in items:
                pool.add(("content", t, docnum, w, v))
        pool.add(("title", b"t%d" % (docnum % 5), docnum, 1.0, b""))
        for t, _, w, v in items:
            expected.setdefault(("content", t), []).extend((docnum, w, v))
        expected.setdefault(("title", b"t%d" % (docnum % 5)), []).extend((docnum, 1.0, b""))
    assert len(pool.runs) >= 2
    runs = [tmp_path / name for name in pool.runs]
    assert all(p.exists() for p in runs)
    assert [((f, t), postings) for f, t, postings in pool.terms()] == sorted(expected.items())
    assert not any(p.exists() for p in runs)  # each run is removed once read


def test_sort_by_date_and_paging(ix: WhooshIndex) -> None:
    assert ids(ix, "", sort="date") == [6, 5, 2, 3, 4]
    assert ids(ix, "", sort="date", page=2, per_page=2) == [2, 3]
    with pytest.raises(InvalidInput):
        ix.search(SearchRequest("", per_page=0))
    with pytest.raises(InvalidInput):
        ix.search(SearchRequest("", sort="title"))


def test_snippets_are_plain_text_with_marked_spans(ix: WhooshIndex) -> None:
    ix.upsert([entry(30, 30, "<b>标题</b>", '前言<script>alert("x")</script>&续签条款如下')])
    hit = ix.search(SearchRequest("续签 标题", filters={"document_id": ["30"]})).hits[0]
    assert hit.snippet.text == '前言<script>alert("x")</script>&续签条款如下'  # the face escapes it
    assert marked(hit.snippet) == ["续签"]
    assert hit.title == "<b>标题</b>"  # plain value: the page template escapes it
    assert not ix.search(SearchRequest("续签", highlight=False)).hits[0].snippet.marks


def test_snippet_window() -> None:
    text = "无关内容。" * 100 + "这里是续签条款。" + "其他。" * 100
    s = make_snippet(text, [(503, 505)])
    assert marked(s) == ["续签"] and s.text.startswith("…") and s.text.endswith("…")
    assert make_snippet("a<b\n\n  c", []) == Snippet("a<b c")
    spaced = make_snippet("前  言\n续签", [(5, 7)])
    assert spaced.text == "前 言 续签" and marked(spaced) == ["续签"]


def marked(s: Snippet) -> list[str]:
    return [s.text[a:b] for a, b in s.marks]


# --- hostile queries ------------------------------------------------------------------------

HOSTILE = [
    "*a*",
    "a*",
    "?????????*",
    'r"(a|aa)*b.*"',
    "(a|aa)*b.*",
    "content:(",
    '"unterminated',
    "AND OR NOT",
    "((((((((((a))))))))))",
    ")",
    "(",
    "合同 NOT",
    "type:",
    "date:2026-13-45",
    "year:abc",
    "title:(a:(b))",
    "x~2",
    "x^10",
    "/regex/",
    "\\",
    "'; DROP TABLE versions;--",
    "\x00\x01",
    "一" * 500,
    " ".join(["合同"] * 100),
    "a " * 240,
    "标题:" + "长" * 490,
]


@pytest.mark.timing
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_answer_fast_with_results_or_invalid_input(ix: WhooshIndex, query: str) -> None:
    started = time.perf_counter()
    try:
        r = ix.search(SearchRequest(query))
        assert r.total >= 0
    except InvalidInput as exc:
        assert exc.zh and exc.en
    assert time.perf_counter() - started < within(1.0)


def test_overlong_query(ix: WhooshIndex) -> None:
    with pytest.raises(InvalidInput) as info:
        ix.search(SearchRequest("x" * 10_000))
    assert "查询过长" in info.value.zh


def test_time_limit_returns_partial_results(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "slow", search_timeout=0.0)
    index.clear()
    index.upsert([entry(i, i, "报告", "机房巡检") for i in range(1, 200)])
    assert index.search(SearchRequest("巡检")).partial is True  # words: the array path
    assert index.search(SearchRequest('"机房巡检"')).partial is True  # a phrase: Whoosh's collector


# --- rebuild detection ----------------------------------------------------------------------


def test_missing_index_needs_rebuild(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "new")
    assert index.needs_rebuild
    with pytest.raises(Unavailable):
        index.search(SearchRequest("合同"))


def test_version_mismatch_needs_rebuild(ix: WhooshIndex) -> None:
    meta_path = ix.path / META_FILE
    meta = json.loads(meta_path.read_text())
    assert WhooshIndex.open(ix.path).needs_rebuild is False
    meta_path.write_text(json.dumps({**meta, "schema_version": 0}))
    reopened = WhooshIndex.open(ix.path)
    assert reopened.needs_rebuild and "schema" in reopened.rebuild_reason
    meta_path.write_text(json.dumps({**meta, "analyzer_version": "zh-0+old"}))
    assert WhooshIndex.open(ix.path).needs_rebuild


def test_deleted_toc_is_detected_and_a_rebuild_recovers(ix: WhooshIndex) -> None:
    for toc in ix.path.glob("_MAIN_*.toc"):
        toc.unlink()
    reopened = WhooshIndex.open(ix.path)
    assert reopened.needs_rebuild
    with pytest.raises(Unavailable):
        reopened.search(SearchRequest("合同"))
    # The running instance notices too, at its next search.
    with pytest.raises(Unavailable):
        ix.search(SearchRequest("合同"))
    reopened.clear()
    reopened.upsert(DOCS)
    assert reopened.needs_rebuild  # not finished yet
    reopened.mark_complete()
    assert not WhooshIndex.open(ix.path).needs_rebuild
    assert ids(reopened, "巡检") == [5]


def test_deleted_segment_is_detected(ix: WhooshIndex) -> None:
    for seg in ix.path.glob("*.seg"):
        seg.unlink()
    assert WhooshIndex.open(ix.path).needs_rebuild


def test_interrupted_rebuild_is_resumable(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "r")
    index.clear()
    index.upsert(DOCS[:3])
    reopened = WhooshIndex.open(tmp_path / "r")
    assert reopened.needs_rebuild
    assert set(reopened.indexed_versions()) == {1, 2, 3}
    reopened.upsert(d for d in DOCS if d.version_id not in reopened.indexed_versions())
    reopened.mark_complete()
    assert reopened.doc_count() == 6


# --- concurrency ----------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from whoosh import index
ix = index.open_dir(sys.argv[1], indexname="MAIN")
w = ix.writer()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
w.cancel()
"""


def test_lock_held_by_another_process_retries_then_unavailable(ix: WhooshIndex) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(ix.path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        index = WhooshIndex.open(ix.path, lock_timeout=0.6)
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            index.upsert([entry(40, 40, "新", "新的内容")])
        assert time.monotonic() - started >= 0.6
        assert "写锁" in info.value.zh
        assert 40 not in index.indexed_versions()
        assert index.search(SearchRequest("巡检")).total == 1  # reading is unaffected
    finally:
        holder.kill()
        holder.wait()
    index.upsert([entry(40, 40, "新", "新的内容")])
    assert 40 in index.indexed_versions()


def test_lock_released_during_retry_succeeds(ix: WhooshIndex) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(ix.path), "0.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        index = WhooshIndex.open(ix.path, lock_timeout=10)
        index.upsert([entry(41, 41, "新", "等待写锁后写入")])
        assert 41 in index.indexed_versions()
    finally:
        holder.kill()
        holder.wait()


def test_searches_and_writes_from_many_threads(ix: WhooshIndex) -> None:
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(20):
                ix.search(SearchRequest("合同 OR 巡检"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def write() -> None:
        try:
            for i in range(5):
                ix.upsert([entry(200 + i, 200 + i, "并发", f"并发写入第{i}条")])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(4)] + [threading.Thread(target=write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert ix.search(SearchRequest("并发")).total == 5


def test_many_small_commits_keep_the_segment_count_bounded(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "seg")
    index.clear()
    for i in range(1, 41):
        index.upsert([entry(i, i, "报告", f"第{i}次巡检", doc_type="report")])
    # Each commit merges a tier that reached MERGE_FACTOR segments (before adding its own), so
    # no tier holds more than MERGE_FACTOR: 40 one-document commits leave a handful, not 40.
    tiers = Counter(int(math.log(seg.doc_count_all(), MERGE_FACTOR)) for seg in index._ix._segments())
    assert max(tiers.values()) <= MERGE_FACTOR and len(index._ix._segments()) <= 2 * MERGE_FACTOR
    assert index.doc_count() == 40
    r = index.search(SearchRequest("巡检"))
    assert r.total == 40 and r.facets["doc_type"] == {"report": 40}
    index.optimize()
    assert len(index._ix._segments()) == 1
    assert index.search(SearchRequest("巡检")).facets["doc_type"] == {"report": 40}


def test_short_posting_lists_are_inlined_and_read_back(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "inline")
    index.clear()
    index.upsert([entry(i, i, "报告", f"第{i}次巡检，编号 RARE{i}", doc_type="report") for i in range(1, 11)])
    index.optimize()  # a merge rewrites every posting through the codec again
    reader = index._ix.reader()
    try:
        assert reader.term_info("content", "rare3").is_inlined()  # one posting: in the term table
        assert not reader.term_info("content", "巡检").is_inlined()  # ten postings: a block
    finally:
        reader.close()
    assert ids(index, "RARE3") == [3] and ids(index, '"3次巡检"') == [3]
    assert len(ids(index, "doc_type:report")) == 10


def test_a_killed_writers_sort_files_are_swept(tmp_path: Path) -> None:
    import os

    index = WhooshIndex.open(tmp_path / "sweep")
    index.clear()
    index.mark_complete()
    stale_dir = tmp_path / "sweep" / "MAIN.tmp"
    stale_dir.mkdir(exist_ok=True)
    stale = stale_dir / "abc.run"
    stale.write_bytes(b"x" * 1000)
    child = tmp_path / "sweep" / "zzz.tmp"
    child.mkdir()
    (child / "def.run").write_bytes(b"y")
    for p in (stale, child / "def.run", child):
        os.utime(p, (1, 1))  # long ago: a writer that was killed
    index.upsert([entry(1, 1, "报告", "巡检")])
    assert not stale.exists() and not child.exists()
    assert ids(index, "巡检") == [1]


def test_automatic_merges_stop_at_the_cap_and_optimize_merges_everything(tmp_path: Path, monkeypatch) -> None:
    from docsvc.adapters.whoosh import merge

    monkeypatch.setattr(merge, "MAX_MERGED_DOCS", 10)  # the cap, small enough to reach
    index = WhooshIndex.open(tmp_path / "cap")
    index.clear()
    for i in range(1, 81):
        index.upsert([entry(i, i, "报告", f"第{i}次巡检")])
    sizes = [s.doc_count_all() for s in index._ix._segments()]
    assert 1 < max(sizes) <= 10 and sum(sizes) == 80  # small segments merged, none past the cap
    index.optimize()
    assert [s.doc_count_all() for s in index._ix._segments()] == [80]
    assert index.search(SearchRequest("巡检")).total == 80


class StockCodec(DocsvcCodec):
    """DocsvcCodec with Whoosh's own per-posting field writer (module level: the TOC pickles it)."""

    def field_writer(self, storage, segment):
        return whoosh3.W3FieldWriter(self, storage, segment)


@pytest.mark.slow
def test_term_writer_writes_the_bytes_whooshs_posting_writer_writes(tmp_path: Path) -> None:
    # TermWritingFieldWriter and the Zh formats replace Whoosh's per-posting code for speed: the term table and
    # postings files must be byte for byte what Whoosh writes (with inlining repaired), for a
    # flush and for a merge, with long posting lists (several blocks), short ones (inlined),
    # value-less fields and positions with character offsets.
    import random

    rng = random.Random(5)
    common = ["服务", "合同", "续签", "协议", "运维", "sla-2026-001", "故障", "响应"]
    rare = [f"词{i}" for i in range(300)]
    entries = [
        entry(
            i,
            i,
            f"文档{i}",
            "，".join(rng.choices(common, k=30) + rng.choices(rare, k=20)),
            doc_type=rng.choice(["contract", "report"]),
            year=2020 + i % 7,
            tags=("运维",) * (i % 2),
        )
        for i in range(1, 400)
    ]

    def segment_files(path: Path, tag: str) -> dict[str, list[bytes]]:
        # Segment names are random: the files' contents by kind instead. The term table and the
        # postings are ours to write; the rest (stored fields, lengths, columns) is Whoosh's code
        # in both, compared to show that a merge copies it whole.
        files = [p for p in path.iterdir() if p.is_file() and p.suffix not in (".toc", ".lock")]
        return {
            tag + ext: sorted(p.read_bytes() for p in files if p.suffix == ext) for ext in {p.suffix for p in files}
        }

    def stock_schema():
        # Whoosh's own Positions/Characters formats in place of ZhPositions/ZhCharacters.
        schema = build_schema()
        for name in schema.names():
            fmt = schema[name].format
            if isinstance(fmt, (ZhPositions, ZhCharacters)):
                stock = formats.Characters if isinstance(fmt, formats.Characters) else formats.Positions
                schema[name].format = stock(field_boost=fmt.field_boost)
        return schema

    def write(codec_cls, schema, name: str, merge) -> dict[str, list[bytes]]:
        path = tmp_path / name
        path.mkdir()
        ix = FileStorage(str(path)).create_index(schema, "MAIN")
        for batch in (entries[:250], entries[250:]):
            w = ix.writer(codec=codec_cls(), compound=False)
            for e in batch:
                w.add_document(**_to_fields(e))
            w.commit(merge=False)
        flushed = segment_files(path, "flush")
        merge(ix.writer(codec=codec_cls(), compound=False))
        return flushed | segment_files(path, "merge")

    # Ours merges with merge_segments (a block at a time); Whoosh's optimize goes posting by posting.
    ours = write(
        DocsvcCodec,
        build_schema(),
        "ours",
        lambda w: w.commit(mergetype=lambda writer, segments: [merge_segments(writer, segments)]),
    )
    stock = write(StockCodec, stock_schema(), "stock", lambda w: w.commit(optimize=True))
    assert sorted(ours) == sorted(stock)
    assert (len(ours["flush.trm"]), len(ours["flush.pst"]), len(ours["merge.trm"])) == (2, 2, 1)
    for name in ours:
        assert ours[name] == stock[name], name


def test_a_reader_in_another_process_sees_commits_and_keeps_unchanged_segments(tmp_path: Path) -> None:
    # Two WhooshIndex objects on one folder: a server worker (reads) and the indexer (writes).
    writer = WhooshIndex.open(tmp_path / "shared")
    writer.clear()
    writer.upsert([entry(i, i, "巡检报告", f"第{i}号机房巡检") for i in range(1, 4)])
    writer.upsert([entry(10, 10, "会议纪要", "机房搬迁讨论")])
    writer.mark_complete()
    worker = WhooshIndex.open(tmp_path / "shared")
    assert worker.search(SearchRequest("机房")).total == 4
    before = {r.segment().segment_id(): r for r, _ in worker._searcher.reader().leaf_readers()}

    # A new version replaces document 10's only version (a deletion in an existing segment) and
    # a new document arrives (a new segment).
    writer.upsert([entry(10, 10, "会议纪要", "机房搬迁延期"), entry(20, 20, "变更单", "机房空调更换")])
    r = worker.search(SearchRequest("机房", per_page=50))
    assert sorted(h.version_id for h in r.hits) == [1, 2, 3, 10, 20]
    assert worker.search(SearchRequest("讨论")).total == 0 and worker.search(SearchRequest("延期")).total == 1
    after = {r.segment().segment_id(): r for r, _ in worker._searcher.reader().leaf_readers()}
    unchanged = [seg for seg in before if seg in after and after[seg].segment().deleted_count() == 0]
    assert unchanged and all(after[seg] is before[seg] for seg in unchanged)  # kept, not reopened

    # Many commits, so merges replace segments under the worker: every version exactly once.
    for i in range(30, 60):
        writer.upsert([entry(i, i, "巡检报告", f"第{i}号机房巡检")])
        assert worker.search(SearchRequest("机房", per_page=100)).total == 5 + (i - 29)
    hits = worker.search(SearchRequest("机房", per_page=100)).hits
    assert len(hits) == len({h.version_id for h in hits}) == 35


def test_a_failing_writer_process_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    from docsvc.adapters.whoosh import write

    index = WhooshIndex.open(tmp_path / "mpfail")
    index.clear()
    index.upsert([entry(1, 1, "报告", "机房巡检")])

    def broken(self, **fields):  # the fault, inherited by the forked writer processes
        raise MemoryError("no memory left")

    monkeypatch.setattr(write.DocsvcSegmentWriter, "add_document", broken)
    with pytest.raises(Unavailable) as err:
        index.upsert([entry(i, i, "报告", f"第{i}号机房巡检") for i in range(2, 12)], procs=2)
    assert "MemoryError" in err.value.en
    monkeypatch.undo()
    assert index.doc_count() == 1 and index.search(SearchRequest("机房")).total == 1
    assert index.upsert([entry(i, i, "报告", f"第{i}号机房巡检") for i in range(2, 12)], procs=2) == 10
    assert index.search(SearchRequest("机房")).total == 11


def test_a_segment_removed_while_a_reader_reopens_is_retried_not_fatal(tmp_path: Path, monkeypatch) -> None:
    from whoosh import reading

    writer = WhooshIndex.open(tmp_path / "race")
    writer.clear()
    writer.upsert([entry(1, 1, "报告", "机房巡检")])
    writer.mark_complete()
    worker = WhooshIndex.open(tmp_path / "race")
    assert worker.search(SearchRequest("机房")).total == 1
    writer.upsert([entry(2, 2, "报告", "机房空调")])

    real, calls = reading.SegmentReader.__init__, []

    def vanishing_once(self, *args, **kwargs):  # the fault: a merge removed the file meanwhile
        calls.append(1)
        if len(calls) == 1:
            raise FileNotFoundError("MAIN_abc.seg")
        real(self, *args, **kwargs)

    monkeypatch.setattr(reading.SegmentReader, "__init__", vanishing_once)
    assert worker.search(SearchRequest("机房")).total == 2
    assert len(calls) >= 2 and not worker.needs_rebuild


# --- streams (bulk import) -------------------------------------------------------------------


def test_a_stream_commits_each_finished_segment_and_replaces_indexed_versions(tmp_path: Path) -> None:
    index = WhooshIndex.open(tmp_path / "stream")
    index.clear()
    index.upsert([entry(1, 1, "旧报告", "旧版巡检记录")])
    committed: list[int] = []
    with index.stream(procs=2, segment_docs=2) as stream:
        for i in range(1, 6):  # version 1 again, with new text: it replaces the indexed one
            committed += stream.add(entry(i, i, f"报告{i}", f"第{i}号机房巡检，UPS 告警"))
        # Each writer finishes a segment at its second document; they are committed while the
        # stream goes on, and searchable at once.
        assert wait_for(lambda: committed.extend(stream.poll()) or len(committed) == 4)
        assert sorted(committed) == [1, 2, 3, 4]
        assert index.search(SearchRequest("告警")).total == 4
        committed += stream.finish()
    assert sorted(committed) == [1, 2, 3, 4, 5]
    assert index.doc_count() == 5
    assert index.search(SearchRequest("旧版")).total == 0
    assert sorted(index.indexed_versions()) == [1, 2, 3, 4, 5]
    assert list((tmp_path / "stream" / "staging").iterdir()) == []


def test_a_stream_whose_writer_dies_ends_and_keeps_what_was_finished(tmp_path: Path) -> None:
    import os
    import signal

    index = WhooshIndex.open(tmp_path / "dies")
    index.clear()
    with index.stream(procs=2, segment_docs=1) as stream:
        committed = stream.add(entry(1, 1, "报告", "机房巡检"))
        assert wait_for(lambda: committed.extend(stream.poll()) or committed == [1])
        os.kill(stream._streams._workers[1].process.pid, signal.SIGKILL)  # the fault
        for i in range(2, 8):  # round robin: the even ones go to the dead writer
            committed += stream.add(entry(i, i, "报告", "机房巡检"))
        committed += stream.finish()
        assert "ended unexpectedly" in stream.failed
    # The living writer's finished segments are committed; nothing of the dead one's is.
    assert 1 in committed and set(committed) <= {1, 3, 5, 7}
    assert set(index.indexed_versions()) == set(committed)
    assert index.search(SearchRequest("巡检")).total == len(committed)
    assert list((tmp_path / "dies" / "staging").iterdir()) == []


def test_the_staging_folder_of_a_dead_stream_is_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    import fcntl

    index = WhooshIndex.open(tmp_path / "sweep")
    index.clear()
    staging = tmp_path / "sweep" / "staging"
    for name in ("dead", "live"):
        (staging / name / "writer0").mkdir(parents=True)
        (staging / name / "writer0" / "MAIN_x.seg").write_bytes(b"x" * 1000)
        (staging / f"{name}.lock").touch()
    with open(staging / "live.lock", "rb") as live:
        fcntl.flock(live, fcntl.LOCK_EX)  # held, as a running import's process holds it
        with index.stream(procs=1, segment_docs=10) as stream:
            stream.add(entry(1, 1, "报告", "机房巡检"))
            assert stream.finish() == [1]
        assert sorted(p.name for p in staging.iterdir()) == ["live", "live.lock"]


@pytest.mark.slow
def test_a_segment_written_through_spilled_runs_is_the_segment_written_in_memory(tmp_path: Path) -> None:
    # The pool spills past its memory limit and merges the runs back at the flush: the
    # segment's files are the same bytes either way.
    import random

    rng = random.Random(9)
    words = [f"词{i}" for i in range(3000)] + ["服务", "合同", "sla-2026-001"]
    entries = [entry(i, i, f"文档{i}", "，".join(rng.choices(words, k=400))) for i in range(1, 301)]

    def segment(name: str, limitmb: int) -> tuple[int, dict[str, bytes]]:
        path = tmp_path / name
        ix = FileStorage(str(path)).create().create_index(build_schema(), "MAIN")
        writer = DocsvcSegmentWriter(ix, codec=DocsvcCodec(), compound=False, limitmb=limitmb)
        for e in entries:
            writer.add_document(**_to_fields(e))
        spilled = len(writer.pool.runs)
        writer.commit(merge=False)
        files = {p.suffix: p.read_bytes() for p in path.iterdir() if p.suffix in (".trm", ".pst")}
        return spilled, files

    (spilled, on_disk), (kept, in_memory) = segment("spilled", 1), segment("memory", 512)
    assert spilled >= 2 and kept == 0
    assert on_disk == in_memory and set(on_disk) == {".trm", ".pst"}


def test_a_merge_reads_term_tables_across_chunk_boundaries(tmp_path: Path, monkeypatch) -> None:
    # The term tables are read a chunk at a time; records that straddle chunks, and records
    # bigger than a chunk, come out the same as with the whole table at once.
    from docsvc.adapters.whoosh import write

    entries = [
        entry(i, i, f"文档{i}", "，".join(["服务"] * (i * 50) + [f"词{i}", "合同", "sla-2026-001"]))
        for i in range(1, 41)
    ]

    def merged(name: str) -> dict[str, bytes]:
        path = tmp_path / name
        ix = FileStorage(str(path)).create().create_index(build_schema(), "MAIN")
        for batch in (entries[:15], entries[15:30], entries[30:]):
            w = ix.writer(codec=DocsvcCodec(), compound=False)
            for e in batch:
                w.add_document(**_to_fields(e))
            w.commit(merge=False)
        ix.writer(codec=DocsvcCodec(), compound=False).commit(
            mergetype=lambda writer, segments: [merge_segments(writer, segments)]
        )
        return {p.suffix: p.read_bytes() for p in path.iterdir() if p.suffix in (".trm", ".pst")}

    whole = merged("whole")
    monkeypatch.setattr(write, "_READ_CHUNK", 64)  # smaller than most records
    assert merged("chunked") == whole and set(whole) == {".trm", ".pst"}
