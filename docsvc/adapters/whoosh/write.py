"""Writing the Whoosh index fast enough: segments, merges, the codec and the writer processes.

Whoosh's writer handles every posting in Python several times over (a token object, a sorting
pool, a posting writer, a term-info object; a merge decodes and re-encodes all of them). The
classes here keep Whoosh's file formats byte for byte (tests/whoosh/test_index.py compares
the files) and do the same work per term or per block instead:

- :class:`DocsvcCodec`: Whoosh's W3 codec with posting inlining repaired and a field writer
  (:class:`TermWritingFieldWriter`) that writes each term's postings in one pass.
- :class:`DocsvcSegmentWriter`: Whoosh's segment writer that groups postings by term as they
  arrive (:class:`TermPool`) instead of sorting one tuple per posting.
- :func:`write_segments`: a batch as one segment per forked process (a rebuild, a sync).
- :class:`SegmentStreams`: documents streamed to forked processes as they arrive (an import).
- :func:`merge_segments`: segments merged a posting block at a time.

Segments record their codec by class path: DocsvcCodec must stay importable here (and from
``docsvc.adapters.whoosh_write`` and ``docsvc.adapters.whoosh_index``, which re-export it for
the indexes written before this package and before the write module existed).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import heapq
import io
import itertools
import math
import pickle
import struct
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import index as windex
from whoosh import writing
from whoosh.codec import whoosh3
from whoosh.filedb import filetables
from whoosh.filedb.filestore import FileStorage
from whoosh.util.numeric import length_to_byte

from docsvc.core import workers
from docsvc.errors import Unavailable

INLINE_POSTINGS = 4  # posting lists this short live in the term table (see DocsvcCodec)
# A posting block's pickle is compressed from this size up. zlib takes ~20 us a block whatever
# its level, a tenth of writing a segment, and most blocks of a fresh segment are a few hundred
# bytes; leaving those as they are makes the postings file ~15 % larger (the index ~3 %).
# Whoosh meant the same below 20 bytes but overwrites the level it has just cleared; its
# reader takes the level from each block's header.
COMPRESS_MIN = 512
_INT = struct.Struct("!i")  # StructFile.write_int
TERM_INFO = struct.Struct("!BfIBBfII")  # W3TermInfo._struct: a term table record's fixed head
_RECORD = struct.Struct("!ii")  # filetables._lengths: a term-table record's key and value sizes
WRITER_NICENESS = 5  # see _writer_process


class _InliningPostingsWriter(whoosh3.W3PostingsWriter):
    """Whoosh's posting writer with inlining repaired and short blocks left uncompressed (see
    COMPRESS_MIN). Its ``finish_postings`` calls a misspelt ``terminfo.set_inline`` (and its
    reader trips over value-less inlined postings), so W3Codec ships with ``inlinelimit=1``,
    which never inlines. :class:`TermWritingFieldWriter` writes what this writes; this one is
    kept for anything that still goes posting by posting, and as the reference the tests
    compare with."""

    def finish_postings(self) -> Any:
        if self.written() or len(self) > self._inlinelimit:
            return super().finish_postings()
        terminfo = self._terminfo
        terminfo.add_block(self)
        # A format without values (ID, BOOLEAN) leaves _values empty; Whoosh's ListMatcher then
        # answers "" (a str) for the value and a merge of the segment trips over it: b"" each.
        terminfo.set_inlined(self._ids, self._weights, self._values or [b""] * len(self._ids))
        self._terminfo = None
        return terminfo

    def _write_block(self, last: bool = False) -> None:
        # A block whose pickle is under COMPRESS_MIN is written uncompressed (what Whoosh meant).
        level = self._compression
        data = pickle.dumps((self._mini_ids(), self._mini_weights(), self._mini_values()), 2)
        if len(data) < COMPRESS_MIN:
            self._compression = 0
        try:
            super()._write_block(last)
        finally:
            self._compression = level


def _md5_hash(key: bytes) -> int:
    """filetables.md5_hash (the low 32 bits of the MD5 digest) without the hex round trip."""
    return int.from_bytes(hashlib.md5(key, usedforsecurity=False).digest()[12:], "big")


class _TermTable(filetables.OrderedHashWriter):
    """Whoosh's term table (an ordered CDB-style hash file), written the same, byte for byte,
    with less work and memory per term: each record in one write at a position kept here
    (``tell()`` is a system call), the hash slots kept in two arrays per table instead of a
    tuple per term (150 MB for a 2,000-document segment's terms), and each of the 256 hash
    tables packed at once instead of a slot at a time."""

    def __init__(self, dbfile: Any) -> None:
        super().__init__(dbfile)
        self._pos = dbfile.tell()  # where the next record goes
        self._hashes = [array("I") for _ in range(256)]
        self._positions = [array("q") for _ in range(256)]

    def add(self, key: bytes, value: bytes) -> None:
        if key <= self.lastkey:
            raise ValueError(f"Keys must increase: {self.lastkey!r}..{key!r}")
        pos = self._pos
        self.index.append(pos)
        self.dbfile.write(_RECORD.pack(len(key), len(value)) + key + value)
        h = _md5_hash(key)
        self._hashes[h & 255].append(h)
        self._positions[h & 255].append(pos)
        self.lastkey = key
        self._pos = pos + _RECORD.size + len(key) + len(value)

    def _write_hashes(self) -> None:
        dbfile = self.dbfile
        for bucket_hashes, bucket_positions in zip(self._hashes, self._positions):
            numslots = 2 * len(bucket_hashes)
            self.directory.append((dbfile.tell(), numslots))
            hashes, positions = [0] * numslots, [0] * numslots
            for hashval, position in zip(bucket_hashes, bucket_positions):
                slot = (hashval >> 8) % numslots
                while positions[slot]:  # taken (no key sits at position 0: the header is there)
                    slot = (slot + 1) % numslots
                hashes[slot], positions[slot] = hashval, position
            flat = [x for pair in zip(hashes, positions) for x in pair]
            dbfile.write(struct.pack("!" + "Iq" * numslots, *flat))


class TermWritingFieldWriter(whoosh3.W3FieldWriter):
    """W3FieldWriter that writes each term's postings in one pass (:meth:`add_terms` from a
    :class:`TermPool`, :meth:`merge_terms` from segments): the same bytes as
    :class:`_InliningPostingsWriter` (a test compares the files), without its per-posting
    method calls, type assertions and field-length look-ups. Flushes and merges both come
    here: this was half of indexing a document."""

    def __init__(self, codec: Any, storage: Any, segment: Any) -> None:
        # W3FieldWriter.__init__ with the term table as a _TermTable.
        self._codec, self._storage, self._segment = codec, storage, segment
        self._fieldname = self._fieldid = self._btext = self._fieldobj = self._format = None
        self._tindex = _TermTable(self._create_file(whoosh3.W3Codec.TERMS_EXT))
        self._fieldmap = self._tindex.extras["fieldmap"] = {}
        self._postfile = self._create_file(whoosh3.W3Codec.POSTS_EXT)
        self._postwriter = None
        self._infield = False
        self.is_closed = False

    def add_terms(self, schema: Any, lengths: Any, terms: Iterable[tuple[str, bytes, list]], doc_count: int) -> None:
        """Write ``terms`` (:meth:`TermPool.terms`) of a segment of ``doc_count`` documents."""
        term = self._term_writer()
        field = None
        field_lengths: list[int] = []
        for fieldname, btext, postings in terms:
            if fieldname != field:
                self._next_field(term, schema, fieldname, field)
                field = fieldname
                field_lengths = (
                    [lengths.doc_field_length(d, fieldname) for d in range(doc_count)] if lengths else [0] * doc_count
                )
            if len(postings) == 3:  # one posting: most terms of a segment (names, numbers, rare words)
                docnum, weight, value = postings
                term.write_one(btext, docnum, weight, value, field_lengths[docnum])
            else:
                ids = postings[0::3]
                term.write(
                    btext, ids, postings[1::3], [v for v in postings[2::3] if v], [field_lengths[d] for d in ids]
                )
        if field is not None:
            self.finish_field()

    def merge_terms(self, schema: Any, sources: list[tuple[Any, int]]) -> None:
        """Write the union of the terms of segment readers ``sources`` ((reader, number of its
        first document in the new segment)), each term's postings in source order (see
        merge_segments)."""
        term = self._term_writer()
        streams = [_numbered_terms(n, reader) for n, (reader, _) in enumerate(sources)]
        lengths: dict[tuple[int, str], list[int]] = {}  # (source, field) → length per document
        field = None
        for (fieldname, btext), group in itertools.groupby(heapq.merge(*streams, key=_term_key), key=_term_key):
            if fieldname != field:
                self._next_field(term, schema, fieldname, field)
                field = fieldname
                fixedsize = self._format.fixed_value_size()
            ids: list[int] = []
            weights: list[float] = []
            values: list[bytes] = []
            lens: list[int] = []
            for _, n, info in group:
                reader, base = sources[n]
                doc_lengths = lengths.get((n, fieldname))
                if doc_lengths is None:
                    doc_lengths = lengths[(n, fieldname)] = [
                        reader.doc_field_length(d, fieldname) for d in range(reader.doc_count_all())
                    ]
                for block_ids, block_weights, block_values in _posting_blocks(reader, info, fixedsize):
                    ids.extend([base + d for d in block_ids])
                    lens.extend([doc_lengths[d] for d in block_ids])
                    weights.extend(block_weights)
                    values.extend([v for v in block_values if v])
            term.write(btext, ids, weights, values, lens)
        if field is not None:
            self.finish_field()

    def _term_writer(self) -> _TermWriter:
        codec = self._codec
        return _TermWriter(self._postfile, self._tindex, codec._blocklimit, codec._inlinelimit, codec._compression)

    def _next_field(self, term: _TermWriter, schema: Any, fieldname: str, previous: str | None) -> None:
        if previous is not None:
            self.finish_field()
        self.start_field(fieldname, schema[fieldname])
        term.start_field(self._fieldid, self._format)


_READ_CHUNK = 1 << 20  # bytes of a term table read at once in a merge (a posting list is read whole)


def _numbered_terms(n: int, reader: Any) -> Iterator[tuple[tuple[str, bytes], int, bytes]]:
    """((field, term), n, term info bytes) for each term of a segment, in order: the term
    table read a megabyte at a time (Whoosh's reader seeks and reads three times per term, a
    third of a merge)."""
    terms = reader._terms
    tindex, fields = terms._tindex, terms._fieldunmap
    dbfile, pos, end = tindex.dbfile, tindex.startofdata, tindex.endofdata
    while pos < end:
        chunk = dbfile.get(pos, min(_READ_CHUNK, end - pos))
        off, size = 0, len(chunk)
        while off + _RECORD.size <= size:
            keylen, vallen = _RECORD.unpack_from(chunk, off)
            key = off + _RECORD.size
            stop = key + keylen + vallen
            if stop > size:
                break
            yield (
                (fields[int.from_bytes(chunk[key : key + 2], "big")], chunk[key + 2 : key + keylen]),
                n,
                chunk[key + keylen : stop],
            )
            off = stop
        if off == 0:  # a record bigger than a chunk: read it whole
            keylen, vallen = _RECORD.unpack(dbfile.get(pos, _RECORD.size))
            record = dbfile.get(pos + _RECORD.size, keylen + vallen)
            yield (fields[int.from_bytes(record[:2], "big")], record[2:keylen]), n, record[keylen:]
            off = _RECORD.size + keylen + vallen
        pos += off


def _term_key(item: tuple) -> tuple[str, bytes]:
    return item[0]


def _posting_blocks(reader: Any, info: bytes, fixedsize: int | None) -> Iterator[tuple[Any, Any, Any]]:
    """(docnums, weights, values) of a term in a segment from its term info bytes, a block at a
    time: inlined postings from the term table, else the posting list read in one go and each
    block decoded as W3LeafMatcher decodes it (without a matcher object per term)."""
    if info[0]:  # inlined
        yield pickle.loads(info[TERM_INFO.size :])
        return
    for count, deltas, weights, values in posting_list_blocks(reader._terms._postfile, info):
        if weights is None:
            weights = (1.0,) * count
        elif isinstance(weights, float):
            weights = (weights,) * count
        if fixedsize == 0:
            values = (None,) * count
        elif fixedsize is not None and fixedsize > 0:
            values = tuple(values[i : i + fixedsize] for i in range(0, len(values), fixedsize))
        yield tuple(itertools.accumulate(deltas)), weights, values


def posting_list_blocks(postfile: Any, info: bytes) -> Iterator[tuple[int, Any, Any, Any]]:
    """(count, docnums, weights, values) of each block of a term's posting list (not inlined:
    ``info[0]`` is false), read in one go, as the blocks hold them: docnums as deltas from the
    previous (the first absolute), weights None when all are 1.0 or one float when all are the
    same, values as the format packs them."""
    _, data = _posting_list(postfile, info)
    for count, _last, start, end, compressed in _blocks(data):
        deltas, weights, values = decode_block(data[start:end], compressed)
        yield count, deltas, weights, values


def posting_list_index(postfile: Any, info: bytes) -> tuple[list[int], list[tuple[int, int, bool]]]:
    """The last docnum of each block of a term's posting list (not inlined), and where each
    block's body is in the postings file: (position, length, compressed), for
    :func:`decode_block`. Read at once from the list's bytes, not block header by block header."""
    offset, data = _posting_list(postfile, info)
    last, where = [], []
    for _count, maxid, start, end, compressed in _blocks(data):
        last.append(maxid)
        where.append((offset + start, end - start, compressed))
    return last, where


