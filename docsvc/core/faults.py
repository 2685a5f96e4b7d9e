"""Fault injection for crash-consistency tests.

``DOCSVC_FAULT=<point>:<n>[:<mode>]`` makes the n-th arrival at ``point`` in this process fail.
Modes: ``exit`` (default; ``os._exit(137)``, as a kill -9 would), ``eio`` and ``enospc``
(raise the matching ``OSError``), ``hang`` (the arriving thread stops there for good, the
process's other threads go on: a stalled process for a test to kill at a known point). Points are named where the archive's guarantees could break:
``after_stage_fsync``, ``after_link``, ``before_commit``, ``after_commit``, ``audit_append``.
Unset in production; reading one environment variable costs nothing measurable.
"""

from __future__ import annotations

import errno
import os
import threading

_counts: dict[str, int] = {}
_lock = threading.Lock()


def reset() -> None:
    """Forget arrivals counted so far (tests that set a new fault spec call this)."""
    with _lock:
        _counts.clear()


def fault_point(point: str) -> None:
    spec = os.environ.get("DOCSVC_FAULT")
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != point:
        return
    nth, _, mode = rest.partition(":")
    with _lock:
        _counts[point] = _counts.get(point, 0) + 1
        hit = _counts[point] == int(nth or 1)
    if not hit:
        return
    if mode == "eio":
        raise OSError(errno.EIO, f"injected I/O error at {point}")
    if mode == "enospc":
        raise OSError(errno.ENOSPC, f"injected disk full at {point}")
    if mode == "hang":
        threading.Event().wait()
    os._exit(137)
