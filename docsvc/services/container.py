"""What the use cases need of the composition root, as protocols.

``docsvc.app.Docsvc`` builds every service and implements these; the use cases that take the
whole container (the :class:`~docsvc.services.access.Guard`, the background job kinds) name only
these protocols, so nothing in ``docsvc/services/`` imports the wiring above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from docsvc.adapters.catalog import SqlCatalog
    from docsvc.core.audit import VerifyResult
    from docsvc.core.blobs import BlobStore
    from docsvc.core.checkpoints import Checkpoint
    from docsvc.core.model import Vocabulary
    from docsvc.services.access import Guard
    from docsvc.services.anchoring import Anchor
    from docsvc.services.archive import ArchiveService
    from docsvc.services.classify import ClassifyService
    from docsvc.services.intake import IntakeWatcher
    from docsvc.services.integrity import CheckReport
    from docsvc.services.jobs import JobRunner, JobService
    from docsvc.services.reports import ReportService
    from docsvc.services.search import BackgroundIndexer, IndexService
    from docsvc.services.templates import TemplateService
    from docsvc.services.users import Principal, UserService


class ConverterHealth(Protocol):
    """The PDF converter as the health page sees it (started or not)."""

    def health(self) -> dict[str, Any]: ...


class Services(Protocol):
    """What the Guard uses: the archive's services and settings, and the integrity checks."""

    @property
    def settings(self) -> Mapping[str, Any]: ...
    @property
    def catalog(self) -> SqlCatalog: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def vocab(self) -> Vocabulary: ...
    @property
    def archive(self) -> ArchiveService: ...
    @property
    def templates(self) -> TemplateService: ...
    @property
    def index(self) -> IndexService: ...
    @property
    def classifier(self) -> ClassifyService: ...
    @property
    def converter(self) -> ConverterHealth: ...
    @property
    def anchor(self) -> Anchor | None: ...
    @property
    def indexer(self) -> BackgroundIndexer | None: ...  # this server's index writer, when running
    @property
    def job_runner(self) -> JobRunner | None: ...  # this server's job runner, when running
    @property
    def intake(self) -> IntakeWatcher | None: ...  # this server's intake folder watcher, when running
    @property
    def jobs(self) -> JobService: ...
    @property
    def reports(self) -> ReportService: ...
    @property
    def users(self) -> UserService: ...

    def check(self, *, progress: Callable[[int], None] | None = None) -> CheckReport: ...

    def verify_audit(self) -> VerifyResult: ...


class Workers(Services, Protocol):
    """What the background job kinds use besides: a Guard for the person who queued a job, the
    garbage collection and the audit checkpoint."""

    def guard(self, principal: Principal) -> Guard: ...

    def gc(self, *, grace_s: float | None = None) -> list[str]: ...

    def write_checkpoint(self) -> Checkpoint | None: ...
