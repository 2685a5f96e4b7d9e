"""The command line: ``docsvc <noun> <verb>``, a thin client over the same use cases as the web.

Every command goes through the same :class:`~docsvc.services.access.Guard` as the web and the
REST API (``ctx.guard``), made for the command's principal: the local operator, an administrator,
unless ``--as`` names an active docsvc user, whose role then applies to every command (a refusal
is audited and answered as on the web). Keeping the installation (init, serve, index, blobs, gc,
checkpoints, bulk import) needs the administrator's ``system.operate`` permission.

Every command prints readable Chinese for people, or JSON with ``--json`` for scripts. Errors
go to stderr in Chinese and English with a non-zero exit: 2 for bad input, 3 when storage or a
dependency failed, 1 when a check found problems.
"""

from __future__ import annotations

import errno
import functools
import getpass
import json
import os
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from docsvc import errors, logs
from docsvc import settings as settings_mod
from docsvc.app import Docsvc, open_docsvc
from docsvc.cli.usage import VERSION_OPTION, BilingualGroup
from docsvc.core.inputs import escape_controls, json_escape_controls, parse_int
from docsvc.services.access import Generated, Guard

EXIT_PROBLEMS, EXIT_INPUT, EXIT_STORAGE = 1, 2, 3


def _exit_code(exc: errors.DocsvcError) -> int:
    if isinstance(exc, (errors.InvalidInput, errors.NotFound, errors.Conflict, errors.Forbidden)):
        return EXIT_INPUT
    return EXIT_STORAGE


def fail(exc: errors.DocsvcError) -> None:
    echo(f"错误：{exc.zh}", err=True)
    echo(f"Error: {exc.en}", err=True)
    details = exc.details.get("errors") if exc.details else None
    for item in details or []:
        echo(f"  - {item.get('field', '')}: {item.get('zh', '')} / {item.get('en', '')}", err=True)
    sys.exit(_exit_code(exc))


