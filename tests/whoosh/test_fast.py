"""The array path for word searches (docsvc.adapters.whoosh.fast) gives Whoosh's own results:
the same matches, the same scores, the same order, on an index with several segments,
deletions, filters and access lists."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import random
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from whoosh import collectors
from whoosh import query as wq

from docsvc.adapters.whoosh import fast, schema
from docsvc.adapters.whoosh.index import WhooshIndex, _BoundedCollector, _docnums_for
from docsvc.adapters.whoosh.query import _QueryBuilder
from docsvc.core import query as q
from docsvc.core import ranking
from docsvc.core.search import IndexEntry, SearchRequest, SortOrder

WORDS = [
    "服务",
    "运维",
    "巡检",
    "合同",
    "续签",
    "可用性",
    "故障",
    "响应",
    "备份",
    "数据库",
    "网络",
    "安全",
    "变更",
    "管理",
    "客户",
    "满意度",
    "机房",
    "报告",
    "季度",
    "SLA-2026-001",
    "service",
    "level",
]
TYPES = ["contract", "sla", "report"]


def _text(rng: random.Random) -> str:
    # Zipf-like: early words are common, late ones rare.
    return "，".join(
        "".join(rng.choices(WORDS, weights=[1 / (i + 1) for i in range(len(WORDS))], k=rng.randint(1, 4)))
        for _ in range(rng.randint(3, 40))
    )


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
            entries.append(
                IndexEntry(
                    version_id=vid,
                    document_id=vid,
                    number=1,
                    title=_text(rng)[:20],
                    content=_text(rng),
                    doc_type=rng.choice(TYPES),
                    year=2020 + batch,
                    created_at=dt.datetime(2020 + batch, 1, 1, tzinfo=dt.UTC),
                )
            )
        ix.upsert(entries)
    # Replacing versions deletes their old Whoosh documents: segments with deletions.
    ix.upsert(
        [
            IndexEntry(version_id=v, document_id=v, number=1, title="改版", content=_text(rng), doc_type="sla")
            for v in range(1, vid, 7)
        ]
    )
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


def _truth(searcher, node) -> set[int]:
    """The documents a plan's tree matches, by plain set algebra over posting lists."""
    if isinstance(node, fast.TermNode):
        reader = searcher.reader()
        btext = reader.schema[node.field].to_bytes(node.text)
        return set(reader.postings(node.field, btext).all_ids()) if (node.field, btext) in reader else set()
    if isinstance(node, (fast.PhraseNode, fast.RangeNode)):
        return set(node.query.matcher(searcher).all_ids())
    if isinstance(node, fast.AllNode):
        return set(searcher.reader().all_doc_ids())
    if isinstance(node, fast.FieldsNode):
        return set().union(*(_truth(searcher, fast.TermNode(f, node.text, 1.0)) for f, _ in node.fields))
    sets = [_truth(searcher, c) for c in node.children]
    if node.op == "or":
        return set().union(*sets)
    if node.op == "and":
        return set.intersection(*sets)
    if node.op == "andnot":
        return sets[0] - sets[1]
    return sets[0]  # andmaybe


def _reference(top, node, docnum: int) -> float:
    """A document's score computed one document at a time, with Whoosh's own BM25F scorer
    for each term and the combination rules of Whoosh's matchers (sum; coordination bonus)."""
    for sub, offset in top.leaf_searchers():
        if offset <= docnum < offset + sub.doc_count_all():
            return _scalar(top, sub, node, docnum - offset)[1]
    raise AssertionError(docnum)


