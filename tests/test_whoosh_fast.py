"""The array path for word searches (docsvc.adapters.whoosh_fast) gives Whoosh's own results:
the same matches, the same scores, the same order, on an index with several segments,
deletions, filters and access lists."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from whoosh import collectors
from whoosh import query as wq

from docsvc.adapters import whoosh_fast
from docsvc.adapters.whoosh_index import IndexEntry, SearchRequest, WhooshIndex, _BoundedCollector, _QueryBuilder
from docsvc.core import query as q

WORDS = ["服务", "运维", "巡检", "合同", "续签", "可用性", "故障", "响应", "备份", "数据库", "网络", "安全",
         "变更", "管理", "客户", "满意度", "机房", "报告", "季度", "SLA-2026-001", "service", "level"]
TYPES = ["contract", "sla", "report"]


def _text(rng: random.Random) -> str:
    # Zipf-like: early words are common, late ones rare.
    return "，".join("".join(rng.choices(WORDS, weights=[1 / (i + 1) for i in range(len(WORDS))], k=rng.randint(1, 4)))
                    for _ in range(rng.randint(3, 40)))


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> WhooshIndex:
    rng = random.Random(11)
    ix = WhooshIndex.open(tmp_path_factory.mktemp("fast") / "index")
    ix.clear()
    vid = 0
    for batch in range(6):  # six commits: several segments
        entries = []
        for _ in range(40):
            vid += 1
            entries.append(IndexEntry(version_id=vid, document_id=vid, number=1, title=_text(rng)[:20],
                                      content=_text(rng), doc_type=rng.choice(TYPES), year=2020 + batch,
                                      created_at=dt.datetime(2020 + batch, 1, 1, tzinfo=dt.timezone.utc)))
        ix.upsert(entries)
    # Replacing versions deletes their old Whoosh documents: segments with deletions.
    ix.upsert([IndexEntry(version_id=v, document_id=v, number=1, title="改版", content=_text(rng), doc_type="sla")
               for v in range(1, vid, 7)])
    for doc in range(3, 40, 5):
        ix.set_latest(doc, doc + 1000)  # marks those versions not latest (rewritten again)
    ix.mark_complete()
    return ix


def _whoosh(ix: WhooshIndex, query: wq.Query, allowed: set[int] | None) -> tuple[list[int], list[tuple[int, float]]]:
    """Whoosh's own evaluation, as the search ran before the array path existed."""
    searcher = ix._current_searcher()
    timed = _BoundedCollector(collectors.TopCollector(20, usequality=False, replace=0), allowed, float("inf"))
    searcher.search_with_collector(query, timed)
    return sorted(timed.docs), [(h.docnum, h.score) for h in timed.results()]


def _query(ix: WhooshIndex, text: str, **filters) -> wq.Query:
    builder = _QueryBuilder(ix.tz)
    main = builder.build_root(q.parse_query(text))
    fs = builder.filters(SearchRequest(text, **filters))
    return wq.And([main, wq.ConstantScoreQuery(wq.And(fs), score=0.0)]) if fs else main


def test_array_path_matches_whoosh_on_random_word_queries(index: WhooshIndex) -> None:
    rng = random.Random(5)
    searcher = index._current_searcher()
    assert len(searcher.leaf_searchers()) > 1 and any(r.has_deletions() for r, _ in searcher.reader().leaf_readers())
    evaluator = whoosh_fast.Evaluator()
    checked = 0
    for _ in range(120):
        words = rng.sample(WORDS + ["不存在的词"], rng.randint(1, 4))
        filters = rng.choice([{}, {"filters": {"doc_type": ["sla"]}}, {"all_versions": True}])
        query = _query(index, " ".join(words), **filters)
        plan = whoosh_fast.plan(query)
        if plan is None:
            continue
        allowed = set(rng.sample(range(searcher.doc_count_all()), 60)) if rng.random() < 0.3 else None
        want_docs, want_top = _whoosh(index, query, allowed)
        docs, scores, partial = evaluator.run(searcher, plan, allowed)
        got_top = whoosh_fast.top(docs, scores, 20)
        assert not partial
        assert sorted(docs.tolist()) == want_docs, words
        assert [d for d, _ in got_top] == [d for d, _ in want_top], (words, got_top[:3], want_top[:3])
        assert [s for _, s in got_top] == pytest.approx([s for _, s in want_top], rel=1e-9)
        checked += 1
    assert checked > 80  # word queries, the shape the array path takes, were most of them


def test_plan_leaves_other_shapes_to_whoosh(index: WhooshIndex) -> None:
    for text in ['"季度报告"', "合同 AND 续签", "合同 -续签", "+合同 续签", "year:2021..2022 合同", "云栖数服"]:
        assert whoosh_fast.plan(_query(index, text)) is None, text
    for text in ["合同", "合同 续签 可用性", "SLA-2026-001"]:
        assert whoosh_fast.plan(_query(index, text)) is not None, text


def test_search_through_the_array_path_gives_whoosh_totals_facets_and_hits(index: WhooshIndex) -> None:
    searcher = index._current_searcher()
    for text, filters in [("合同 续签", {}), ("运维 巡检 可用性", {"doc_type": ["report"]}), ("服务", {})]:
        result = index.search(SearchRequest(text, per_page=10, filters=filters))
        want_docs, want_top = _whoosh(index, _query(index, text, filters=filters), None)
        assert result.total == len(want_docs) > 0
        assert result.facets == index._facets(searcher, want_docs)
        want_versions = [int(searcher.stored_fields(d)["version_id"]) for d, _ in want_top[:10]]
        assert [h.version_id for h in result.hits] == want_versions
        assert [h.score for h in result.hits] == pytest.approx([s for _, s in want_top[:10]], rel=1e-9)


def test_cache_is_bounded() -> None:
    cache = whoosh_fast._Cache(100)
    for i in range(50):
        cache.put(i, i, 10)
    assert cache.size <= 100 and cache.get(49) == 49 and cache.get(0) is None
