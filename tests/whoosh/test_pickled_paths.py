"""Indexes written before the Whoosh code moved into docsvc.adapters.whoosh still open.

Whoosh pickles the schema (analyzer, posting formats) and every segment's codec into the
index's TOC by class path. Older indexes name ``docsvc.adapters.whoosh_index`` and
``docsvc.adapters.whoosh_write``, whose shims re-export those classes; new indexes name the
package's modules."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
from whoosh.filedb.filestore import FileStorage

from docsvc.adapters.whoosh import WhooshIndex
from docsvc.adapters.whoosh.schema import ZhCharacters, ZhPositions, ZhTokenizer
from docsvc.adapters.whoosh.write import DocsvcCodec
from docsvc.core.search import IndexEntry, SearchRequest

ENTRIES = [
    IndexEntry(
        version_id=1,
        document_id=1,
        number=1,
        title="信息服务管理合同",
        sha256="sha-1",
        content="本合同到期前三十日，甲方可书面提出续签申请。",
        doc_type="contract",
    ),
    IndexEntry(
        version_id=2,
        document_id=2,
        number=1,
        title="服务等级协议",
        sha256="sha-2",
        content="服务等级协议规定核心系统可用性不低于99.9%。",
        doc_type="sla",
    ),
]


def pickled_classes(path: Path) -> set[str]:
    """The docsvc classes that the latest TOC's pickles (the schema, the segments) name, as
    ``module.name``. The TOC is read as Whoosh's TOC.read reads it."""
    found: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if module.startswith("docsvc."):
                found.add(f"{module}.{name}")
            return super().find_class(module, name)

    toc = max(path.glob("_MAIN_*.toc"), key=lambda p: int(p.stem.rpartition("_")[2]))
    stream = FileStorage(str(path)).open_file(toc.name)
    try:
        for _ in range(3):  # the sizes of int, long and float
            stream.read_varint()
        stream.read_int()  # byte order check
        stream.read_int()  # TOC version
        for _ in range(3):  # Whoosh's release
            stream.read_varint()
        Recorder(io.BytesIO(stream.read_string())).load()  # the schema
        stream.read_int()  # generation
        stream.read_int()  # unused
        Recorder(stream.file).load()  # the segments
    finally:
        stream.close()
    return found


def write_index(path: Path) -> None:
    index = WhooshIndex.open(path)
    index.clear()
    for e in ENTRIES:  # two commits: two segments, each with its codec
        index.upsert([e])
    index.mark_complete()
    index.close()


def test_a_new_index_names_the_package_modules(tmp_path: Path) -> None:
    write_index(tmp_path / "new")
    assert pickled_classes(tmp_path / "new") == {
        "docsvc.adapters.whoosh.schema.ZhTokenizer",
        "docsvc.adapters.whoosh.schema.ZhPositions",
        "docsvc.adapters.whoosh.schema.ZhCharacters",
        "docsvc.adapters.whoosh.schema.ZhGrams",
        "docsvc.adapters.whoosh.write.DocsvcCodec",
    }


# Before docsvc.adapters.whoosh_write existed, the codec too lived in docsvc.adapters.whoosh_index.
@pytest.mark.parametrize("codec_module", ["docsvc.adapters.whoosh_write", "docsvc.adapters.whoosh_index"])
def test_an_index_naming_the_old_modules_opens_searches_and_takes_writes(
    tmp_path: Path, monkeypatch, codec_module: str
) -> None:
    # Pickle names a class by its __module__: while the index is written, the classes claim the
    # modules older code defined them in, and the TOC names those, as an older index's does.
    for cls in (ZhTokenizer, ZhPositions, ZhCharacters):
        monkeypatch.setattr(cls, "__module__", "docsvc.adapters.whoosh_index")
    monkeypatch.setattr(DocsvcCodec, "__module__", codec_module)
    path = tmp_path / "old"
    write_index(path)
    monkeypatch.undo()
    assert pickled_classes(path) == {
        "docsvc.adapters.whoosh_index.ZhTokenizer",
        "docsvc.adapters.whoosh_index.ZhPositions",
        "docsvc.adapters.whoosh_index.ZhCharacters",
        f"{codec_module}.DocsvcCodec",
        "docsvc.adapters.whoosh.schema.ZhGrams",  # newer than the old modules
    }

    index = WhooshIndex.open(path)
    assert not index.needs_rebuild, index.rebuild_reason
    assert [h.version_id for h in index.search(SearchRequest("续签")).hits] == [1]
    assert index.search(SearchRequest("可用性")).hits[0].snippet.marks  # offsets the ZhCharacters postings keep
    # A commit rewrites the TOC with the new paths; the old segments are still read.
    index.upsert(
        [
            IndexEntry(
                version_id=3, document_id=3, number=1, title="巡检报告", sha256="sha-3", content="机房巡检，服务正常。"
            )
        ]
    )
    assert index.search(SearchRequest("服务")).total == 3
    assert "docsvc.adapters.whoosh.schema.ZhTokenizer" in pickled_classes(path)
