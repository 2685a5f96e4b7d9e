"""The old home of the Whoosh index, kept for the classes its indexes pickled.

Whoosh pickles the schema (its analyzer and posting formats) and each segment's codec into the
index's TOC by class path. Indexes written before the Whoosh code moved to
:mod:`docsvc.adapters.whoosh` name these classes here, so this module re-exports them and
nothing else (tests/whoosh/test_pickled_paths.py opens such an index).
"""

from docsvc.adapters.whoosh.schema import ZhCharacters, ZhPositions, ZhTokenizer
from docsvc.adapters.whoosh.write import DocsvcCodec

__all__ = ["DocsvcCodec", "ZhCharacters", "ZhPositions", "ZhTokenizer"]
