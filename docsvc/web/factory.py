"""The Flask application factory: the web face's wiring around the framework-free ``Docsvc``.

``docsvc.app.open_docsvc`` builds the services; here they get a Flask application around them
(the session-signing key, cookie and body-size settings, the proxy fix, the error mapping and the
blueprints). The CLI never needs this: it opens the services directly.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.middleware.proxy_fix import ProxyFix

from docsvc.app import Docsvc, open_docsvc


class CompiledTemplates(BytecodeCache):
    """The pages' templates compiled once per process for every app made in it (all alike), in
    memory. A server makes one app; the test suite makes thousands, and compiling the templates
    again for each was a tenth of its time. Jinja checks each template's source checksum, so an
    edited template is compiled again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = CompiledTemplates()


def _secret_key(svc: Docsvc) -> str:
    """The session-signing key: the setting, else one kept in the catalog, so that every server of
    an installation signs alike and a user signed in on one stays signed in on the others."""
    if svc.settings["SECRET_KEY"]:
        return svc.settings["SECRET_KEY"]
    legacy = Path(svc.settings["ARCHIVE_DIR"]) / "secret_key"  # where keys were kept before 0007

    def make() -> str:
        return legacy.read_text().strip() if legacy.is_file() else secrets.token_hex(32)

    return svc.catalog.shared_secret("session", make)


# Room for the multipart envelope (boundaries, the metadata fields) around the largest accepted file.
MULTIPART_ALLOWANCE = 1024 * 1024


def request_body_limit(settings: Mapping[str, Any]) -> int:
    """The largest request body accepted, in bytes: both the web server and the app refuse a
    larger one before reading it."""
    return int(settings["MAX_UPLOAD_BYTES"]) + MULTIPART_ALLOWANCE


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from docsvc.web import api, errors, inputs, setup

    svc = open_docsvc(config)
    app = Flask(__name__)
    app.jinja_options = {**app.jinja_options, "bytecode_cache": _COMPILED}
    app.config.update({k: v for k, v in (config or {}).items() if k.isupper()})
    app.config.update(
        SECRET_KEY=_secret_key(svc),
        MAX_CONTENT_LENGTH=request_body_limit(svc.settings),
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it
    if svc.settings["PROXIES"] > 0:
        # Behind a load balancer every connection comes from it: take the client's address and
        # scheme from the headers the trusted proxies set, and from nobody else's.
        n = svc.settings["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["docsvc"] = svc
    errors.register(app)
    inputs.register(app)  # bounded <int:…> URL parts and form checks, before any route exists
    app.register_blueprint(api.bp)
    setup.init_web(app)  # sessions, CSRF, Babel, security headers, the UI and REST API blueprints
    return app