def _scalar(top, sub, node, d: int) -> tuple[bool, float, int, int]:
    if isinstance(node, fast.FieldsNode):
        # BM25F from the frequency and field length Whoosh's matcher and reader give.
        parts, idfs = [], []
        for field, boost in node.fields:
            reader = sub.reader()
            btext = reader.schema[field].to_bytes(node.text)
            if top.doc_frequency(field, node.text):
                idfs.append(top.idf(field, node.text))
            if (field, btext) not in reader:
                continue
            m = reader.postings(field, btext)
            if m.is_active():
                m.skip_to(d)
            if m.is_active() and m.id() == d:
                parts.append((m.weight(), reader.doc_field_length(d, field, 1), top.avg_field_length(field), boost))
        return bool(parts), ranking.bm25f(parts, min(idfs, default=0.0)), 1, int(bool(parts))
    if isinstance(node, fast.TermNode):
        reader = sub.reader()
        btext = reader.schema[node.field].to_bytes(node.text)
        if (node.field, btext) not in reader:
            return False, 0.0, 0, 0
        m = reader.postings(node.field, btext, scorer=top.weighting.scorer(sub, node.field, node.text))
        if m.is_active():
            m.skip_to(d)
        hit = m.is_active() and m.id() == d
        return hit, (m.score() * node.boost if hit else 0.0), 1, int(hit)
    if isinstance(node, fast.AllNode):
        hit = not sub.reader().is_deleted(d)
        return hit, (node.boost if hit else 0.0), 0, 0
    if isinstance(node, (fast.PhraseNode, fast.RangeNode)):
        m = node.query.matcher(sub)
        if m.is_active():
            m.skip_to(d)
        hit = m.is_active() and m.id() == d
        terms = len(node.words) if isinstance(node, fast.PhraseNode) and list(m.term_matchers()) else 0
        return hit, (m.score() if hit else 0.0), terms, terms if hit else 0
    parts = [_scalar(top, sub, c, d) for c in node.children]
    terms, matching = sum(p[2] for p in parts), sum(p[3] for p in parts)
    if node.op == "andnot":
        return parts[0][0] and not parts[1][0], parts[0][1], terms, parts[0][3]
    if node.op == "andmaybe":
        extra = parts[1] if parts[0][0] and parts[1][0] else (False, 0.0, 0, 0)
        return parts[0][0], parts[0][1] + extra[1], terms, parts[0][3] + extra[3]
    hit = all(p[0] for p in parts) if node.op == "and" else any(p[0] for p in parts)
    score = sum(p[1] for p in parts) if hit else 0.0
    if node.scale and terms:
        score = (
            0.0 if terms == node.scale else (score + (matching - 1) / (terms - node.scale) ** 2) * ((terms - 1) / terms)
        )
    return hit, score, terms, matching


def _query(ix: WhooshIndex, text: str, **filters) -> wq.Query:
    builder = _QueryBuilder(ix.tz)
    main = builder.build_root(q.parse_query(text))
    fs = builder.filters(SearchRequest(text, **filters))
    return wq.And([main, wq.ConstantScoreQuery(wq.And(fs), score=0.0)]) if fs else main


@pytest.mark.slow  # hundreds of random queries on both paths: seconds
def test_array_path_matches_whoosh_on_random_word_queries(index: WhooshIndex) -> None:
    rng = random.Random(5)
    searcher = index._current_searcher()
    assert len(searcher.leaf_searchers()) > 1 and any(r.has_deletions() for r, _ in searcher.reader().leaf_readers())
    evaluator = fast.Evaluator()
    checked = compared = 0
    for _ in range(120):
        words = rng.sample(
            WORDS
            + [
                "不存在的词",
                "客户满意度",
                "type:sla",
                "type:report",
                '"服务管理"',
                '"合同续签"',
                '"续签合同"',
                "year:2021..2023",
                "year:2024",
                "云栖数服",
            ],
            rng.randint(1, 4),
        )
        # Plain words, and the operators people type: OR, AND, NOT, -, +.
        text = words[0] + "".join(rng.choice([" ", " ", " OR ", " AND ", " NOT ", " -", " +"]) + w for w in words[1:])
        filters = rng.choice([{}, {"filters": {"doc_type": ["sla"]}}, {"all_versions": True}])
        query = _query(index, text, **filters)
        plan = fast.plan(query)
        if plan is None:
            continue
        allowed = set(rng.sample(range(searcher.doc_count_all()), 60)) if rng.random() < 0.3 else None
        truth = _truth(searcher, plan.root)
        if plan.filter is not None:
            truth &= set(plan.filter.docs(searcher))
        if allowed is not None:
            truth &= allowed
        docs, scores, partial = evaluator.run(searcher, plan, allowed)
        assert not partial
        assert sorted(docs.tolist()) == sorted(truth), text
        extra = fast.FILTER_SCORE if plan.filter is not None else 0.0
        for d, score in zip(docs.tolist()[:50], scores.tolist()[:50]):
            assert score == pytest.approx(_reference(searcher, plan.root, d) + extra, rel=1e-9), (text, d)
        if not any(op in text for op in ("-", "+", "NOT", "AND", "OR", ":")):
            # Plain words (the soft OR): the matches are Whoosh's own, and the top 20 are the
            # matches best by the reference scores. (Whoosh's AndNot/AndMaybe matchers let some
            # excluded documents through and skip some scores, e.g. "客户满意度 -安全
            # +type:report", and it sums a word's fields where docsvc takes BM25F, so its
            # collector's order is not compared.)
            want_docs, _ = _whoosh(index, query, allowed)
            assert want_docs == sorted(truth)
            want_top = sorted(
                ((d, _reference(searcher, plan.root, d) + extra) for d in truth), key=lambda ds: (-ds[1], ds[0])
            )[:20]
            got_top = fast.top(docs, scores, 20)
            assert [d for d, _ in got_top] == [d for d, _ in want_top], (text, got_top[:3], want_top[:3])
            assert [s for _, s in got_top] == pytest.approx([s for _, s in want_top], rel=1e-9)
            compared += 1
        checked += 1
    assert checked > 100 and compared > 20  # nearly all took the array path


