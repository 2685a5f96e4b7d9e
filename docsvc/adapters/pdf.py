"""DOCX → PDF with LibreOffice.

:class:`LibreOfficeConverter` keeps one LibreOffice warm behind unoserver (0.12–0.26 s for a
four-page contract against 1.1–1.5 s for a cold ``soffice --convert-to``, measured on a
shared 2-core machine; ``bench/bench_render_pdf.py``) and manages it as a child
process: started once (about 10 s), one conversion at a time, a per-conversion timeout, a
restart after a hang, a crash or every ``restart_after`` conversions (soffice grows to
200–300 MB), and :meth:`~LibreOfficeConverter.health` for operators.
:class:`SofficeConverter` is the cold path: one ``soffice`` process per document.

unoserver needs the ``uno`` module, which only Debian's own interpreter has (package
python3-uno), so it lives in a small venv made from ``/usr/bin/python3 --system-site-packages``
(:func:`ensure_unoserver_venv`). docsvc talks to it with the stdlib XML-RPC client.

Fonts: documents name fonts such as 宋体, 仿宋_GB2312 or 黑体 that a Linux server does not
have. Each converter runs LibreOffice with its own user profile whose font replacement table
(:data:`FONT_SUBSTITUTIONS`) maps them to Noto Serif/Sans CJK SC (and Times New Roman, Arial,
Courier New to the metric-compatible Liberation fonts), and the DOCX copy handed to
LibreOffice gets zh-CN as its default East Asian language when it declares none (without it
LibreOffice shapes Han characters with the Japanese forms of the Noto CJK collection).

The profile also turns off macros and link updates, and blocks fetching linked resources: a
document must never make the server run code or open a network connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import io
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import xmlrpc.client
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape

from lxml import etree

from docsvc.core.content import check_docx_package
from docsvc.errors import Unavailable

log = logging.getLogger(__name__)

UNOSERVER_VERSION = "3.7"  # pinned: the XML-RPC API (v3) this module speaks
DEBIAN_PYTHON = "/usr/bin/python3"

SERIF_CJK = "Noto Serif CJK SC"
SANS_CJK = "Noto Sans CJK SC"
#: Chinese font names found in Word documents → the installed font that replaces them.
FONT_SUBSTITUTIONS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            "宋体",
            "SimSun",
            "新宋体",
            "NSimSun",
            "仿宋",
            "FangSong",
            "仿宋_GB2312",
            "FangSong_GB2312",
            "楷体",
            "KaiTi",
            "楷体_GB2312",
            "KaiTi_GB2312",
            "华文宋体",
            "STSong",
            "华文仿宋",
            "STFangsong",
            "华文楷体",
            "STKaiti",
            "华文中宋",
            "STZhongsong",
            "方正小标宋简体",
            "方正仿宋_GBK",
            "方正楷体_GBK",
            "Songti SC",
        ),
        SERIF_CJK,
    ),
    **dict.fromkeys(
        (
            "黑体",
            "SimHei",
            "微软雅黑",
            "Microsoft YaHei",
            "等线",
            "DengXian",
            "华文黑体",
            "STHeiti",
            "华文细黑",
            "STXihei",
            "幼圆",
            "YouYuan",
            "方正黑体_GBK",
            "PingFang SC",
            "Heiti SC",
        ),
        SANS_CJK,
    ),
    # Latin text: the metric-compatible Liberation fonts (fonts-liberation2), so lines and
    # pages break where Word breaks them; without them LibreOffice falls back to DejaVu, which
    # is wider.
    "Times New Roman": "Liberation Serif",
    "Times": "Liberation Serif",
    "Arial": "Liberation Sans",
    "Helvetica": "Liberation Sans",
    "Courier New": "Liberation Mono",
    "Courier": "Liberation Mono",
}

_NOT_INSTALLED = (
    "未安装 LibreOffice，无法生成 PDF；请安装 libreoffice-writer-nogui、fonts-noto-cjk 与 fonts-liberation2。",
    "LibreOffice is not installed, so no PDF can be made; install libreoffice-writer-nogui, "
    "fonts-noto-cjk and fonts-liberation2.",
)


class PdfConverter(Protocol):
    """What the services need from a PDF converter."""

    def convert(self, docx: bytes, *, timeout_s: float | None = None, pdf_a: bool = False) -> bytes: ...

    def health(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _unavailable(reason: str, zh: str, en: str, **details: Any) -> Unavailable:
    return Unavailable(zh, en, details={"reason": reason, **details})


def find_soffice(explicit: str | os.PathLike[str] | None = None) -> str:
    """The soffice executable, or :class:`Unavailable` saying what to install."""
    candidate = str(explicit) if explicit else (shutil.which("soffice") or shutil.which("libreoffice") or "")
    if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    raise _unavailable("not_installed", *_NOT_INSTALLED, soffice=candidate or None)


# ---------------------------------------------------------------------------------------------
# The LibreOffice user profile and the DOCX copy
# ---------------------------------------------------------------------------------------------


def _registry_items() -> list[str]:
    def prop(name: str, value: str | int | bool) -> str:
        text = str(value).lower() if isinstance(value, bool) else escape(str(value))
        return f'<prop oor:name="{name}" oor:op="fuse"><value>{text}</value></prop>'

    def item(path: str, *props: str) -> str:
        return f'<item oor:path="{path}">{"".join(props)}</item>'

    common = "/org.openoffice.Office.Common"
    items = [
        item(f"{common}/Font/Substitution", prop("Replacement", True)),
        item(
            f"{common}/Security/Scripting",
            prop("MacroSecurityLevel", 3),
            prop("DisableMacrosExecution", True),
            prop("BlockUntrustedRefererLinks", True),
        ),
        item("/org.openoffice.Office.Writer/Content/Update", prop("Link", 0)),  # 0: never
    ]
    for i, (font, substitute) in enumerate(sorted(FONT_SUBSTITUTIONS.items())):
        items.append(
            f'<item oor:path="{common}/Font/Substitution/FontPairs">'
            f'<node oor:name="docsvc{i}" oor:op="replace">'
            f"{prop('Always', True)}{prop('OnScreenOnly', False)}"
            f"{prop('ReplaceFont', font)}{prop('SubstituteFont', substitute)}</node></item>"
        )
    return items


def prepare_profile(profile_dir: Path) -> None:
    """Create the LibreOffice user profile with docsvc's settings, or recreate it if they changed.

    LibreOffice keeps our items when it rewrites registrymodifications.xcu, so a profile is
    made once and reused across restarts (a fresh one costs about a second on first start).
    """
    items = _registry_items()
    stamp = hashlib.sha256("\n".join(items).encode()).hexdigest()
    stamp_file = profile_dir / "docsvc-profile.sha256"
    if stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
        return
    shutil.rmtree(profile_dir, ignore_errors=True)
    (profile_dir / "user").mkdir(parents=True)
    (profile_dir / "user" / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n' + "\n".join(items) + "\n</oor:items>\n",
        encoding="utf-8",
    )
    stamp_file.write_text(stamp)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CJK_LANGUAGES = ("zh", "ja", "ko")
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def prepare_docx(docx: bytes) -> bytes:
    """The DOCX to hand to LibreOffice: East Asian text defaults to zh-CN.

    Only a missing or non-CJK default (python-docx's template says en-US) is changed; a
    document that declares ja-JP or zh-TW keeps it, and so does every run with its own
    language. The caller's bytes are never modified.
    """
    with zipfile.ZipFile(io.BytesIO(docx)) as zin:
        if "word/styles.xml" not in zin.namelist():
            return docx
        styles = _with_chinese_default(zin.read("word/styles.xml"))
        if styles is None:
            return docx
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = styles if info.filename == "word/styles.xml" else zin.read(info)
                zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _with_chinese_default(styles_xml: bytes) -> bytes | None:
    root = etree.fromstring(styles_xml, _XML_PARSER)
    defaults = _child(root, "docDefaults", first=True)
    rpr = _child(_child(defaults, "rPrDefault"), "rPr")
    lang = _child(rpr, "lang")
    current = (lang.get(f"{_W}eastAsia") or "").lower()
    if current.startswith(_CJK_LANGUAGES):
        return None
    lang.set(f"{_W}eastAsia", "zh-CN")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _child(parent: etree._Element, name: str, *, first: bool = False) -> etree._Element:
    found = parent.find(f"{_W}{name}")
    if found is None:
        found = etree.Element(f"{_W}{name}")
        if first:
            parent.insert(0, found)
        else:
            parent.append(found)
    return found


# ---------------------------------------------------------------------------------------------
# The unoserver helper venv
# ---------------------------------------------------------------------------------------------


def default_unoserver_venv() -> Path:
    """``$DOCSVC_UNOSERVER_VENV``, else ``$XDG_CACHE_HOME/docsvc/unoserver-<version>``."""
    if path := os.environ.get("DOCSVC_UNOSERVER_VENV"):
        return Path(path)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "docsvc" / f"unoserver-{UNOSERVER_VERSION}"


def ensure_unoserver_venv(
    path: Path, *, python: str = DEBIAN_PYTHON, version: str = UNOSERVER_VERSION, timeout_s: float = 600
) -> Path:
    """Make (once) a venv at ``path`` with unoserver; return its python.

    Built beside ``path`` and renamed into place when complete, under a file lock, so
    several processes can call this at once and a half-made venv is never used. Needs
    Debian's python3 with python3-uno, and pip access to PyPI the first time.
    """
    venv_python = path / "bin" / "python"
    if _venv_ready(path):
        return venv_python
    if (
        not os.path.isfile(python)
        or subprocess.run([python, "-c", "import uno"], capture_output=True, timeout=60).returncode != 0
    ):
        raise _unavailable(
            "no_uno",
            f"{python} 不可用或缺少 uno 模块；请安装 python3-uno。",
            f"{python} is missing or has no uno module; install python3-uno.",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _build_venv(path, python, version, timeout_s)
    except OSError as exc:
        raise _unavailable(
            "unoserver_install",
            f"无法创建 unoserver 环境 {path}：{exc}",
            f"Could not create the unoserver venv {path}: {exc}",
        ) from None


def _build_venv(path: Path, python: str, version: str, timeout_s: float) -> Path:
    venv_python = path / "bin" / "python"
    with _file_lock(path.parent / f".{path.name}.lock"):
        if _venv_ready(path):
            return venv_python
        building = path.parent / f".{path.name}.building"
        shutil.rmtree(building, ignore_errors=True)
        try:
            subprocess.run(
                [python, "-m", "venv", "--system-site-packages", str(building)],
                check=True,
                capture_output=True,
                timeout=timeout_s,
            )
            subprocess.run(
                [
                    str(building / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    f"unoserver=={version}",
                ],
                check=True,
                capture_output=True,
                timeout=timeout_s,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(building, ignore_errors=True)
            output = (getattr(exc, "stderr", b"") or b"")[-300:].decode(errors="replace")
            raise _unavailable(
                "unoserver_install",
                f"无法安装 unoserver（{path}）：{output}",
                f"Could not install unoserver into {path}: {output}",
            ) from None
        # We run its module (see _UNOSERVER_WATCHED), not its script, so the moved venv needs no
        # rewritten script paths.
        os.replace(building, path)
    return venv_python


def _venv_ready(path: Path) -> bool:
    """A venv (ours or one an operator made) whose python can run unoserver.server."""
    return (path / "bin" / "python").exists() and any(path.glob("lib/python3*/site-packages/unoserver/server.py"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _temp_env(folder: Path) -> dict[str, str]:
    """This process's environment with LibreOffice's temporary files in ``folder``, which docsvc
    empties: soffice keeps a folder of its own (lu….tmp) in the system's, and one killed for a
    timeout or a crash cannot remove it, so a server's restarts piled them up in /tmp."""
    return {**os.environ, "TMPDIR": str(folder)}


def _remove(path: Path) -> None:
    """Remove a socket or a folder, whichever is there (the server's watch does the same in
    _UNOSERVER_WATCHED); anything else is left alone."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)


def _single_instance_pipes(profile: Path) -> list[Path]:
    """Where soffice with this profile binds its single-instance socket: in the first of these
    folders it may write to, never in TMPDIR. Killed, or stopped with SIGTERM, soffice leaves it
    behind, so every converter (each with a profile in a new folder: one per CLI run that makes a
    PDF) left one more unless it removes it. The name is LibreOffice's own
    (desktop/source/app/officeipcthread.cxx, sal/osl/unx/pipe.cxx): the MD5 of the profile's URL
    in UTF-16, each byte in hex without its leading zero; the profile folder is the converter's,
    so no other soffice uses that name."""
    digest = "".join(f"{b:x}" for b in hashlib.md5(profile.as_uri().encode("utf-16-le")).digest())  # noqa: S324 - LibreOffice's name, not a secret
    return [Path(folder) / f"OSL_PIPE_{os.getuid()}_SingleOfficeIPC_{digest}" for folder in ("/tmp", "/var/tmp")]


def _kill_group(proc: subprocess.Popen[bytes], *, grace_s: float = 0.0) -> None:
    """Stop a child started with start_new_session=True, and everything it started."""
    if proc.poll() is None and grace_s > 0:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # also soffice.bin, which outlives its parent
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def _group_members(pgid: int) -> dict[int, str]:
    """pid → command name of the processes in a process group (Linux /proc)."""
    members = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members[int(entry)] = name
    return members


def libreoffice_processes(*, environ: tuple[str, str] | None = None) -> dict[int, str]:
    """pid → command name of the LibreOffice processes alive (soffice, soffice.bin, oosplash and
    the unoserver in front of them), optionally only those whose environment holds
    ``KEY=VALUE`` (``environ``): children inherit it, so this finds what one command started.
    Linux /proc; processes of other users whose environment cannot be read are left out."""
    found = {}
    wanted = None if environ is None else f"{environ[0]}={environ[1]}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            name = Path(f"/proc/{entry}/comm").read_text().strip()
            if wanted is not None and wanted not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (name.startswith(("soffice", "oosplash")) or b"unoserver" in cmdline):
            found[int(entry)] = name
    return found


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)
        conn.timeout = self._timeout_s
        return conn


#: LibreOffice's PDF export option for PDF/A-2b (ISO 19005-2): fonts embedded, no encryption,
#: no external content, so an archived signed copy still renders the same decades later.
PDFA_VERSION = 2


def _check_pdf(data: bytes) -> bytes:
    if not data.startswith(b"%PDF-"):
        raise _unavailable(
            "conversion_failed", "LibreOffice 没有生成有效的 PDF。", "LibreOffice did not produce a valid PDF."
        )
    return data


# ---------------------------------------------------------------------------------------------
# Cold: one soffice per document
# ---------------------------------------------------------------------------------------------


class SofficeConverter:
    """``soffice --headless --convert-to pdf``, one process per document (about 1 s each).

    The fallback when no warm server can be run, and the baseline in the benchmark.
    Conversions are serialised: two soffice processes cannot share one user profile.
    """

    def __init__(
        self, *, soffice: str | os.PathLike[str] | None = None, work_dir: Path | None = None, timeout_s: float = 120
    ) -> None:
        self._soffice_arg = soffice
        self._own_dir = work_dir is None
        self._work_dir = Path(work_dir or tempfile.mkdtemp(prefix="docsvc-soffice-"))
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conversions = 0
        self._last_error: str | None = None

    def convert(self, docx: bytes, *, timeout_s: float | None = None, pdf_a: bool = False) -> bytes:
        soffice = find_soffice(self._soffice_arg)
        check_docx_package(docx)
        data = prepare_docx(docx)
        timeout = timeout_s or self.timeout_s
        target_format = (
            "pdf:writer_pdf_Export:" + json.dumps({"SelectPdfVersion": {"type": "long", "value": str(PDFA_VERSION)}})
            if pdf_a
            else "pdf"
        )
        with self._lock:
            profile = self._work_dir / "profile"
            prepare_profile(profile)
            with tempfile.TemporaryDirectory(dir=self._work_dir) as tmp:
                source = Path(tmp) / "document.docx"
                source.write_bytes(data)
                proc = subprocess.Popen(
                    [
                        soffice,
                        "--headless",
                        "--norestore",
                        "--nolockcheck",
                        "--nologo",
                        "--nodefault",
                        f"-env:UserInstallation={profile.as_uri()}",
                        "--convert-to",
                        target_format,
                        "--outdir",
                        tmp,
                        str(source),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    env=_temp_env(Path(tmp)),
                )
                try:
                    _out, err = proc.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    self._last_error = f"timeout after {timeout:g} s"
                    log.warning("PDF conversion timed out after %g s; soffice killed", timeout)
                    raise _conversion_timeout(timeout) from None
                target = Path(tmp) / "document.pdf"
                if not target.is_file():
                    self._last_error = err.decode(errors="replace")[-300:]
                    raise _unavailable(
                        "conversion_failed",
                        "LibreOffice 转换 PDF 失败。",
                        "LibreOffice failed to convert the document to PDF.",
                        error=self._last_error,
                    )
                self._conversions += 1
                return _check_pdf(target.read_bytes())

    def health(self) -> dict[str, Any]:
        try:
            find_soffice(self._soffice_arg)
            state = "running"  # nothing stays running; "ready to convert"
        except Unavailable as exc:
            state, self._last_error = "down", exc.en
        return {
            "state": state,
            "mode": "cold",
            "pid": None,
            "conversions": self._conversions,
            "restarts": 0,
            "last_error": self._last_error,
        }

    def close(self) -> None:
        for pipe in _single_instance_pipes(self._work_dir / "profile"):
            _remove(pipe)
        if self._own_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)


def _conversion_timeout(timeout: float) -> Unavailable:
    return _unavailable(
        "timeout",
        f"PDF 转换超过 {timeout:g} 秒未完成，已中止；LibreOffice 正在重启，请稍后重试。",
        f"The PDF conversion did not finish within {timeout:g} s and was stopped; LibreOffice "
        "is restarting, try again shortly.",
        limit_s=timeout,
    )


# ---------------------------------------------------------------------------------------------
# Warm: a managed unoserver
# ---------------------------------------------------------------------------------------------


# unoserver.server run under a watch of the docsvc process that started it: when that process
# dies without stopping it (SIGKILL, the OOM killer), the watch kills the server's process
# group, LibreOffice with it, within a second, instead of leaving them running on the profile
# the next server needs. Before it goes itself, it removes what the dead process would have
# removed on closing (its own work folder, LibreOffice's socket in /tmp): LibreOffice first, as
# it could write there again. Standard library only: it runs in the unoserver venv's Python.
_PARENT_ENV = "DOCSVC_UNOSERVER_PARENT"
_LEFTOVERS_ENV = "DOCSVC_UNOSERVER_LEFTOVERS"
_UNOSERVER_WATCHED = f"""
import os, runpy, shutil, signal, stat, threading, time
parent = int(os.environ.pop({_PARENT_ENV!r}))
leftovers = [p for p in os.environ.pop({_LEFTOVERS_ENV!r}, "").split(os.pathsep) if p]
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    me, group = os.getpid(), os.getpgid(0)
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            if pid != me and os.getpgid(pid) == group:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.1)
    for path in leftovers:
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
            else:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, daemon=True).start()
