"""A watched intake folder (``DOCSVC_INTAKE_DIR``, ``docsvc watch``): files dropped there are
archived with suggested labels, then moved to ``done/``; a file that cannot be archived goes to
``error/`` with ``NAME.error.txt`` saying why (Chinese and English).

- **Never a half-written file.** A file is taken only when its size and modification time are
  the same at two scans at least ``settle_s`` apart; names that copy tools use while writing
  (``.part``, ``.tmp``, ``~$…``, hidden files) are not looked at.
- **Never the same content twice.** The archive is asked for the content hash before anything is
  stored (the bulk importer's rule): content already archived is not added again, and the file
  goes to ``done/`` with ``NAME.duplicate.txt`` naming the document.
- **Survives restarts.** The folder is the state: what is still there after a crash is looked at
  again. A file archived just before a crash, and not moved yet, is found by its hash and only
  moved.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from docsvc.services.bulk import SIDECAR, Importer, ImportItem, ImportStatus

DONE, ERROR = "done", "error"
WRITING = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp")  # still being written
ACTOR = "intake"


@dataclass
class IntakeReport:
    archived: list[ImportItem] = field(default_factory=list)
    duplicates: list[ImportItem] = field(default_factory=list)
    failed: list[ImportItem] = field(default_factory=list)
    waiting: int = 0  # files seen but not settled yet


class IntakeFolder:
    def __init__(
        self, folder: Path, importer: Importer, *, settle_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.folder = Path(folder)
        self.importer = importer
        self.settle_s = settle_s
        self.clock = clock
        self._seen: dict[Path, tuple[int, int, float]] = {}  # path → (size, mtime_ns, first seen then)
        for sub in (self.folder, self.folder / DONE, self.folder / ERROR):
            sub.mkdir(parents=True, exist_ok=True)

    def candidates(self) -> list[Path]:
        """Files in the folder itself (done/ and error/ are not looked into), but for those being
        written and metadata sidecars. A type docsvc does not archive is taken too: it goes to
        error/ with the reason, rather than lying there unexplained."""
        out = []
        for p in sorted(self.folder.iterdir()):
            name = p.name
            if (
                not p.is_file()
                or name.startswith((".", "~$"))
                or name.endswith(SIDECAR)
                or name.lower().endswith(WRITING)
            ):
                continue
            out.append(p)
        return out

    def settled(self) -> tuple[list[Path], int]:
        """The files unchanged since a scan at least ``settle_s`` ago, and how many still wait."""
        now, ready, waiting, seen = self.clock(), [], 0, {}
        for p in self.candidates():
            try:
                st = p.stat()
            except FileNotFoundError:  # taken away meanwhile
                continue
            before = self._seen.get(p)
            if before is not None and before[:2] == (st.st_size, st.st_mtime_ns):
                if now - before[2] >= self.settle_s:
                    ready.append(p)
                    continue
                seen[p] = before
            else:
                seen[p] = (st.st_size, st.st_mtime_ns, now)
            waiting += 1
        self._seen = seen
        return ready, waiting

    def scan(self) -> IntakeReport:
        """One pass: archive what has settled and move it out of the folder."""
        ready, waiting = self.settled()
        report = IntakeReport(waiting=waiting)
        if not ready:
            return report
        result = self.importer.import_files(ready, {}, actor=ACTOR)
        for path, item in zip(ready, result.items):
            if item.status is ImportStatus.ADDED:
                _move(path, self.folder / DONE)
                report.archived.append(item)
            elif item.status is ImportStatus.DUPLICATE:
                target = _move(path, self.folder / DONE)
                target.with_name(target.name + ".duplicate.txt").write_text(
                    f"内容与已归档的文档 {item.document_id} 相同，未重复导入。\n"
                    f"Same content as archived document {item.document_id}; not imported again.\n",
                    "utf-8",
                )
                report.duplicates.append(item)
            else:
                target = _move(path, self.folder / ERROR)
                err = item.error or {}
                target.with_name(target.name + ".error.txt").write_text(
                    f"{err.get('message', '')}\n{err.get('message_en', '')}\n", "utf-8"
                )
                report.failed.append(item)
        return report


def _move(path: Path, folder: Path) -> Path:
    """Move the file (and its NAME.meta.json) into ``folder`` under a name not taken there."""
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem} ({n}){path.suffix}"
        n += 1
    shutil.move(str(path), target)
    sidecar = path.with_name(path.name + SIDECAR)
    if sidecar.exists():
        shutil.move(str(sidecar), target.with_name(target.name + SIDECAR))
    return target