def handled(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.DocsvcError as exc:
            fail(exc)

    return wrapper


def pad(text: str, width: int) -> str:
    """Left-justify for a terminal, where a Chinese character takes two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 1)


def echo(message: Any = "", *, err: bool = False) -> None:
    """Print a line for a person. What it shows may come from anyone (a title, a change reason,
    a name tried at sign-in): control and bidi characters appear escaped (``\\x1b``), so none
    reaches the terminal as an escape sequence; the line's own breaks and tabs are kept. Values
    that may hold a line break of their own go through :func:`shown` first."""
    click.echo(escape_controls(str(message), allowed="\n\t"), err=err)


def shown(value: Any) -> str:
    """A value inside a line: every control character escaped, line breaks included, so that a
    value cannot start a line of its own (a fake audit entry, say)."""
    return escape_controls(str(value))


def json_text(value: Any, **options: Any) -> str:
    """JSON for scripts: the same data, with nothing a terminal would act on (json.dumps escapes
    C0 itself; C1 and bidi characters are escaped here)."""
    return json_escape_controls(json.dumps(value, ensure_ascii=False, default=str, **options))


def emit_json(value: Any) -> None:
    click.echo(json_text(value, indent=2))


def read_file(path: str, *, limit: int | None = None) -> bytes:
    """Read a user-named file, answering a bad path with a bilingual error."""
    p = Path(path)
    try:
        if p.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if limit is not None and p.stat().st_size > limit:
            raise errors.TooLarge(
                f"文件“{path}”过大（{p.stat().st_size} 字节），上限为 {limit} 字节。",
                f"File '{path}' is too large ({p.stat().st_size} bytes); the limit is {limit}.",
                field="file",
            )
        return p.read_bytes()
    except OSError as exc:
        raise errors.InvalidInput(
            f"无法读取文件“{path}”：{exc.strerror or exc}。请检查路径和权限。",
            f"Cannot read file '{path}': {exc.strerror or exc}. Check the path and permissions.",
            field="file",
        ) from None


def _exists_error(target: Path) -> errors.Conflict:
    return errors.Conflict(
        f"文件“{target}”已存在，未覆盖；要覆盖请加 --force，或换一个输出位置。",
        f"'{target}' already exists and was not overwritten; add --force to "
        "overwrite it, or choose another output path.",
        field="output",
    )


def refuse_existing(paths: list[Path], *, force: bool) -> None:
    """Before any work: an output file that is there already stops the command (unless
    ``force``), so nothing is archived that the person then cannot find where they asked."""
    if not force:
        for path in paths:
            if path.exists():
                raise _exists_error(path)


def write_output(target: Path, data: bytes, *, force: bool) -> Path:
    """Write ``data`` to ``target`` whole or not at all; an existing file is replaced only with
    ``force`` (several documents with one title must not silently overwrite each other), unless
    it already holds exactly these bytes."""
    tmp = target.with_name(f".{target.name}.part")
    try:
        tmp.write_bytes(data)
        if force:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # atomic, and fails when the target exists
    except FileExistsError:
        if _holds(target, data):
            return target  # the very same bytes are there already: nothing would be overwritten
        raise _exists_error(target) from None
    except OSError as exc:
        raise errors.InvalidInput(
            f"无法写入“{target}”：{exc.strerror or exc}。",
            f"Cannot write '{target}': {exc.strerror or exc}.",
            field="output",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def output_paths(target: Path, name: str, *, pdf: bool) -> list[Path]:
    """Where a document's DOCX (named ``name`` in the folder ``target``, or the file ``target``)
    and its PDF beside it are written."""
    docx_path = target / name if target.is_dir() else target
    return [docx_path, docx_path.with_suffix(".pdf")] if pdf else [docx_path]


def write_version_files(
    ctx: Context, document_id: int, number: int, target: Path, *, pdf: bool, force: bool, name: str | None = None
) -> list[str]:
    """A version's DOCX, and with ``pdf`` its PDF: into the folder ``target`` under the
    document's file name (or ``name``), or to the file ``target`` with the PDF beside it. Read
    through the Guard like any download (verified, audited)."""
    version, data = ctx.guard.read_version(document_id, number)
    docx_path = output_paths(target, name or version.original_filename, pdf=False)[0]
    files = [(docx_path, data)]
    if pdf:
        files.append((docx_path.with_suffix(".pdf"), ctx.guard.read_rendition(document_id, number, "pdf")[2]))
    return [str(write_output(path, content, force=force)) for path, content in files]


def write_generated(ctx: Context, generated: Generated, target: Path | None, *, force: bool) -> list[str]:
    """The files of a generated document (its DOCX, and its PDF when one was made) written to
    ``target``; nothing when no target was given."""
    if target is None:
        return []
    result = generated.result
    pdf = any(r.kind == "pdf" for r in generated.renditions)
    return write_version_files(ctx, result.document.id, result.version.number, target, pdf=pdf, force=force)


force_option = click.option("--force", is_flag=True, help="覆盖已存在的输出文件 / overwrite existing output files.")


class Context:
    def __init__(self, actor: str) -> None:
        self.actor = actor
        self._svc: Docsvc | None = None
        self._guard: Guard | None = None

    @property
    def svc(self) -> Docsvc:
        if self._svc is None:
            self._svc = open_docsvc()
        return self._svc

    @property
    def guard(self) -> Guard:
        """The archive as this command's principal may use it: the same Guard, and so the same
        role rules and audit entries, as the web and the REST API."""
        if self._guard is None:
            self._guard = self.guard_as(self.actor)
        return self._guard

    def guard_as(self, actor: str) -> Guard:
        """The Guard for ``actor``: an active docsvc user's role, else the local operator's
        (an administrator). A deactivated account's name is refused: it must not turn into
        the administrator's (a name given by --as means that user everywhere)."""
        principal = self.svc.users.principal_for_cli(actor)
        if principal.user_id is None and _deactivated(self.svc, actor):
            raise errors.Forbidden(
                f"用户“{actor}”已停用，不能以其身份执行命令；请换一个 --as 用户，或先重新启用该账户。",
                f"User '{actor}' is deactivated, so no command runs as them; choose another --as user, or "
                "reactivate the account first.",
                field="as",
            )
        return self.svc.guard(principal)

    def close(self) -> None:
        """Stop what the command started: above all LibreOffice (a warm server is a process
        tree of ~200 MB that would otherwise outlive the command), the render workers' pool
        is closed by its own atexit hook."""
        self._guard = None
        if self._svc is not None:
            svc, self._svc = self._svc, None
            svc.close()

    def embed_pending(self, *, quiet: bool = False) -> int:
        """Make the vectors semantic ranking needs for what was just indexed (a CLI has no
        server to do it in the background), with progress on stderr; how many versions. Each
        batch is kept as it is made: stopped (Ctrl-C), the rest is made by the next run or a
        server's index writer."""
        semantic = self.svc.index.semantic
        if semantic is None:
            return 0
        total = semantic.pending()
        if not total:
            return 0
        with click.progressbar(length=total, label="语义向量 embedding", file=sys.stderr, hidden=quiet) as bar:
            return semantic.embed_pending(progress=bar.update)

    def sync_index(self) -> None:
        """Bring the search index up to date after a write. The write itself already
        succeeded, so an index failure is a warning: the change stays queued."""
        report = self.svc.index.sync()
        if report.error:
            echo(
                f"提示：搜索索引暂未更新（{report.pending} 项待处理），稍后 docsvc index sync 会补上。"
                f"\nNote: the search index is not updated yet ({report.pending} pending): {report.error}",
                err=True,
            )


def _deactivated(svc: Docsvc, name: str) -> bool:
    try:
        return not svc.users.get(name).active
    except errors.DocsvcError:  # no such user (or not a user name at all): the local operator
        return False


class CatalogKey(click.ParamType):
    """An id or version number: 1 to MAX_ID (what the catalog's INTEGER columns hold)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_int(value, param.name if param else "id", from_text=not isinstance(value, int))
        except errors.InvalidInput as exc:
            self.fail(f"{exc.zh} / {exc.en}", param, ctx)


KEY = CatalogKey()
pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON for scripts.")


@click.group(cls=BilingualGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--as",
    "actor",
    default=None,
    metavar="USER",
    help="以该用户的身份与角色执行（记入审计日志）；不是 docsvc 用户时为本机管理员（默认：DOCSVC_ACTOR 或当前系统用户）"
    " / run as this docsvc user, with their role, for every command (and in the audit log); any other name is the"
    " local operator, an administrator.",
)
@click.version_option(package_name="docsvc", help=VERSION_OPTION)
@click.pass_context
def cli(ctx: click.Context, actor: str | None) -> None:
    """docsvc：信息服务管理文档与报告服务 / document management and report generation."""
    _configure_logging(server=ctx.invoked_subcommand == "serve")
    ctx.obj = Context(actor or default_actor())
    # Runs when the command ends, also after sys.exit() or an exception (click closes the context).
    ctx.call_on_close(ctx.obj.close)
    _stop_on_sigterm()


def default_actor() -> str:
    """The local operator: DOCSVC_ACTOR, else the system user running the command."""
    try:
        return os.environ.get("DOCSVC_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _configure_logging(*, server: bool) -> None:
    """Once per command, before anything logs. Settings that do not load leave the defaults
    here: the command itself reports them when it reads the settings."""
    try:
        conf = settings_mod.load()
    except errors.InvalidInput:
        conf = {"LOG_LEVEL": "", "LOG_FORMAT": "plain"}
    logs.configure(conf, server=server)


def _stop_on_sigterm() -> None:
    """SIGTERM (a timeout, systemd, a CI runner) ends the command like Ctrl+C would: Python's
    default is to die without cleanup, which would leave LibreOffice running."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main() -> None:
    cli(prog_name="docsvc")


def _register() -> None:
    # Each noun lives in its own module; importing it attaches its commands to ``cli``.
    from docsvc.cli import (  # noqa: F401
        admin,
        audit,
        blobs,
        classify,
        doc,
        export,
        field,
        job,
        report,
        search,
        template,
        term,
        user,
        view,
    )


_register()
