"""The search-engine contract (tests/search_contract.py) on every engine: Whoosh in a folder,
and PostgreSQL full-text tables in a database of each test process's own (tests/pgpool.py),
emptied for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from docsvc.core.search import SearchIndex
from tests.conftest import require_rum
from tests.search_contract import TZ, SearchIndexContract

# (engine or variant, contract test) → why it fails it: marked xfail(strict=True) there only.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _fresh(index: SearchIndex) -> Iterator[SearchIndex]:
    """``index`` emptied and complete for one test, closed afterwards."""
    try:
        index.clear()
        index.mark_complete()
        yield index
    finally:
        index.close()


def _whoosh(tmp_path: Path) -> Iterator[SearchIndex]:
    from docsvc.adapters.whoosh import WhooshIndex

    yield from _fresh(WhooshIndex.open(tmp_path / "whoosh-index", lock_timeout=10.0, search_timeout=2.0, tz=TZ))


# What an empty index leaves behind: its search_state row (but the time and the gram count that
# every write may change) and its indexes' definitions.
_PG_STATE = sa.text(
    "SELECT to_jsonb(s) - 'written_at' - 'grams_docs' FROM search_state s UNION ALL "
    "SELECT to_jsonb(array_agg(indexdef ORDER BY indexdef)) FROM pg_indexes "
    "WHERE schemaname = 'public' AND tablename LIKE 'search%'"
)


def _contract_database(pg_databases: Any, word_index: Any) -> Iterator[tuple[sa.Engine, list[Any]]]:
    """One database for this process's PostgreSQL contract tests with ``word_index``, and the
    state of its empty, complete index: emptying the tables costs a hundredth of what clear()
    and mark_complete() cost (dropping and building nine word indexes, VACUUM), which every test
    would pay."""
    from docsvc.adapters.catalog import make_engine
    from docsvc.adapters.pg_search import PostgresIndex

    with pg_databases.lent() as url:
        engine = make_engine(url)
        try:
            if word_index == "rum":
                require_rum(engine)
            index = PostgresIndex.open(engine, search_timeout=2.0, tz=TZ, word_index=word_index)
            index.clear()
            index.mark_complete()
            with engine.connect() as conn:
                fresh = conn.execute(_PG_STATE).scalars().all()
            yield engine, fresh
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def pg_gin_database(pg_databases: Any) -> Iterator[tuple[sa.Engine, list[Any]]]:
    from docsvc.adapters.pg_search import WordIndex

    yield from _contract_database(pg_databases, WordIndex.GIN)


@pytest.fixture(scope="session")
def pg_rum_database(pg_databases: Any) -> Iterator[tuple[sa.Engine, list[Any]]]:
    from docsvc.adapters.pg_search import WordIndex

    yield from _contract_database(pg_databases, WordIndex.RUM)


def _postgres(request: pytest.FixtureRequest, word_index: str) -> Iterator[SearchIndex]:
    """The process's contract database with ``word_index``, emptied; made fresh again with
    clear() and mark_complete() when the test before left its index otherwise (incomplete, an
    index dropped, another schema or analyzer version)."""
    from docsvc.adapters.pg_search import PostgresIndex, WordIndex

    engine, fresh = request.getfixturevalue(f"pg_{word_index}_database")
    with engine.begin() as conn:
        as_left = conn.execute(_PG_STATE).scalars().all() == fresh
        if as_left:
            for table in ("search_passage", "search_entry", "search_gram", "search_word"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text("UPDATE search_state SET grams_docs = 0"))
    index = PostgresIndex.open(engine, search_timeout=2.0, tz=TZ, word_index=WordIndex(word_index))
    if not as_left:
        yield from _fresh(index)
        return
    try:
        yield index
    finally:
        index.close()


@pytest.fixture(
    params=[
        "whoosh",
        pytest.param("postgres-gin", marks=pytest.mark.postgres),
        # PostgreSQL with RUM indexes on the content (DOCSVC_SEARCH_PG_INDEX=rum): phrases matched and
        # matches ranked by the index.
        pytest.param("postgres-rum", marks=pytest.mark.postgres),
    ]
)
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    """A fresh, empty, complete index of each engine, opened in the contract's time zone."""
    engine = request.param.partition("-")[0]
    name = request.node.originalname
    reason = KNOWN_FAILURES.get((request.param, name)) or KNOWN_FAILURES.get((engine, name))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    if engine == "whoosh":
        yield from _whoosh(tmp_path)
    else:
        yield from _postgres(request, request.param.partition("-")[2])


class TestSearchContract(SearchIndexContract):
    """Every contract test, once per engine."""