def decode_block(body: bytes, compressed: bool) -> tuple[Any, Any, Any]:
    """(docnum deltas, weights, values) of one block's body, as posting_list_blocks gives them."""
    return pickle.loads(zlib.decompress(body) if compressed else body)


def _posting_list(postfile: Any, info: bytes) -> tuple[int, bytes]:
    offset, length = struct.unpack_from("!qi", info, TERM_INFO.size)
    data = postfile.get(offset, length)
    if data[:4] != whoosh3.WHOOSH3_HEADER_MAGIC:
        raise ValueError(f"no posting list at {offset}")
    return offset, data


def _blocks(data: bytes) -> Iterator[tuple[int, int, int, int, bool]]:
    """(count, last docnum, start, end, compressed) of each block in a posting list's bytes."""
    stream = io.BytesIO(data)
    pos = 4
    while pos < len(data):
        size = _INT.unpack_from(data, pos)[0]
        stream.seek(pos + 4)
        count, maxid, _maxweight, compression, _minlen, _maxlen = pickle.load(stream)
        yield count, maxid, stream.tell(), pos + 4 + abs(size), bool(compression)
        if size < 0:  # the last block
            return
        pos += 4 + size


class _TermWriter:
    """Writes one term's postings as W3PostingsWriter and W3TermInfo.to_bytes do: inlined into
    the term table when there are at most ``inlinelimit`` (see _InliningPostingsWriter), else
    blocks of ``blocklimit`` pickled, zlib-compressed postings in the postings file."""

    _info = TERM_INFO

    def __init__(self, postfile: Any, tindex: Any, blocklimit: int, inlinelimit: int, compression: int) -> None:
        self.postfile, self.tindex = postfile, tindex
        self.blocklimit, self.inlinelimit, self.compression = blocklimit, inlinelimit, compression
        self.key_prefix = b""
        self.fixedsize: int | None = None
        self._ppos = postfile.tell()  # where the next posting list goes (tell() is a system call)

    def start_field(self, fieldid: int, format_: Any) -> None:
        self.key_prefix = whoosh3.pack_ushort(fieldid)
        self.fixedsize = format_.fixed_value_size()

    def write_one(self, btext: bytes, docnum: int, w: float, value: bytes, length: int) -> None:
        """:meth:`write` for a term with one posting."""
        w32 = w if w.is_integer() and abs(w) < 2**24 else array("f", (w,))[0]
        lb = length_to_byte(length) if length else 0
        info = self._info.pack(True, w32, 1, lb, lb, max(w, 0), docnum, docnum)
        self._add_term(btext, info + pickle.dumps(((docnum,), (w32,), (value or b"",)), 2))

    def write(self, btext: bytes, ids: list[int], weights: list[float], values: list[bytes], lens: list[int]) -> None:
        n = len(ids)
        if n == 1:
            self.write_one(btext, ids[0], weights[0], values[0] if values else b"", lens[0])
            return
        w32s = array("f", weights)  # W3 keeps weights as 32-bit floats; sums and ties follow
        present = [x for x in lens if x]
        minlen = min(present) if present else None
        maxlen = max(present) if present else 0
        maxweight = max(max(weights), 0)
        if n <= self.inlinelimit:
            total = sum(w32s)
            tail = pickle.dumps((tuple(ids), tuple(w32s), tuple(values or [b""] * n)), 2)
            inlined = True
        else:
            total, start, size = self._write_blocks(ids, weights, w32s, values, lens)
            tail = whoosh3.pack_long(start) + whoosh3.pack_int(size)
            inlined = False
        info = self._info.pack(
            inlined,
            total,
            n,
            0 if minlen is None else length_to_byte(minlen),
            length_to_byte(maxlen),
            maxweight,
            ids[0],
            ids[-1],
        )
        self._add_term(btext, info + tail)

    def _add_term(self, btext: bytes, value: bytes) -> None:
        self.tindex.add(self.key_prefix + btext, value)

    def _write_blocks(
        self, ids: list[int], weights: list[float], w32: array, values: list[bytes], lens: list[int]
    ) -> tuple[float, int, int]:
        limit, comp = self.blocklimit, self.compression
        parts = [whoosh3.WHOOSH3_HEADER_MAGIC]
        total = 0.0
        for lo in range(0, len(ids), limit):
            hi = lo + limit
            bids, bw = ids[lo:hi], w32[lo:hi]
            present = [x for x in lens[lo:hi] if x]
            total += sum(bw)
            if all(w == 1.0 for w in bw):
                mini_w: Any = None
            elif all(w == bw[0] for w in bw):
                mini_w = bw[0]
            else:
                mini_w = tuple(bw)
            bv = values[lo:hi]
            if self.fixedsize is None or self.fixedsize < 0:
                mini_v: Any = tuple(bv)
            else:
                mini_v = None if self.fixedsize == 0 else b"".join(bv)
            deltas = [bids[0]] + [b - a for a, b in zip(bids, bids[1:])]
            data = pickle.dumps((tuple(deltas), mini_w, mini_v), 2)
            level = comp if len(data) >= COMPRESS_MIN else 0
            if level:
                data = zlib.compress(data, level)
            info = pickle.dumps(
                (
                    len(bids),
                    bids[-1],
                    max(max(weights[lo:hi]), 0),
                    level,
                    length_to_byte(min(present) if present else None),
                    length_to_byte(max(present) if present else 0),
                ),
                2,
            )
            size = len(info) + len(data)
            parts += (_INT.pack(-size if hi >= len(ids) else size), info, data)
        block = b"".join(parts)
        start = self._ppos
        self.postfile.write(block)
        self._ppos += len(block)
        return total, start, len(block)


