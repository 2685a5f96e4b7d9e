"""Settings, declared once.

Each setting is read, in order, from its default, then the instance config file (TOML; path in
``DOCSVC_CONFIG``, default ``./instance/docsvc.toml``), then the environment variable
``DOCSVC_<NAME>``, then the mapping passed to ``open_docsvc()`` or ``create_app()`` (tests use that). The README's
settings table is generated from :data:`SETTINGS` (``docsvc settings --markdown``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docsvc.errors import InvalidInput

MiB = 1024 * 1024


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"not a positive whole number: {value!r}")
    return number


def _minutes_dividing_a_day(value: Any) -> int:
    minutes = _positive_int(value)
    if 1440 % minutes:
        raise ValueError(f"must divide a day (1440 minutes): {value!r}")
    return minutes


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise ValueError(f"not one of {allowed}: {value!r}")
    return text


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help_zh: str
    help_en: str
    parse: Callable[[Any], Any] = str

    @property
    def env(self) -> str:
        return f"DOCSVC_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ARCHIVE_DIR",
        "./archive",
        "归档根目录：内容寻址的文件与默认 SQLite 目录库。",
        "Archive root: content-addressed files and the default SQLite catalog.",
        Path,
    ),
    Setting(
        "BLOB_URL",
        "",
        "归档文件存放处：留空即归档目录（本机）；设为 s3://存储桶/前缀 则存入 S3 兼容的对象存储，"
        "多台服务器共用（访问密钥取自 AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY）。",
        "Where archived files are kept: empty means the archive folder (this machine); s3://BUCKET/PREFIX "
        "means an S3-compatible object store that any number of servers share (keys from "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).",
    ),
    Setting(
        "S3_ENDPOINT_URL",
        "",
        "S3 兼容对象存储的地址（MinIO、Ceph 等，如 http://minio:9000）；留空即 AWS S3。",
        "Endpoint of an S3-compatible store (MinIO, Ceph…, e.g. http://minio:9000); empty means AWS S3.",
    ),
    Setting(
        "S3_REGION",
        "",
        "对象存储的区域；留空则取 AWS_DEFAULT_REGION 或 us-east-1。",
        "Region of the object store; empty means AWS_DEFAULT_REGION, else us-east-1.",
    ),
    Setting(
        "BLOB_TIMEOUT_S",
        10.0,
        "对象存储单次请求的超时（秒）；重试 3 次仍失败则返回 503，不记录任何内容。",
        "Timeout of one object-store request, in seconds; after 3 failed attempts the request answers 503 "
        "and nothing is recorded.",
        float,
    ),
    Setting(
        "INTAKE_DIR",
        "",
        "收件文件夹：docsvc serve（及 docsvc watch）归档放入其中的文件（按内容建议分类），成功的移入 done/，"
        "失败的移入 error/ 并附原因文件；留空则不监视。",
        "Intake folder: docsvc serve (and docsvc watch) archives files dropped there (labels suggested from "
        "the content), moves them to done/, or to error/ with a reason file; empty: nothing is watched.",
    ),
    Setting(
        "INDEX_DIR",
        "./index",
        "全文索引目录（派生数据，可随时从归档重建）。",
        "Full-text index folder (derived data, always rebuildable from the archive).",
        Path,
    ),
    Setting(
        "DATABASE_URL",
        "",
        "目录库地址；留空则使用归档目录中的 SQLite（WAL）。设为 postgresql+psycopg://… 即切换到 PostgreSQL。",
        "Catalog URL; empty means SQLite (WAL) inside the archive folder. "
        "Set postgresql+psycopg://… to switch to PostgreSQL.",
    ),
    Setting(
        "SEARCH_BACKEND",
        "whoosh",
        "全文检索引擎：whoosh（默认，索引目录在本机）或 postgres（索引表在 PostgreSQL 目录库中，"
        "多台服务器共用；切换后运行 docsvc index rebuild）。",
        "Full-text search engine: whoosh (the default, an index folder on this machine) or postgres (index "
        "tables in the PostgreSQL catalog, shared by any number of servers; run docsvc index rebuild after "
        "switching).",
        lambda v: _choice(v, ("whoosh", "postgres")),
    ),
    Setting(
        "SEARCH_PG_INDEX",
        "gin",
        "PostgreSQL 检索引擎中正文的词与双字索引的类型：gin（默认，无需额外软件）或 rum（需安装 PostgreSQL "
        "扩展 RUM，如 Debian 软件包 postgresql-15-rum：索引中保存词的位置，带引号的短语直接由索引匹配，"
        "单个词的结果按词频排序，大库中更快更准；正文索引约为 gin 的两倍半大，新版本可被检索稍慢）。下次 docsvc index rebuild 时生效。",
        "Index type of the content's words and bigrams in the PostgreSQL search engine: gin (the default, "
        "needs nothing extra) or rum (needs PostgreSQL's RUM extension, e.g. the Debian package "
        "postgresql-15-rum: the index keeps the words' positions, so quoted phrases are matched by the index "
        "itself and a single word's matches are ranked by how often they have it: faster and better in a large "
        "archive; the content indexes are about two and a half times gin's, and new versions become searchable "
        "more slowly). Takes effect at the next "
        "docsvc index rebuild.",
        lambda v: _choice(v, ("gin", "rum")),
    ),
    Setting(
        "SEMANTIC",
        True,
        "检索时按语义重排最相关的结果，分类建议也参考文档开头的语义（句向量模型 multilingual-e5-small，"
        "随软件安装，离线运行）；文档的向量在建索引后于后台生成。关闭则只按词排序、只按词分类。",
        "Reorder the best matches of a question by meaning, and let the classifier read what a document's "
        "head means (the sentence-embedding model multilingual-e5-small, installed with docsvc, runs "
        "offline); documents' vectors are made in the background after indexing. Off: ranked and "
        "classified by their words alone.",
        _bool,
    ),
    Setting(
        "SYNONYMS_FILE",
        "",
        "检索同义词表文件（每行一组，用“=”分隔）；留空则使用 docsvc 自带的 docsvc/data/synonyms.txt。"
        "修改前可用 docsvc synonyms check FILE 检查。",
        "Search synonyms file (one group per line, terms separated by '='); empty means the one docsvc ships "
        "(docsvc/data/synonyms.txt). Check a file with docsvc synonyms check FILE before using it.",
    ),
    Setting(
        "MAX_UPLOAD_BYTES", 50 * MiB, "单个上传文件的大小上限（字节）。", "Largest accepted upload, in bytes.", int
    ),
    Setting(
        "BATCH_MAX_ROWS",
        500,
        "网页和 API 批量生成时，一个表格文件最多的数据行数（每行一份文档）。",
        "Most data rows (one document each) in one spreadsheet for batch generation on the web and through the API.",
        _positive_int,
    ),
    Setting(
        "BATCH_MAX_BYTES",
        5 * MiB,
        "网页和 API 批量生成时，表格文件（CSV 或 XLSX）的大小上限（字节）。",
        "Largest spreadsheet (CSV or XLSX) for batch generation on the web and through the API, in bytes.",
        _positive_int,
    ),
    Setting(
        "BULK_MAX_DOCUMENTS",
        500,
        "批量修改或打包下载一次最多可选的文档数。",
        "Most documents one bulk change or ZIP download may select.",
        _positive_int,
    ),
    Setting(
        "BULK_ZIP_MAX_BYTES",
        500 * MiB,
        "打包下载（ZIP）所选文件合计的大小上限（字节）；超过则拒绝并提示少选一些。",
        "Largest total size, in bytes, of the files one ZIP download of selected documents may hold; "
        "more is refused with a message to select fewer.",
        _positive_int,
    ),
    Setting(
        "MAX_ZIP_MEMBERS",
        1000,
        "Word 文档（ZIP 包）内允许的最多文件数。",
        "Most members allowed inside a Word (zip) package.",
        int,
    ),
    Setting(
        "MAX_EXPANDED_BYTES",
        50 * MiB,
        "Word 文档解压后的大小上限（字节），防止压缩炸弹。",
        "Largest expanded size of a Word package, in bytes (zip-bomb guard).",
        int,
    ),
    Setting(
        "MAX_ZIP_RATIO", 100, "ZIP 成员允许的最大压缩比。", "Largest compression ratio allowed for a zip member.", int
    ),
    Setting(
        "PARSE_TIMEOUT_S",
        30,
        "解析不可信文件（PDF 等）的时间上限（秒）。",
        "Time limit for parsing an untrusted file (PDF etc.), in seconds.",
        float,
    ),
    Setting(
        "PARSE_RETRY_AFTER_S",
        300.0,
        "PDF 解析超时后（多因机器繁忙），隔多久（秒）以加倍的时限重试；重试 2 次仍超时才记为失败。",
        "How long after a PDF's parsing timed out (usually on a busy machine) it is tried again with "
        "twice the time, in seconds; it is recorded as a failure only after 2 such retries.",
        float,
    ),
    Setting(
        "PARSE_MEMORY_MB",
        1024,
        "解析子进程的内存上限（MB）。",
        "Memory limit of the parsing child process, in MB.",
        int,
    ),
    Setting(
        "RENDER_TIMEOUT_S",
        10,
        "渲染 Word 模板的时间上限（秒）。",
        "Time limit for rendering a Word template, in seconds.",
        float,
    ),
    Setting(
        "RENDER_MEMORY_MB",
        512,
        "模板渲染子进程的内存上限（MB）。",
        "Memory limit of the template-rendering child process, in MB.",
        int,
    ),
    Setting(
        "TEMPLATES_DIR",
        "",
        "随 docsvc 提供的 Word 模板目录（启动时登记，修改后的模板成为新版本）；留空即源码中的 templates/。",
        "Folder of the Word templates shipped with docsvc (registered at start; a changed one "
        "becomes a new version); empty means templates/ beside the docsvc package.",
    ),
    Setting(
        "ORGANIZATION",
        "",
        "本单位名称：生成文档（DOCX 与 PDF）属性中的作者，模板未指定作者字段时使用。",
        "Your organisation's name: the author in generated documents' DOCX and PDF properties "
        "when the template names no author field.",
    ),
    Setting(
        "SOFFICE",
        "",
        "LibreOffice 的 soffice 路径；留空则在 PATH 中查找。用于生成 PDF。",
        "Path of LibreOffice's soffice; empty means look on PATH. Used for PDF output.",
    ),
    Setting(
        "UNOSERVER_VENV",
        "",
        "常驻 LibreOffice 转换服务（unoserver）的虚拟环境目录；留空为 ~/.cache/docsvc/unoserver-版本。",
        "Virtualenv of the warm LibreOffice converter (unoserver); empty means ~/.cache/docsvc/unoserver-<version>.",
    ),
    Setting(
        "PDF_TIMEOUT_S",
        60.0,
        "单个文档转换为 PDF 的时间上限（秒），超时则重启转换服务。",
        "Time limit of one PDF conversion, in seconds; past it the converter is restarted.",
        float,
    ),
    Setting(
        "PDF_RESTART_AFTER",
        200,
        "转换服务每完成多少次转换后重启（LibreOffice 内存会增长）。",
        "Restart the converter after this many conversions (LibreOffice's memory grows).",
        int,
    ),
    Setting(
        "OCR",
        True,
        "对扫描件（无文本层的 PDF）和图片（JPEG、PNG、TIFF）在后台做文字识别（OCR），使其可检索，并生成可检索的 PDF。",
        "Recognise the text of scans (PDFs without a text layer) and images (JPEG, PNG, TIFF) in the "
        "background (OCR), so they are searchable, and make a searchable PDF of each.",
        _bool,
    ),
    Setting(
        "OCR_MAX_PAGES",
        300,
        "每个文件最多识别的页数，之后的页不识别。",
        "Pages OCR reads of one file; later pages are not read.",
        int,
    ),
    Setting(
        "OCR_MAX_PIXELS",
        60_000_000,
        "单张图片（或 TIFF 的一页）的像素上限；超过则拒绝且不解码（防解压炸弹）。",
        "Pixel limit of one image (or TIFF page); a larger one is refused undecoded (decompression bombs).",
        int,
    ),
    Setting(
        "OCR_DPI",
        200,
        "扫描 PDF 的页面按此分辨率渲染后识别。",
        "Resolution at which scanned PDF pages are rendered for OCR.",
        int,
    ),
    Setting(
        "OCR_PAGE_TIMEOUT_S",
        120.0,
        "识别一页的时间上限（秒，墙钟时间与 CPU 时间；服务器繁忙时等待 CPU 的时间不计，至多延长到 10 倍）；超时的页被跳过。",
        "Time limit of one page's OCR, in seconds (wall clock and CPU; time spent waiting for a CPU while the"
        " server is busy does not count, up to ten times the limit); a page past it is skipped.",
        float,
    ),
    Setting(
        "OCR_MEMORY_MB",
        3072,
        "OCR 子进程的地址空间上限（MB；识别模型约占 1.7 GB 虚拟内存）。",
        "Address-space limit of the OCR child process, in MB (the models map about 1.7 GB).",
        int,
    ),
    Setting(
        "OCR_THREADS",
        1,
        "OCR 使用的线程数；为 1 时把其余 CPU 核留给检索与上传。",
        "Threads OCR uses; 1 leaves the other cores to searches and uploads.",
        int,
    ),
    Setting(
        "TIMEZONE",
        "Asia/Shanghai",
        "解释日期范围查询（按整天）所用的时区。",
        "Time zone in which date-range queries are meant (whole local days).",
    ),
    Setting(
        "SEARCH_TIMEOUT_S",
        2.0,
        "单次搜索的时间上限（秒），超时返回部分结果。",
        "Time limit of one search, in seconds; past it partial results are returned.",
        float,
    ),
    Setting(
        "INDEX_LEASE_S",
        30.0,
        "批量导入对其新文档索引任务的租约（秒），导入进程每隔三分之一续约；导入进程意外终止后，"
        "其余索引进程在租约到期后接手。",
        "The lease of a bulk import on the index work of its new documents, in seconds, renewed every "
        "third of it while the import runs; if the import dies, any other indexer takes the work over "
        "when the lease runs out.",
        float,
    ),
    Setting(
        "INDEX_LOCK_TIMEOUT_S",
        10.0,
        "等待索引写锁的时间上限（秒），超时后任务留在队列中稍后重试。",
        "How long to wait for the index write lock, in seconds; then the work stays queued.",
        float,
    ),
    Setting(
        "EXTRA_DOC_TYPES",
        "",
        "自定义文档类型，格式 code:中文名:English，多个用逗号分隔。",
        "Extra document types, as code:中文名:English entries separated by commas.",
    ),
    Setting(
        "FSYNC",
        True,
        "写入归档和目录数据库时等待数据落盘（fsync；关闭会失去断电保护，仅用于测试）。",
        "Wait for archive and catalog writes to reach the disk (fsync; turning it off loses crash safety; tests only).",
        _bool,
    ),
    Setting(
        "ORPHAN_GRACE_S",
        3600,
        "未被任何版本引用的文件在被清理前保留的时间（秒）。",
        "How long an unreferenced blob is kept before `docsvc gc` removes it, in seconds.",
        int,
    ),
    Setting(
        "JOB_RETENTION_DAYS",
        30,
        "已完成或失败的后台任务（以及不再出现的服务器节点）保留的天数，之后由每日任务清除。",
        "Days a finished or failed background job (and a server node no longer seen) is kept before the "
        "daily job forgets it.",
        int,
    ),
    Setting(
        "AUDIT_KEY_FILE",
        "",
        "审计检查点的 Ed25519 签名私钥文件（PEM，用 docsvc audit keygen 生成）。不要放在目录库或其所在磁盘上；"
        "与 DOCSVC_AUDIT_CHECKPOINT_URL 同时设置即开启检查点。",
        "Ed25519 private key file (PEM, made by docsvc audit keygen) that signs audit checkpoints. Keep it off "
        "the catalog and its disk; set together with DOCSVC_AUDIT_CHECKPOINT_URL to turn checkpoints on.",
    ),
    Setting(
        "AUDIT_CHECKPOINT_URL",
        "",
        "审计检查点的存放处：file:///目录（应在目录库写入者无法改写的其他存储上）或 "
        "s3://存储桶/前缀（建议开启对象锁定与默认保留期）。留空即不写检查点。",
        "Where signed audit checkpoints are kept: file:///FOLDER (on storage the catalog's writers cannot "
        "rewrite) or s3://BUCKET/PREFIX (object lock with a default retention recommended). Empty: no "
        "checkpoints.",
    ),
    Setting(
        "AUDIT_CHECKPOINT_MINUTES",
        10,
        "服务器每隔多少分钟签署一次审计检查点（链头有变化时；各服务器合计一次）；"
        "须能整除一天（1440 分钟），如 5、10、15、60。",
        "How often, in minutes, the servers sign an audit checkpoint (when the head moved; once across all "
        "servers); must divide a day (1440 minutes), e.g. 5, 10, 15, 60.",
        _minutes_dividing_a_day,
    ),
    Setting("HOST", "127.0.0.1", "`docsvc serve` 监听的地址。", "Address `docsvc serve` listens on."),
    Setting("PORT", 5000, "`docsvc serve` 监听的端口。", "Port `docsvc serve` listens on.", int),
    Setting("THREADS", 8, "Web 服务器每个进程的工作线程数。", "Web server threads per worker process.", int),
    Setting(
        "WORKERS",
        0,
        "Web 服务器的工作进程数；0 表示每个 CPU 核一个，搜索因此并行（索引写入只在主进程）。",
        "Web server worker processes; 0 means one per CPU core, so searches run in parallel (the index "
        "writer stays in the main process).",
        int,
    ),
    Setting(
        "PROXIES",
        0,
        "docsvc 前面可信的反向代理（负载均衡器）层数：设为 1 时取代理传来的 X-Forwarded-For / "
        "X-Forwarded-Proto 作为客户端地址与协议（用于登录限流和审计）。直接对外提供服务时必须为 0，否则客户端可伪造地址。",
        "How many trusted reverse proxies (load balancers) stand in front of docsvc: with 1, the client "
        "address and scheme come from the proxy's X-Forwarded-For / X-Forwarded-Proto (for sign-in limits and "
        "the audit log). Must be 0 when docsvc faces clients directly, or they could claim any address.",
        int,
    ),
    Setting(
        "COOKIE_SECURE",
        False,
        "会话 Cookie 只通过 HTTPS 发送（在 HTTPS 反向代理之后部署时打开）。经可信代理"
        "（DOCSVC_PROXIES）以 HTTPS 到达的请求，其 Cookie 无论此项都带 Secure。",
        "Send the session cookie over HTTPS only (turn on when served behind HTTPS). A request that came "
        "over HTTPS through a trusted proxy (DOCSVC_PROXIES) gets Secure cookies whatever this says.",
        _bool,
    ),
    Setting(
        "SESSION_IDLE_MINUTES",
        60,
        "登录会话闲置多少分钟后失效（需重新登录）；各台服务器一致生效。",
        "Minutes without a request after which a sign-in session ends (sign in again); holds on every server.",
        _positive_int,
    ),
    Setting(
        "SESSION_MAX_HOURS",
        8,
        "登录会话最长有效小时数，无论是否活跃，到期须重新登录。",
        "Hours after signing in at which a session ends however active it is.",
        _positive_int,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "会话签名密钥；留空则生成一个随机密钥并保存在目录库中，共用同一目录库的各台服务器都使用它。",
        "Session signing key; empty means a random key generated once and kept in the catalog, so every "
        "server sharing the catalog signs alike.",
    ),
    Setting(
        "NODE_NAME",
        "",
        "本服务器在后台任务队列中的名称（系统状态页显示哪台服务器运行了哪个任务、最近的心跳）；"
        "留空为 主机名:进程号。共用一个目录库的各台服务器须各不相同。",
        "This server's name in the background job queue (the health page shows which server ran each job "
        "and its last heartbeat); empty means hostname:pid. Each server sharing a catalog needs its own.",
    ),
    Setting(
        "LOG_LEVEL",
        "",
        "日志级别：debug、info、warning 或 error（只作用于 docsvc 自身；其他库只记警告及以上）；"
        "留空则 docsvc serve 为 info，其他命令为 warning。日志写到标准错误输出，不含文档内容、密码、令牌与 Cookie。",
        "Log level: debug, info, warning or error (docsvc's own lines; other libraries log warnings and "
        "above); empty means info for docsvc serve, warning for other commands. Logs go to stderr and never "
        "hold document text, passwords, tokens or cookies.",
        lambda v: _choice(v, ("", "debug", "info", "warning", "error")),
    ),
    Setting(
        "LOG_FORMAT",
        "plain",
        "日志格式：plain（便于阅读的文本行）或 json（每行一个 JSON 对象，供日志收集系统使用）。",
        "Log format: plain (readable text lines) or json (one JSON object per line, for a log collector).",
        lambda v: _choice(v, ("plain", "json")),
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def load(overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting. Unknown keys in ``overrides`` pass through (Flask's own config)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    config_path = Path(environ.get("DOCSVC_CONFIG", "instance/docsvc.toml"))
    if config_path.is_file():
        try:
            values.update({k.upper(): v for k, v in tomllib.loads(config_path.read_text("utf-8")).items()})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"配置文件 {config_path} 格式错误：{exc}", f"Config file {config_path} is not valid TOML: {exc}"
            ) from None
    for s in SETTINGS:
        if s.env in environ:
            values[s.name] = environ[s.env]
    for key, value in (overrides or {}).items():
        values[key.removeprefix("DOCSVC_")] = value
    for s in SETTINGS:
        try:
            values[s.name] = s.parse(values[s.name])
        except (TypeError, ValueError):
            raise InvalidInput(
                f"设置 {s.env} 的值“{values[s.name]}”无效：{s.help_zh}",
                f"Setting {s.env} has an invalid value {values[s.name]!r}: {s.help_en}",
                field=s.env,
            ) from None
    values["TEMPLATES_DIR"] = Path(values["TEMPLATES_DIR"] or Path(__file__).resolve().parents[1] / "templates")
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{Path(values['ARCHIVE_DIR']).resolve() / 'catalog.sqlite3'}"
    return values


def redacted(values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as they may be shown or logged: the session key masked, the database
    password hidden."""
    from sqlalchemy.engine import make_url

    shown = {s.name: values[s.name] for s in SETTINGS}
    shown["DATABASE_URL"] = make_url(shown["DATABASE_URL"]).render_as_string(hide_password=True)
    if shown["SECRET_KEY"]:
        shown["SECRET_KEY"] = "******"
    return shown


def markdown_table() -> str:
    rows = ["| 环境变量 / Variable | 默认值 / Default | 说明 | Description |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default == "" else f"`{s.default}`"
        rows.append(f"| `{s.env}` | {default} | {s.help_zh} | {s.help_en} |")
    return "\n".join(rows)
