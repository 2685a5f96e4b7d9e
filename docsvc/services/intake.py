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
- **One scanner at a time.** Every server of an installation (and a ``docsvc watch`` beside them)
  may watch the same folder: a scan holds an exclusive lock on ``.docsvc-intake.lock`` in it, and
  a watcher that finds it held leaves that round to the other, so no file is taken twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docsvc.services.bulk import SIDECAR, Importer, ImportItem, ImportStatus

DONE, ERROR = "done", "error"
WRITING = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp")  # still being written
ACTOR = "intake"
LOCK = ".docsvc-intake.lock"

log = logging.getLogger(__name__)


@dataclass
class IntakeReport:
    archived: list[ImportItem] = field(default_factory=list)
    duplicates: list[ImportItem] = field(default_factory=list)
    failed: list[ImportItem] = field(default_factory=list)
    waiting: int = 0  # files seen but not settled yet
    busy: bool = False  # another watcher held the folder: this round was left to it


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
        with self._locked() as held:
            return self._scan() if held else IntakeReport(busy=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[bool]:
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock

    def _scan(self) -> IntakeReport:
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


class IntakeWatcher:
    """The server's intake (``DOCSVC_INTAKE_DIR``): scans the folder every ``interval_s`` on a
    thread of its own and logs what it archived, found twice or refused; the health page shows
    its counts. A scan that fails (the database is away, the folder unmounted) is retried."""

    def __init__(self, folder: IntakeFolder, *, interval_s: float = 2.0) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts = {"archived": 0, "duplicates": 0, "failed": 0}
        self.waiting = 0
        self.last_scan = ""  # when the last scan completed (ISO 8601, UTC)
        self.last_error = ""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="docsvc-intake", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def status(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder.folder),
            "running": self._thread is not None,
            **self.counts,
            "waiting": self.waiting,
            "last_scan": self.last_scan,
            "last_error": self.last_error,
        }

    def _run(self) -> None:
        log.info("intake folder watched: %s", self.folder.folder)
        while not self._stop.is_set():
            before = self.last_error
            try:
                self.record(self.folder.scan())
                self.last_error = ""
            except Exception as exc:  # noqa: BLE001 - keep watching; the operator sees it in the log and health
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self.last_error != before:  # once per change, not every round while it lasts
                if self.last_error:
                    log.warning("intake scan failing, retried every %g s: %s", self.interval_s, self.last_error)
                else:
                    log.info("intake scans work again")
            self._stop.wait(self.interval_s)

    def record(self, report: IntakeReport) -> None:
        if report.busy:
            return
        self.last_scan = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.waiting = report.waiting
        for item in report.archived:
            log.info("intake: %s archived as document %s", Path(item.path).name, item.document_id)
        for item in report.duplicates:
            log.info("intake: %s is a duplicate of document %s", Path(item.path).name, item.document_id)
        for item in report.failed:
            log.warning("intake: %s refused: %s", Path(item.path).name, (item.error or {}).get("message_en", ""))
        self.counts["archived"] += len(report.archived)
        self.counts["duplicates"] += len(report.duplicates)
        self.counts["failed"] += len(report.failed)