def test_phrases_match_what_whoosh_s_span_matchers_find(index: WhooshIndex) -> None:
    """Phrases are checked from the words' posting blocks, not by Whoosh's span matchers:
    the same documents for phrases cut from the documents' own text (across jieba's cuts, a
    word repeated, up to eight characters), in segments with deleted documents."""
    rng = random.Random(8)
    searcher = index._current_searcher()
    texts = [searcher.stored_fields(d)["content"] for d in range(searcher.doc_count_all())]
    phrases = ['"服务服务"', '"合同续签合同"', '"云栖数服"']
    while len(phrases) < 80:
        text = rng.choice(texts).replace(" ", "")
        start, length = rng.randrange(max(len(text) - 8, 1)), rng.randint(2, 8)
        phrases.append(f'"{text[start : start + length]}"')
    evaluator = fast.Evaluator()
    found = 0
    for phrase in phrases:
        plan = fast.plan(_query(index, phrase))
        assert plan is not None, phrase
        docs, _, _ = evaluator.run(searcher, plan, None)
        truth = _truth(searcher, plan.root) & set(plan.filter.docs(searcher))  # (the latest versions)
        assert sorted(docs.tolist()) == sorted(truth), phrase
        found += len(docs) > 0
    # (Not all: a cut across a comma, or a word cut in two that jieba reads as other words,
    # is found by neither; and only the latest versions are searched.)
    assert found > 20


def test_plan_takes_every_query_shape_the_search_box_makes(index: WhooshIndex) -> None:
    for text in [
        "-合同",
        "-合同 -续签",
        "合同",
        "合同 续签 可用性",
        "SLA-2026-001",
        "合同 AND 续签",
        "合同 -续签",
        "+合同 续签",
        "客户满意度 OR 安全",
        "type:sla 合同",
        "(合同 OR 续签) AND 运维 NOT 网络",
        '"季度报告"',
        "year:2021..2022 合同",
        "云栖数服",
        '合同 "季度报告"',
        "date:2021-01-01..2021-12-31 合同",
    ]:
        assert fast.plan(_query(index, text)) is not None, text


def _all_grams(top) -> list[tuple[int, Counter]]:
    """(global docnum, its grams counted from its stored text) of every document, deleted ones
    included (they stay in their segment's column)."""
    out = []
    for sub, offset in top.leaf_searchers():
        reader = sub.reader()
        out += [
            (offset + d, ranking.document_grams(reader.stored_fields(d)["content"]))
            for d in range(reader.doc_count_all())
        ]
    return out