class TermPool:
    """The postings of the segment being written, grouped by field and term as they arrive.

    Whoosh's PostingPool keeps one tuple per posting and sorts them all when the segment is
    flushed (a quarter of writing a segment went to that sort and the per-posting loop after
    it). Here each term's postings go straight onto its own list, flat
    ``[docnum, weight, value, docnum, …]``; documents come in docnum order, so every list is
    already sorted and only the terms are sorted at the flush. Past ``limitmb`` the pool spills
    its terms, sorted, to a run file, and the flush merges the runs term by term (a rebuild
    chunk is bigger than memory should hold).
    """

    CHUNK = 4096  # terms per pickle call in a run file
    # Estimated bytes held per new term (dict slot, key, list) and per posting (three list
    # slots, a value, a weight): the spill threshold's accounting, measured with tracemalloc.
    TERM_BYTES = 180
    POSTING_BYTES = 90

    def __init__(self, tempstore: Any, segment: Any, limitmb: int = 128) -> None:
        self._tempstore = tempstore
        self._prefix = f"{segment.segment_id()}_" if segment is not None else ""
        self.limit = limitmb * 1024 * 1024
        self.size = 0
        self.fields: dict[str, dict[bytes, list]] = {}
        self.runs: list[str] = []

    def add(self, item: tuple) -> None:
        """Whoosh's interface, one posting ``(field, term, docnum, weight, value)`` at a time
        (a merge of segments with deletions comes this way)."""
        fieldname, btext, docnum, weight, value = item
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        postings = terms.get(btext)
        if postings is None:
            terms[btext] = [docnum, weight, value]
            self.size += self.TERM_BYTES + len(btext) + len(value or b"")
        else:
            postings += (docnum, weight, value)
            self.size += self.POSTING_BYTES + len(value or b"")
        if self.size > self.limit:
            self.save()

    def add_field(self, fieldname: str, docnum: int, items: Iterable[tuple], boost: float) -> int:
        """One document's ``(term, frequency, weight, value)`` items of a field; returns the
        sum of the frequencies (the field's length in the document)."""
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        length = size = 0
        new, more = self.TERM_BYTES, self.POSTING_BYTES
        for btext, freq, weight, value in items:
            if boost != 1.0:
                weight *= boost
            length += freq
            postings = terms.get(btext)
            if postings is None:
                terms[btext] = [docnum, weight, value]
                size += new + len(btext) + len(value)
            else:
                postings += (docnum, weight, value)
                size += more + len(value)
        self.size += size
        if self.size > self.limit:
            self.save()
        return length

    def save(self) -> None:
        """Spill the terms held in memory to a new run file, in order."""
        path = f"{self._prefix}{len(self.runs)}.terms"
        with self._tempstore.create_file(path).raw_file() as f:
            chunk: list[tuple] = []
            for item in self._sorted():
                chunk.append(item)
                if len(chunk) == self.CHUNK:
                    pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
                    chunk = []
            if chunk:
                pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
        self.runs.append(path)
        self.fields = {}
        self.size = 0

    def terms(self) -> Iterator[tuple[str, bytes, list]]:
        """``(field, term, [docnum, weight, value, …])`` in field and term order, the runs
        merged: a term's postings from each run in turn, so docnums stay in order."""
        if not self.runs:
            yield from self._sorted()
            return
        streams = [self._read_run(path) for path in self.runs] + [self._sorted()]
        for (fieldname, btext), group in itertools.groupby(heapq.merge(*streams, key=_field_term), key=_field_term):
            postings: list = []
            for _, _, more in group:
                postings += more
            yield fieldname, btext, postings

    def _sorted(self) -> Iterator[tuple[str, bytes, list]]:
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for btext in sorted(terms):
                yield fieldname, btext, terms[btext]

    def _read_run(self, path: str) -> Iterator[tuple[str, bytes, list]]:
        with self._tempstore.open_file(path).raw_file() as f:
            while True:
                try:
                    chunk = pickle.load(f)
                except EOFError:
                    break
                yield from chunk
        self._tempstore.delete_file(path)

    def cleanup(self) -> None:
        for path in self.runs:
            try:
                self._tempstore.delete_file(path)
            except OSError:
                pass