runpy.run_module("unoserver.server", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class _Server:
    proc: subprocess.Popen[bytes]
    port: int
    started_at: float


class LibreOfficeConverter:
    """A warm LibreOffice behind unoserver, managed as a child process. Thread-safe.

    Conversions queue on a lock (one at a time per server: LibreOffice converts one document
    at a time anyway); a caller waits at most ``queue_timeout_s``. For more throughput run one
    converter per core. If the unoserver venv cannot be made (no python3-uno, no PyPI access)
    and ``cold_fallback`` is set, documents are converted cold instead of failing.
    """

    def __init__(
        self,
        *,
        soffice: str | os.PathLike[str] | None = None,
        unoserver_venv: Path | None = None,
        work_dir: Path | None = None,
        timeout_s: float = 60,
        start_timeout_s: float = 90,
        restart_after: int = 200,
        queue_timeout_s: float = 120,
        cold_fallback: bool = True,
        warm_retry_s: float = 300,
    ) -> None:
        self._soffice_arg = soffice
        self._venv = unoserver_venv or default_unoserver_venv()
        self._own_dir = work_dir is None
        self._work_dir = Path(work_dir or tempfile.mkdtemp(prefix="docsvc-unoserver-"))
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.restart_after = restart_after
        self.queue_timeout_s = queue_timeout_s
        self._cold = SofficeConverter(soffice=soffice, work_dir=self._work_dir / "cold") if cold_fallback else None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._state = "down"
        self._mode = "warm"
        self._conversions = 0
        self._since_start = 0
        self._restarts = 0
        self._last_error: str | None = None
        self._closed = False
        self._restarter: threading.Thread | None = None
        self._warm_retry_at = 0.0
        self.warm_retry_s = warm_retry_s

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LibreOfficeConverter:
        """Optional settings: SOFFICE, UNOSERVER_VENV, PDF_TIMEOUT_S, PDF_RESTART_AFTER."""
        venv = settings.get("UNOSERVER_VENV")
        return cls(
            soffice=settings.get("SOFFICE") or None,
            unoserver_venv=Path(venv) if venv else None,
            timeout_s=float(settings.get("PDF_TIMEOUT_S") or 60),
            restart_after=int(settings.get("PDF_RESTART_AFTER") or 200),
        )

    # -- public -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start LibreOffice now rather than on the first conversion (about 10 s)."""
        with self._queue():
            self._ensure_running()

    def convert(self, docx: bytes, *, timeout_s: float | None = None, pdf_a: bool = False) -> bytes:
        soffice = find_soffice(self._soffice_arg)  # Unavailable says what to install
        check_docx_package(docx)
        data = prepare_docx(docx)
        timeout = timeout_s or self.timeout_s
        with self._queue():
            if self._cold is not None and time.monotonic() < self._warm_retry_at:
                return self._cold.convert(docx, timeout_s=timeout, pdf_a=pdf_a)
            try:
                server = self._ensure_running(soffice)
            except Unavailable as exc:
                if self._cold is None or exc.details.get("reason") == "not_installed":
                    raise
                # No warm server possible now (no venv, no PyPI…): convert cold, and do not
                # retry the slow setup on every request.
                self._mode = "cold"
                self._warm_retry_at = time.monotonic() + self.warm_retry_s
                log.warning(
                    "no warm PDF converter (%s); converting with a cold soffice for %g s", exc.en, self.warm_retry_s
                )
                return self._cold.convert(docx, timeout_s=timeout, pdf_a=pdf_a)
            try:
                pdf = self._rpc(server, data, timeout, pdf_a=pdf_a)
            except TimeoutError:
                self._fail(f"conversion timed out after {timeout:g} s")
                raise _conversion_timeout(timeout) from None
            except xmlrpc.client.Fault as fault:
                # LibreOffice answered: it could not load or export this document.
                self._last_error = fault.faultString[-300:]
                raise _unavailable(
                    "conversion_failed",
                    "LibreOffice 无法转换此文档。",
                    "LibreOffice could not convert this document.",
                    error=self._last_error,
                ) from None
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
                self._fail(f"LibreOffice crashed: {type(exc).__name__}: {exc}")
                raise _unavailable(
                    "crashed",
                    "LibreOffice 在转换时崩溃，正在重启，请稍后重试。",
                    "LibreOffice crashed during the conversion; it is restarting, try again shortly.",
                ) from None
            self._conversions += 1
            self._since_start += 1
            if self._since_start >= self.restart_after:
                self._fail(None)  # planned: memory grows with every document
            return _check_pdf(pdf)

    def health(self) -> dict[str, Any]:
        server = self._server
        alive = server is not None and server.proc.poll() is None
        soffice_pid = None
        if alive:
            soffice_pid = next(
                (pid for pid, name in _group_members(server.proc.pid).items() if name.startswith("soffice.bin")), None
            )
        state = self._state if (alive or self._state != "running") else "down"
        return {
            "state": state,
            "mode": self._mode,
            "pid": server.proc.pid if alive else None,
            "soffice_pid": soffice_pid,
            "port": server.port if alive else None,
            "uptime_s": round(time.monotonic() - server.started_at, 1) if alive else None,
            "conversions": self._conversions,
            "since_start": self._since_start,
            "restart_after": self.restart_after,
            "restarts": self._restarts,
            "last_error": self._last_error,
        }

    def close(self) -> None:
        self._closed = True
        if self._restarter is not None:
            self._restarter.join(self.start_timeout_s + 10)
        with self._lock:
            self._stop()
            self._state = "down"
        if self._cold is not None:
            self._cold.close()
        for path in self._leftovers():
            _remove(path)

    # -- internals (called with the lock held) ----------------------------------------------
    @contextlib.contextmanager
    def _queue(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self.queue_timeout_s):
            raise _unavailable("busy", "PDF 转换繁忙，请稍后重试。", "The PDF converter is busy; try again shortly.")
        try:
            if self._closed:
                raise _unavailable("closed", "PDF 转换器已关闭。", "The PDF converter is closed.")
            yield
        finally:
            self._lock.release()

    def _ensure_running(self, soffice: str | None = None) -> _Server:
        server = self._server
        if server is not None and server.proc.poll() is None:
            return server
        if server is not None:  # it died while idle
            self._last_error = f"unoserver exited with {server.proc.returncode}"
            log.warning("PDF converter exited while idle (%s); starting another", self._last_error)
            self._stop()
            self._restarts += 1
        return self._start(soffice or find_soffice(self._soffice_arg))

    def _start(self, soffice: str) -> _Server:
        self._state = "starting"
        try:
            python = ensure_unoserver_venv(self._venv)
            prepare_profile(self._work_dir / "profile")
            last: Unavailable | None = None
            for _attempt in range(2):  # a port taken between probe and bind: try new ones
                try:
                    self._server = self._launch(python, soffice)
                    break
                except Unavailable as exc:
                    last = exc
            else:
                assert last is not None
                raise last
        except Unavailable as exc:
            self._state, self._last_error = "down", exc.en
            log.error("PDF converter failed to start: %s", exc.en)
            raise
        self._state, self._mode, self._since_start = "running", "warm", 0
        log.info(
            "PDF converter started (unoserver pid %d, port %d)",
            self._server.proc.pid,
            self._server.port,
            extra={"pid": self._server.proc.pid, "restarts": self._restarts},
        )
        return self._server

    def _launch(self, python: Path, soffice: str) -> _Server:
        port, uno_port = _free_port(), _free_port()
        temp = self._work_dir / "tmp"
        shutil.rmtree(temp, ignore_errors=True)  # what a killed predecessor left
        temp.mkdir()
        output = open(self._work_dir / "unoserver.log", "ab")  # noqa: SIM115 - the server's, closed with it
        try:
            proc = subprocess.Popen(
                [
                    str(python),
                    "-c",
                    _UNOSERVER_WATCHED,
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--uno-interface",
                    "127.0.0.1",
                    "--uno-port",
                    str(uno_port),
                    "--executable",
                    soffice,
                    "--user-installation",
                    str(self._work_dir / "profile"),
                    "--temp-dir",
                    str(temp),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
                env={
                    **_temp_env(temp),
                    _PARENT_ENV: str(os.getpid()),
                    _LEFTOVERS_ENV: os.pathsep.join(map(str, self._leftovers())),
                },
            )
        finally:
            output.close()
        server = _Server(proc, port, time.monotonic())
        proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}", allow_none=True, transport=_TimeoutTransport(5))
        deadline = time.monotonic() + self.start_timeout_s
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                try:
                    proxy.info()
                    return server
                except (OSError, http.client.HTTPException, xmlrpc.client.Error):
                    time.sleep(0.25)
        except BaseException:
            # Interrupted while starting (SIGTERM, Ctrl+C): nobody holds this server yet.
            _kill_group(proc)
            raise
        _kill_group(proc)
        tail = (self._work_dir / "unoserver.log").read_bytes()[-400:].decode(errors="replace")
        raise _unavailable(
            "start_failed",
            f"LibreOffice（unoserver）启动失败：{tail}",
            f"LibreOffice (unoserver) failed to start: {tail}",
        )

    def _leftovers(self) -> list[Path]:
        """What closing removes (LibreOffice's socket, the temporary files, the work folder when
        docsvc made it); the server's watch removes the same if this process dies unclosed."""
        return [
            *_single_instance_pipes(self._work_dir / "profile"),
            self._work_dir if self._own_dir else self._work_dir / "tmp",
        ]

    def _rpc(self, server: _Server, docx: bytes, timeout: float, *, pdf_a: bool = False) -> bytes:
        proxy = xmlrpc.client.ServerProxy(
            f"http://127.0.0.1:{server.port}", allow_none=True, transport=_TimeoutTransport(timeout)
        )
        # convert(inpath, indata, outpath, convert_to, filtername, filter_options,
        #         update_index, infiltername, password): update_index refreshes a TOC.
        options = [f"SelectPdfVersion={PDFA_VERSION}"] if pdf_a else []
        result = proxy.convert(None, xmlrpc.client.Binary(docx), None, "pdf", None, options, True, None, None)
        return result.data

    def _fail(self, error: str | None) -> None:
        """Drop the current server; stop it and start a new one in the background.

        The caller holds the lock and answers its request at once; the next conversion
        queues on the lock until the new server is up (about 10 s).
        """
        if error:
            self._last_error = error
            log.warning("PDF converter restarting: %s", error, extra={"restarts": self._restarts + 1})
        else:
            log.info(
                "PDF converter restarting after %d conversions (planned)",
                self._since_start,
                extra={"restarts": self._restarts + 1},
            )
        old, self._server = self._server, None
        self._restarts += 1
        self._state = "down"
        # A planned restart lets LibreOffice exit cleanly; a hung or crashed one is killed.
        grace = 2.0 if error is None else 0.0
        self._restarter = threading.Thread(
            target=self._replace, args=(old, grace), name="docsvc-lo-restart", daemon=True
        )
        self._restarter.start()

    def _replace(self, old: _Server | None, grace_s: float) -> None:
        if old is not None:
            _kill_group(old.proc, grace_s=grace_s)
        with contextlib.suppress(Unavailable):
            with self._queue():
                self._ensure_running()

    def _stop(self) -> None:
        if self._server is not None:
            _kill_group(self._server.proc, grace_s=2)
            self._server = None


__all__ = [
    "FONT_SUBSTITUTIONS",
    "LibreOfficeConverter",
    "PdfConverter",
    "SofficeConverter",
    "default_unoserver_venv",
    "ensure_unoserver_venv",
    "find_soffice",
    "libreoffice_processes",
    "prepare_docx",
    "prepare_profile",
]


if __name__ == "__main__":
    # `python -m docsvc.adapters.pdf [VENV]`: make the unoserver venv ahead of time (CI, deploy).
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else default_unoserver_venv()
    print(ensure_unoserver_venv(target))
