"""The old home of the Whoosh segment writer, kept for the codec its indexes pickled.

Whoosh pickles each segment's codec into the index's TOC by class path. Segments written before
the Whoosh code moved to :mod:`docsvc.adapters.whoosh` name ``DocsvcCodec`` here, so this module
re-exports it and nothing else (tests/whoosh/test_pickled_paths.py opens such an index).
"""

from docsvc.adapters.whoosh.write import DocsvcCodec

__all__ = ["DocsvcCodec"]
