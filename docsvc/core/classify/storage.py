"""A trained model as bytes and as a file: versioned, checked before anything is unpickled,
written atomically."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path

from docsvc.core.classify.model import FEATURES_VERSION, MODEL_VERSION, Model, sklearn_version
from docsvc.errors import InvalidInput

_MAGIC = b"docsvc-classifier\n"


def _header() -> dict[str, object]:
    return {"model_version": MODEL_VERSION, "features_version": FEATURES_VERSION, "sklearn_version": sklearn_version()}


def dumps(model: Model) -> bytes:
    """The model as bytes: a magic line, a JSON header line with the versions, then the pickled
    Model. The header lets :func:`loads` refuse a stale model without unpickling it."""
    header = {
        "model_version": model.model_version,
        "features_version": model.features_version,
        "sklearn_version": model.sklearn_version,
    }
    return _MAGIC + json.dumps(header).encode() + b"\n" + pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes, name: str = "model") -> Model | None:
    """Read a model made by :func:`dumps`.

    Returns None when it was made by another ``MODEL_VERSION``, analyzer (``FEATURES_VERSION``)
    or scikit-learn version: the caller should retrain. Raises :class:`InvalidInput` when the
    bytes are not a docsvc classifier model at all.

    Unpickling runs code: load only bytes docsvc itself wrote and whose SHA-256 the catalog
    recorded. The magic and the header are checked before anything is unpickled, so a stale or
    foreign model never reaches pickle.
    """
    magic, _, rest = data.partition(b"\n")
    header_line, _, body = rest.partition(b"\n")
    try:
        header = json.loads(header_line) if magic + b"\n" == _MAGIC else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise InvalidInput(
            f"“{name}”不是 docsvc 分类模型。请删除它并重新训练。",
            f"'{name}' is not a docsvc classifier model; delete it and retrain.",
            field="model",
        )
    if header != _header():
        return None
    model = pickle.loads(body)
    if not isinstance(model, Model):
        raise InvalidInput(
            f"“{name}”的内容不是分类模型。请删除它并重新训练。",
            f"'{name}' does not contain a classifier model; delete it and retrain.",
            field="model",
        )
    return model


def save(model: Model, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (temp file, fsync, rename): a crash leaves the
    previous model or the new one, never half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(dumps(model))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> Model | None:
    """Read a model file written by :func:`save` (None when there is none); see :func:`loads`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return loads(data, path.name)
