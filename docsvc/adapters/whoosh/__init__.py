"""The full-text index over whoosh-reloaded (:class:`WhooshIndex`), quarantined: only this
package imports ``whoosh``. The rest of docsvc speaks the values and the ``SearchIndex``
protocol of :mod:`docsvc.core.search`; ``docsvc/app.py`` wires this index in
(tests/test_layers.py checks both).

- :mod:`.schema`: the analyzer's Whoosh face, the posting formats and the fields.
- :mod:`.query`: Whoosh queries from the query language's syntax tree.
- :mod:`.fast`: word searches evaluated as array operations.
- :mod:`.index`: :class:`WhooshIndex` (writing, streaming, reading, facets, snippets).
- :mod:`.write`: segments, the codec and the forked writer processes.
- :mod:`.merge`: which segments a commit merges.
"""

from docsvc.adapters.whoosh.index import WhooshIndex

__all__ = ["WhooshIndex"]