def _field_term(item: tuple) -> tuple[str, bytes]:
    return item[0], item[1]


class DocsvcSegmentWriter(writing.SegmentWriter):
    """Whoosh's segment writer with :class:`TermPool`: a document's terms go to the pool a
    field at a time, and the flush hands the field writer whole posting lists."""

    def __init__(self, ix: Any, *, limitmb: int = 128, **kwargs: Any) -> None:
        super().__init__(ix, limitmb=limitmb, **kwargs)
        self.pool = TermPool(self._tempstorage, self.newsegment, limitmb=limitmb)
        # The fields add_document handles itself: no spelling words, no term vectors (Whoosh's
        # own add_document, the fallback, writes those).
        self._plain = not any(f.separate_spelling() or f.vector for _, f in self.schema.items())

    def add_document(self, **fields: Any) -> None:
        """Whoosh's add_document for a schema without spelling words or term vectors, each
        field's terms added to the pool in one call."""
        if not self._plain:
            return super().add_document(**fields)
        self._check_state()
        perdocwriter, schema, docnum, pool = self.perdocwriter, self.schema, self.docnum, self.pool
        docboost = self._doc_boost(fields)
        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields.get(fieldname)
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    length = pool.add_field(
                        fieldname, docnum, field.index(value), self._field_boost(fields, fieldname, docboost)
                    )
                    if not field.scorable:
                        length = 0
                stored = fields.get(f"_stored_{fieldname}", value)
                perdocwriter.add_field(fieldname, field, stored if field.stored else None, length)
                if field.column_type and stored is not None:
                    perdocwriter.add_column_value(fieldname, field.column_type, field.to_column_value(stored))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = self.per_document_reader() if self.codec.length_stats else None
        self.fieldwriter.add_terms(self.schema, lengths, self.pool.terms(), self.docnum)
        self.fieldwriter.close()
        if lengths:
            lengths.close()


