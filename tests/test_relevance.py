"""Relevance: realistic Chinese documents and the queries people type, with the document(s)
that must rank first or in the top three. Guards the analyzer and the query builder against
silent regressions; the expectations were written from the documents, not tuned to one query.

Documents: ``tests/data/search/NN_*.md`` (the first line is the title); queries:
``tests/data/search/queries.json`` with ``first`` (rank 1), ``first_any`` (rank 1 is one of
these) and ``top3`` (each in the first three).

The plain-language questions over the same documents (``questions.json``) are part of the search
contract, run on every engine (tests/search_contract.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docsvc.adapters.whoosh import WhooshIndex
from docsvc.core.search import IndexEntry, SearchRequest

DATA = Path(__file__).parent / "data" / "search"
QUERIES = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))


def load_corpus() -> list[IndexEntry]:
    entries = []
    for path in sorted(DATA.glob("*.md")):
        key = path.name.split("_", 1)[0]
        body = path.read_text(encoding="utf-8")
        title = body.splitlines()[0].lstrip("# ").strip()
        entries.append(
            IndexEntry(
                version_id=int(key),
                document_id=int(key),
                number=1,
                title=title,
                content=body,
                original_filename=path.name,
            )
        )
    return entries


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> WhooshIndex:
    ix = WhooshIndex.open(tmp_path_factory.mktemp("relevance"))
    ix.clear()
    ix.upsert(load_corpus())
    ix.mark_complete()
    return ix


def test_corpus_shape() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 25
    assert all(300 <= len(e.content) <= 2000 for e in corpus), [(e.version_id, len(e.content)) for e in corpus]
    assert len(QUERIES) >= 30


@pytest.mark.parametrize("case", QUERIES, ids=[c["q"] for c in QUERIES])
def test_query_ranks_the_right_documents(index: WhooshIndex, case: dict) -> None:
    hits = index.search(SearchRequest(case["q"], per_page=10)).hits
    ranked = [f"{h.version_id:02d}" for h in hits]
    if "first" in case:
        assert ranked[:1] == [case["first"]], ranked
    if "first_any" in case:
        assert ranked[:1] and ranked[0] in case["first_any"], ranked
    for key in case.get("top3", []):
        assert key in ranked[:3], (key, ranked)
