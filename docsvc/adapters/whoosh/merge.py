"""The merge policy of commits (:func:`_tiered_merge`): which segments a commit merges into one
(:func:`~docsvc.adapters.whoosh.write.merge_segments` writes the merged segment)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from docsvc.adapters.whoosh.write import merge_segments

MERGE_FACTOR = 8
# Merges happen inside a commit, under the write lock: a merge of 16,000 documents held back
# every upload for minutes and took a core from a serving machine. Bigger segments come only
# from optimize() (a quiet hour); searches read many segments well (fast.py caches per segment).
MAX_MERGED_DOCS = 4096


def _tiered_merge(writer: Any, segments: list[Any]) -> list[Any]:
    """Merge policy: when MERGE_FACTOR segments of about the same size (the same power of
    MERGE_FACTOR in documents) pile up, merge them into one, unless the result would pass
    MAX_MERGED_DOCS.

    Every document is then rewritten about log8(n) times and at most ~8 segments per size
    remain below the cap. Whoosh's MERGE_SMALL instead compares the total with a Fibonacci
    number and merged seventeen 500-document segments at once in the middle of a rebuild.
    """
    from whoosh.reading import SegmentReader

    tiers: dict[int, list[Any]] = defaultdict(list)
    for seg in segments:
        tiers[int(math.log(max(seg.doc_count_all(), 1), MERGE_FACTOR))].append(seg)
    for _, group in sorted(tiers.items()):
        if len(group) >= MERGE_FACTOR and sum(seg.doc_count_all() for seg in group) <= MAX_MERGED_DOCS:
            rest = [seg for seg in segments if seg not in group]
            if not any(seg.has_deletions() for seg in group):
                return rest + [merge_segments(writer, group)]
            for seg in group:  # deleted documents must be dropped: Whoosh's posting-by-posting merge
                reader = SegmentReader(writer.storage, writer.schema, seg)
                writer.add_reader(reader)
                reader.close()
            return rest
    return segments