def _writer_process() -> None:
    """Set up a forked writer process.

    No cyclic garbage collection: a segment's pool holds a list per term, millions of
    containers that each collection walked again (a third of the writer's time at 1,000
    documents); writing makes almost no cycles (a few dozen objects per segment), and the
    process ends when its segments are written.

    A lower priority: when the cores are short, the process that feeds the writers (archiving
    an import, reading a rebuild's text) and the server's requests go first, and the writers
    catch up from what is queued; the work gets done either way.
    """
    gc.disable()
    workers.give_way(WRITER_NICENESS)


def write_segments(path: Path, indexname: str, docs: list[dict[str, Any]], procs: int, limitmb: int) -> list[Any]:
    """Write ``docs`` as ``procs`` new segments, one per forked process, in order; the caller
    holds the write lock and adds the segments to its commit. The processes inherit their
    documents from the fork rather than receive them pickled (a rebuild chunk is tens of MB).
    Whoosh's MpWriter instead fed job files of 100 documents, which left one process idle
    while the other still had a job."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    size = math.ceil(len(docs) / procs)
    jobs = []
    for lo in range(0, len(docs), size):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_write_segment, args=(str(path), indexname, docs[lo : lo + size], limitmb, send), daemon=True
        )
        proc.start()
        send.close()
        jobs.append((proc, receive))
    segments, failures = [], []
    for proc, receive in jobs:
        try:
            ok, value = receive.recv()
        except EOFError:  # the process died without a word (killed, out of memory)
            ok, value = False, "the writer process ended unexpectedly"
        proc.join()
        (segments if ok else failures).append(value)
    if failures:
        raise Unavailable(
            "写入搜索索引失败，稍后会重试。", f"Writing the search index failed ({failures[0]}); it will be retried."
        )
    return segments


def _write_segment(path: str, indexname: str, docs: list[dict[str, Any]], limitmb: int, send: Any) -> None:
    """In a forked process: write ``docs`` as one segment and send it back (or the error)."""
    _writer_process()
    try:
        ix = FileStorage(path, supports_mmap=False).open_index(indexname)
        # _lk=False: the parent holds the lock. Never _finish()ed: that would remove the
        # temporary folder the parent's writer shares.
        writer = DocsvcSegmentWriter(ix, _lk=False, codec=DocsvcCodec(), limitmb=limitmb)
        for doc in docs:
            writer.add_document(**doc)
        send.send((True, writer._finalize_segment()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        send.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


@dataclass(frozen=True)
class StagedSegment:
    """A segment a stream writer finished, still in its staging folder, with the keys of its
    documents in the order they were added."""

    segment: Any
    folder: Path
    keys: tuple[Any, ...]

    def files(self) -> list[Path]:
        prefix = f"{self.segment.segment_id()}."  # as Whoosh's Segment.list_files
        return sorted(p for p in self.folder.iterdir() if p.name.startswith(prefix))


@dataclass
class _StreamWorker:
    process: Any
    docs: Any  # the connection documents are sent on
    results: Any  # the connection finished segments come back on
    folder: Path
    keys: list[Any] = field(default_factory=list)  # sent, not yet in a finished segment
    done: bool = False


class SegmentStreams:
    """Documents streamed to ``procs`` forked writer processes as they arrive, each adding them
    to a segment of its own in a staging folder and handing it back every ``segment_docs``
    documents and at the end (:class:`StagedSegment`); the caller moves it into the index and
    commits it.

    For a bulk import, where documents arrive one by one: a batch had to fill before its
    writers could start, and small segments cost their writing again when merged. Documents go
    round robin, so the writers keep pace with each other; a full pipe holds the sender back.
    Staging folders keep a writer's files away from other processes' commits, which delete
    segment files that their table of contents does not name.

    A writer that fails (raises, or dies) ends the stream: :attr:`failed` says why, documents
    not yet in a finished segment are not indexed by it (the caller leaves them queued).
    """

    def __init__(
        self, staging: Path, indexname: str, schema: Any, *, procs: int, segment_docs: int, limitmb: int
    ) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.staging = staging
        self.indexname = indexname
        self.failed = ""
        self._workers: list[_StreamWorker] = []
        self._turn = 0
        for k in range(procs):
            folder = staging / f"writer{k}"
            folder.mkdir(parents=True)
            docs_in, docs_out = ctx.Pipe(duplex=False)
            results_in, results_out = ctx.Pipe(duplex=False)
            # The parent's ends, this writer's and the earlier ones', are closed in the child:
            # a writer holding a copy of a pipe's sending end would never see it close.
            parents = [docs_out, results_in, *(c for w in self._workers for c in (w.docs, w.results))]
            proc = ctx.Process(
                target=_stream_segments,
                daemon=True,
                args=(str(folder), indexname, schema, docs_in, results_out, segment_docs, limitmb, parents),
            )
            proc.start()
            docs_in.close()
            results_out.close()
            _widen_pipe(docs_out)
            self._workers.append(_StreamWorker(proc, docs_out, results_in, folder))

    def add(self, key: Any, doc: dict[str, Any]) -> list[StagedSegment]:
        """Send ``doc`` to the next writer; returns the segments finished meanwhile."""
        if self.failed:
            return []
        worker = self._workers[self._turn]
        self._turn = (self._turn + 1) % len(self._workers)
        try:
            worker.docs.send(doc)
        except OSError as exc:  # the writer is gone (BrokenPipeError)
            self.stop(f"a writer process ended unexpectedly ({exc})")
            return []
        worker.keys.append(key)
        return self.ready()

    def ready(self) -> list[StagedSegment]:
        """The segments finished so far, without waiting."""
        out: list[StagedSegment] = []
        for worker in self._workers:
            while not self.failed and not worker.done and worker.results.poll():
                out += self._receive(worker)
        return out

    def finish(self) -> list[StagedSegment]:
        """Have every writer finish its segment; returns the segments not returned before."""
        out = self.ready()
        for worker in self._workers:
            if not self.failed and not worker.done:
                try:
                    worker.docs.send(None)
                except OSError as exc:
                    self.stop(f"a writer process ended unexpectedly ({exc})")
        for worker in self._workers:
            while not self.failed and not worker.done:
                out += self._receive(worker)
        self.close()
        return out

    def close(self) -> None:
        """Stop the writers (the staging folder is the caller's to remove)."""
        for worker in self._workers:
            worker.docs.close()
            worker.process.join(timeout=0 if self.failed else 30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.results.close()

    def _receive(self, worker: _StreamWorker) -> list[StagedSegment]:
        try:
            kind, value = worker.results.recv()
        except (EOFError, OSError):  # died without a word (killed, out of memory)
            kind, value = "error", "a writer process ended unexpectedly"
        if kind == "error":
            self.stop(value)
            return []
        if kind == "done":
            worker.done = True
            return []
        segment, count = value
        keys, worker.keys = worker.keys[:count], worker.keys[count:]
        return [StagedSegment(segment, worker.folder, tuple(keys))]

    def stop(self, reason: str) -> None:
        """End the stream: :attr:`failed` says why; the writers are stopped."""
        self.failed = reason
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.kill()


def _widen_pipe(conn: Any) -> None:
    """Let a pipe hold ~80 documents instead of ~5: a writer then has work queued while the
    sender waits on a disk flush, and the sender goes on while both writers are busy."""
    with contextlib.suppress(OSError, AttributeError):  # Linux only; capped by fs.pipe-max-size
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)


def _stream_segments(
    folder: str,
    indexname: str,
    schema: Any,
    docs: Any,
    results: Any,
    segment_docs: int,
    limitmb: int,
    parents: list[Any],
) -> None:
    """In a forked writer process: add the documents that arrive to a segment, send it back
    every ``segment_docs`` documents and when None arrives, then "done" (or the error). The
    parent's death closes ``docs``: the writer then stops."""
    for conn in parents:
        conn.close()
    _writer_process()
    try:
        ix = FileStorage(folder, supports_mmap=False).create_index(schema, indexname)
        writer, count = None, 0
        while (doc := docs.recv()) is not None:
            if writer is None:
                # Never _finish()ed: that would remove the temporary folder the next one shares.
                writer = DocsvcSegmentWriter(ix, _lk=False, codec=DocsvcCodec(), limitmb=limitmb)
            writer.add_document(**doc)
            count += 1
            if count == segment_docs:
                results.send(("segment", (writer._finalize_segment(), count)))
                writer, count = None, 0
        if writer is not None:
            results.send(("segment", (writer._finalize_segment(), count)))
        results.send(("done", None))
    except EOFError:  # the parent went away: nothing to report to
        pass
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the stream
        with contextlib.suppress(OSError):
            results.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        results.close()


class DocsvcCodec(whoosh3.W3Codec):
    """W3Codec that inlines short posting lists into the term table. Most terms of a segment
    occur in one or a few of its documents (names, numbers, rare words); writing each its own
    zlib-compressed block in the postings file was a third of indexing time, and reading one
    back costs a seek. Segments record their codec, so this class must stay importable."""

    def __init__(self) -> None:
        super().__init__(inlinelimit=INLINE_POSTINGS)

    def field_writer(self, storage: Any, segment: Any) -> Any:
        return TermWritingFieldWriter(self, storage, segment)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        return _InliningPostingsWriter(
            dbfile,
            blocklimit=self._blocklimit,
            byteids=byteids,
            compression=self._compression,
            inlinelimit=self._inlinelimit,
        )


def merge_segments(writer: Any, group: list[Any]) -> Any:
    """One new segment with the documents of ``group`` (segments without deletions), in order.

    Whoosh's own merge decodes every posting into its sorting pool and encodes it again, about
    as slow as indexing the text anew and done in the one process that holds the lock. Here
    each term's posting lists are read a block at a time and handed to the term writer, which
    writes the same bytes that Whoosh's merge writes (a test compares them); stored fields,
    lengths and columns are copied document by document by Whoosh's own code."""
    from whoosh.reading import SegmentReader

    ix = windex.FileIndex(writer.storage, writer.schema, writer.indexname)
    # _lk=False: the committing writer holds the lock. Never _finish()ed: that would remove the
    # temporary folder the committing writer shares.
    out = DocsvcSegmentWriter(ix, _lk=False, codec=DocsvcCodec(), compound=writer.compound)
    readers = [SegmentReader(writer.storage, writer.schema, seg) for seg in group]
    try:
        names = set(writer.schema.names())
        bases = []
        for reader in readers:
            bases.append(out.docnum)
            out.write_per_doc(names | set(reader.indexed_field_names()), reader)
        out.perdocwriter.close()
        out.fieldwriter.merge_terms(writer.schema, list(zip(readers, bases)))
        out._close_segment()
        out._assemble_segment()
        return out.get_segment()
    except BaseException:
        out.cancel()
        raise
    finally:
        for reader in readers:
            reader.close()
