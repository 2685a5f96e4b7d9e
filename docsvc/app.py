"""Wiring, done once: the central :class:`Docsvc` object and the Flask application factory.

The web views and the CLI both call the same ``Docsvc`` object (the CLI builds it through
``create_app`` too), so every use case behaves the same whichever door a user comes in by.
"""

from __future__ import annotations

import getpass
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from flask import Flask

from docsvc import settings as settings_mod
from docsvc.adapters.blobstore import LocalBlobStore
from docsvc.adapters.catalog import SqlCatalog
from docsvc.core.content import PackageLimits
from docsvc.core.model import Vocabulary
from docsvc.services import integrity
from docsvc.services.archive import ArchiveService


@dataclass
class Docsvc:
    settings: dict[str, Any]
    catalog: SqlCatalog
    blobs: LocalBlobStore
    vocab: Vocabulary
    archive: ArchiveService

    def check(self, *, progress: Callable[[int], None] | None = None) -> integrity.CheckReport:
        return integrity.check(self.catalog, self.blobs, orphan_grace_s=0, progress=progress)

    def verify_audit(self):
        return integrity.verify_audit(self.catalog)

    def gc(self, *, grace_s: float | None = None) -> list[str]:
        grace = self.settings["ORPHAN_GRACE_S"] if grace_s is None else grace_s
        return integrity.collect_garbage(self.catalog, self.blobs, grace_s=grace)

    def close(self) -> None:
        self.catalog.dispose()


def open_docsvc(config: Mapping[str, Any] | None = None, *, migrate: bool = True) -> Docsvc:
    """Resolve settings, create the data folders and bring the catalog schema up to date."""
    conf = settings_mod.load(config)
    archive_dir = Path(conf["ARCHIVE_DIR"])
    blobs = LocalBlobStore(archive_dir, fsync=conf["FSYNC"])
    blobs.init()
    # A crash mid-write leaves a staging file; sweep the ones older than the grace period
    # (younger ones may belong to a write in flight in another process).
    for leftover in blobs.staging_leftovers(older_than_s=conf["ORPHAN_GRACE_S"]):
        leftover.unlink(missing_ok=True)
    Path(conf["INDEX_DIR"]).mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog(conf["DATABASE_URL"])
    if migrate:
        catalog.migrate()
    vocab = Vocabulary.with_extra(conf["EXTRA_DOC_TYPES"])
    archive = ArchiveService(
        catalog, blobs, vocab, max_upload_bytes=conf["MAX_UPLOAD_BYTES"],
        package_limits=PackageLimits(conf["MAX_ZIP_MEMBERS"], conf["MAX_EXPANDED_BYTES"], conf["MAX_ZIP_RATIO"]))
    return Docsvc(conf, catalog, blobs, vocab, archive)


def _secret_key(conf: Mapping[str, Any]) -> str:
    if conf["SECRET_KEY"]:
        return conf["SECRET_KEY"]
    path = Path(conf["ARCHIVE_DIR"]) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from docsvc.web import api, errors

    svc = open_docsvc(config)
    app = Flask(__name__)
    app.config.update({k: v for k, v in (config or {}).items() if k.isupper()})
    app.config.update(
        SECRET_KEY=_secret_key(svc.settings),
        # Leave room for the multipart envelope around the largest accepted file.
        MAX_CONTENT_LENGTH=svc.settings["MAX_UPLOAD_BYTES"] + 1024 * 1024,
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.ensure_ascii = False
    app.extensions["docsvc"] = svc
    errors.register(app)
    app.register_blueprint(api.bp)
    return app


def default_actor() -> str:
    try:
        return os.environ.get("DOCSVC_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
