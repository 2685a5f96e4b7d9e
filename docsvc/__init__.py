"""docsvc — 信息服务管理文档与报告服务 / document management and report generation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docsvc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
