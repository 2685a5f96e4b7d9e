"""Full-text search in PostgreSQL: the engine for more than one machine (DOCSVC_SEARCH_BACKEND=postgres).

Every docsvc server and indexer on every machine reads and writes the same tables (migration
0005), so there is no index folder, no single writer and no shared file system: PostgreSQL's
own concurrency, replication and backups apply.

- ``search_entry``: one row per archived version with its metadata (filters, facets and hits
  are plain columns) and tsvectors under GIN indexes. The tsvectors hold docsvc's own analysis
  (:mod:`docsvc.core.text`: jieba words and their parts, identifiers whole and in parts),
  written as literals, so PostgreSQL never re-analyses: a query word is the same lexeme the
  Whoosh engine would look up. A position is the token's *compact offset* plus one, so a
  phrase is ``w1 <d1> w2 <d2> w3`` with the words' distances in the query, whichever way jieba
  cut the document around them.
- ``search_passage``: PostgreSQL keeps positions up to 16,383 and at most 256 per word. A
  document past either limit also gets overlapping passages, positions counted from each
  passage's start, in which phrases are matched; words are matched in the entry as usual.
- ``search_state``: schema and analyzer version, whether a rebuild finished, its cursor, and
  the word indexes a rebuild dropped while it writes, built again when it completes.
- The word indexes are GIN, or, for the content's words and bigrams (where phrases are
  matched), RUM when DOCSVC_SEARCH_PG_INDEX=rum: RUM keeps the words' positions, so the index
  matches a phrase instead of each row's tsvector being read (a rebuild builds the kind the
  settings name; a search uses what is built).
- ``tier_tsv`` (migration 0028): each word a version says at least twice, as one lexeme naming
  its count's tier (2, 3, 4, 6, 8 … 64: ``'8|巡检'``), under a GIN index. A query of one word
  matches thousands of documents that tie on idf; half of its candidates for ranking are the
  matches in the word's highest tiers (with RUM, the index's own ranking), so the documents that
  say it most are ranked, whenever they were archived. Versions indexed before 0028 have none
  until the next rebuild.
- ``search_gram``: how many documents have each character and character bigram, for the
  idf of the question's grams (:mod:`docsvc.core.ranking`); counted when a rebuild completes
  and again as the index grows, in a sample past 10,000 documents.
- ``search_word``: how many documents have each word that at least one in a hundred has, counted
  with the grams (migration 0027): which words of a long question are the rarest, and which
  only rank (:func:`docsvc.core.ranking.common_words`).

Ranking is BM25F as the Whoosh engine computes it (k1 1.2, b 0.75, the title boosted, Whoosh's
idf and its coordination bonus for documents matching more of the words). Matching, totals and
facets come from the GIN indexes and the metadata columns; the term frequencies of the best
candidates are read from their tsvectors (``setweight``/``ts_filter`` keep just the query's
words, in C), which also gives the highlights' positions without analysing a hit again.
"""

from docsvc.adapters.pg_search.index import SCHEMA_VERSION, PostgresIndex, WordIndex

__all__ = ["PostgresIndex", "SCHEMA_VERSION", "WordIndex"]