def _gram_scores(top, text: str) -> dict[int, float]:
    """The grams' share of each document's score (docsvc.core.ranking), by global docnum, from
    the documents' stored text, every document counted (the index is smaller than the sample)."""
    every = _all_grams(top)
    average = sum(sum(c.values()) for _, c in every) / len(every)
    grams = [
        (gram, weight, sum(1 for _, c in every if c[gram]))
        for gram, weight in ranking.question_grams(q.parse_query(text)).items()
    ]
    return {
        docnum: sum(
            ranking.bm25f([(mine[gram], sum(mine.values()), average, 1.0)], weight * ranking.idf(len(every), df))
            for gram, weight, df in grams
            if mine[gram]
        )
        for docnum, mine in every
    }


def test_search_through_the_array_path_gives_whoosh_totals_facets_and_hits(index: WhooshIndex) -> None:
    searcher = index._current_searcher()
    # Questions are ranked by their grams too; keywords by their words alone (ranking.query_grams).
    for text, filters, question in [
        ("合同到期后怎么续签", {}, True),
        ("运维巡检的可用性", {"doc_type": ["report"]}, True),
        ("合同 续签", {}, False),
        ("服务", {}, False),
    ]:
        result = index.search(SearchRequest(text, per_page=10, filters=filters))
        want_docs, _ = _whoosh(index, _query(index, text, filters=filters), None)
        assert result.total == len(want_docs) > 0
        assert result.facets == index._facets(searcher, want_docs)
        # The ranking: each match scored by Whoosh's own matchers, one document at a time, the
        # best of them with their grams (every page's hits are among the candidates).
        plan = fast.plan(_query(index, text, filters=filters))
        extra = fast.FILTER_SCORE if plan.filter is not None else 0.0
        words = {d: _reference(searcher, plan.root, d) + extra for d in want_docs}
        best = sorted(words, key=lambda d: (-words[d], d))[: fast.RANK_CANDIDATES]
        grams = _gram_scores(searcher, text)
        full = {d: words[d] + grams[d] for d in best}
        scored = sorted(full.items(), key=lambda ds: (-ds[1], ds[0]))[:10]
        want_versions = [int(searcher.stored_fields(d)["version_id"]) for d, _ in scored]
        assert [h.version_id for h in result.hits] == want_versions
        assert [h.score for h in result.hits] == pytest.approx([sc for _, sc in scored], rel=1e-9)
        assert any(grams[d] > 0 for d, _ in scored) == question


def _open_files() -> list[str]:
    """What this process's file descriptors point at (Linux /proc)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # (the descriptor listdir itself used)
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
    return out


def test_after_a_merge_the_grams_come_from_the_new_segment_and_the_old_files_are_let_go(tmp_path: Path) -> None:
    rng = random.Random(5)
    ix = WhooshIndex.open(tmp_path / "index")
    ix.clear()
    for batch in range(3):
        ix.upsert(
            [
                IndexEntry(version_id=v, document_id=v, number=1, title="巡检", content=_text(rng), doc_type="report")
                for v in range(batch * 10 + 1, batch * 10 + 11)
            ]
        )
    ix.mark_complete()

    def search() -> list[tuple[int, float]]:
        result = ix.search(SearchRequest("运维巡检怎么做", per_page=30))
        searcher = ix._current_searcher()
        assert set(ix._fast._gram_columns) == {seg.key[0] for seg in fast._segments(searcher)}
        return [(h.version_id, h.score) for h in result.hits]

    before = search()
    assert len(ix._fast._gram_columns) == 3
    grams = _gram_scores(ix._current_searcher(), "运维巡检怎么做")
    assert len(before) > 5 and any(score > 0 for score in grams.values())
    ix.optimize()  # one new segment; the three old files are deleted
    after = search()
    assert len(ix._fast._gram_columns) == 1
    gc.collect()
    deleted = [path for path in _open_files() if path.startswith(str(tmp_path)) and path.endswith("(deleted)")]
    assert not deleted  # the replaced segments' files are closed, not held open by their columns
    assert [v for v, _ in after] == [v for v, _ in before]
    # (A merge sums the field lengths from Whoosh's one-byte document lengths, as Whoosh's own
    # merge does: the words' average length moves a little, their BM25 in the fourth digit.)
    assert [sc for _, sc in after] == pytest.approx([sc for _, sc in before], rel=1e-3)


def test_past_the_sample_size_a_gram_s_frequency_comes_from_the_largest_segments(index, monkeypatch) -> None:
    searcher = index._current_searcher()
    segments = fast._segments(searcher)
    n = searcher.doc_count_all()
    grams = ["服", "维", "巡检", "无此"]
    keys = np.array([schema.gram_key(g) for g in grams], dtype=np.uint32)
    every = _all_grams(searcher)
    exact, average = fast.Evaluator()._gram_stats(searcher, segments, keys)
    assert exact.tolist() == pytest.approx([ranking.idf(n, sum(1 for _, c in every if c[g])) for g in grams])
    assert average == pytest.approx(sum(sum(c.values()) for _, c in every) / n)
    # A sample of 50: the largest segment (40 documents) and the first 10 of the next largest,
    # scaled to the whole.
    first, second = sorted(segments, key=lambda seg: -seg.size)[:2]
    assert first.size == second.size == 40
    monkeypatch.setattr(fast, "GRAMS_SAMPLE_DOCS", 50)
    evaluator = fast.Evaluator()
    sampled, sampled_average = evaluator._gram_stats(searcher, segments, keys)
    inside = [c for d, c in every if first.offset <= d < first.offset + 40 or second.offset <= d < second.offset + 10]
    want = [ranking.idf(n, min(n, sum(1 for c in inside if c[g]) * n / 50)) for g in grams]
    assert sampled.tolist() == pytest.approx(want)
    assert sampled_average == pytest.approx(sum(sum(c.values()) for c in inside) / 50)
    assert sampled.tolist() != pytest.approx(exact.tolist())  # (so the sample was taken)
    assert sampled[-1] == exact[-1]  # in no document either way
    assert sorted(take for _, take in evaluator._gram_tables) == [10, 40]  # only the sample's tables kept


def test_the_grams_column_gives_back_each_document_s_counts(monkeypatch) -> None:
    counts = ranking.document_grams("服务等级协议约定服务可用性。" * 3 + "运维" * 70_000)
    blob = schema.gram_counts_bytes(counts)
    grams = [*counts, "缺席", "x"]
    got = schema.gram_counts(blob, np.array([schema.gram_key(g) for g in grams], dtype=np.uint32))
    assert got.tolist() == [min(counts[g], 0xFFFF) for g in counts] + [0, 0]
    assert counts["运"] > 0xFFFF  # capped, long past BM25's saturation
    assert schema.gram_length(blob) == sum(counts.values())  # not capped
    assert sorted(schema.gram_keys(blob).tolist()) == sorted(schema.gram_key(g) for g in counts)
    assert schema.gram_counts(b"", np.array([1, 2], dtype=np.uint32)).tolist() == [0, 0]
    assert schema.gram_length(b"") == 0 and not len(schema.gram_keys(b""))
    # Two of a document's grams with one key: the key counts both (never a lost or doubled row).
    monkeypatch.setattr(schema, "gram_key", lambda gram: 7 if gram in ("服务", "协议") else zlib.crc32(gram.encode()))
    blob = schema.gram_counts_bytes(counts)
    assert len(schema.gram_keys(blob)) == len(counts) - 1
    assert schema.gram_counts(blob, np.array([7], dtype=np.uint32)).tolist() == [counts["服务"] + counts["协议"]]


def test_cache_is_bounded() -> None:
    entry = 10 + fast._Cache.ENTRY_BYTES  # an entry counts its own overhead too
    cache = fast._Cache(3 * entry)
    for i in range(50):
        cache.put(i, i, 10)
    assert cache.size <= 3 * entry and cache.get(49) == 49 and cache.get(47) == 47 and cache.get(0) is None


def test_excluded_words_never_come_back(index: WhooshIndex) -> None:
    # Whoosh's own AndNot matcher let documents with 安全 through for this query.
    searcher = index._current_searcher()
    reader = searcher.reader()
    excluded = set(reader.postings("content", "安全".encode()).all_ids()) | set(
        reader.postings("title", "安全".encode()).all_ids()
    )
    for text in ["客户满意度 -安全 +type:report", "合同 NOT 安全", "服务 -安全"]:
        result = index.search(SearchRequest(text, per_page=100, all_versions=True))
        assert result.total > 0
        got = {searcher.document_number(version_id=str(h.version_id)) for h in result.hits}
        assert not got & excluded, text


def test_highlight_offsets_come_from_the_right_posting_block(tmp_path: Path) -> None:
    rng = random.Random(3)
    ix = WhooshIndex.open(tmp_path / "blocks")
    ix.clear()
    # 300 documents in one commit: 服务 is in every one, so its postings span three blocks of 128.
    ix.upsert(
        [
            IndexEntry(version_id=i, document_id=i, number=1, title="t", content="服务" + _text(rng))
            for i in range(1, 301)
        ]
    )
    ix.upsert(
        [
            IndexEntry(version_id=i, document_id=i, number=1, title="t", content="服务变更" + _text(rng))
            for i in range(1, 301, 9)
        ]
    )  # deletions in the big segment, and a second segment
    ix.mark_complete()
    searcher = ix._current_searcher()
    evaluator = fast.Evaluator()
    docnums = sorted(rng.sample(range(searcher.doc_count_all()), 80))
    for word in ["服务", "变更", "合同", "不存在"]:
        want: dict[int, list[tuple[int, int]]] = {}
        if ("content", word.encode()) in searcher.reader():
            m = searcher.reader().postings("content", word.encode())
            for d in docnums:
                if m.is_active() and m.id() < d:
                    m.skip_to(d)
                if m.is_active() and m.id() == d:
                    want[d] = [(s, e) for _, s, e in m.value_as("characters")]
        assert evaluator.characters(searcher, "content", word, docnums) == want, word
        assert evaluator.characters(searcher, "content", word, docnums) == want, word  # from the cached tables
    assert len(evaluator.characters(searcher, "content", "服务", docnums)) > 60


def test_date_order_through_the_array_path_is_whoosh_s(index: WhooshIndex) -> None:
    # Newest first, ties (a whole batch shares its created_at here) in Whoosh's order, with
    # filters, access lists and paging.
    searcher = index._current_searcher()
    rng = random.Random(3)
    for text, filters in [
        ("服务", {}),
        ("合同 续签", {}),
        ("运维 -巡检", {"doc_type": ["report"]}),
        ('"服务管理"', {}),
        ("客户满意度 OR 安全", {"all_versions": True}),
        ("不存在的词", {}),
    ]:
        allowed_ids = frozenset(rng.sample(range(1, 250), 80)) if "OR" in text else None
        query = _query(index, text, **({"filters": filters} if "doc_type" in filters else filters))
        assert fast.plan(query) is not None
        allowed = None if allowed_ids is None else _docnums_for(searcher, allowed_ids)
        for page in (1, 2):
            request = SearchRequest(
                text,
                sort="date",
                page=page,
                per_page=15,
                allowed_document_ids=allowed_ids,
                **({"filters": filters} if "doc_type" in filters else filters),
            )
            got = [h.version_id for h in index.search(request).hits]
            _, ranked, _ = index._collect(searcher, query, SortOrder.DATE, page * 15, allowed, float("inf"))
            want = [int(h["version_id"]) for h in ranked[(page - 1) * 15 : page * 15]]
            assert got == want, (text, page)


def test_empty_and_exclusion_only_queries_take_the_array_path(index: WhooshIndex) -> None:
    searcher = index._current_searcher()
    for text in ["-合同", "-合同 -续签"]:
        plan = fast.plan(_query(index, text))
        truth = _truth(searcher, plan.root) & set(plan.filter.docs(searcher))  # latest versions only
        result = index.search(SearchRequest(text, per_page=100, facets=False))
        assert result.total == len(truth) > 0
        assert not any("合同" in (searcher.stored_fields(d).get("content") or "") for d in truth)
    # No words at all: every latest document of the filter, newest first, as Whoosh orders them.
    builder = _QueryBuilder(index.tz)
    request = SearchRequest("", filters={"doc_type": ["sla"]}, per_page=30)
    query = wq.And([wq.Every(), wq.ConstantScoreQuery(wq.And(builder.filters(request)), score=0.0)])
    assert fast.plan(query) is not None
    docs, ranked, _ = index._collect(searcher, query, SortOrder.DATE, 30, None, float("inf"))
    result = index.search(request)
    assert result.total == len(docs) > 30
    assert [h.version_id for h in result.hits] == [int(h["version_id"]) for h in ranked]
