"""File names for documents written out: the whole title, readable, valid on Windows too.

A title is free text ("运维/开发服务合同"); a path separator in it used to cut the name to its
last segment, so several documents were written to the same file. Characters Windows forbids
are replaced by their full-width forms, which read the same to a Chinese user.
"""

from __future__ import annotations

import unicodedata

#: Characters not allowed in Windows file names (and / on every system) → full-width look-alikes.
_REPLACEMENTS = str.maketrans(
    {
        "/": "／",
        "\\": "＼",
        ":": "：",
        "*": "＊",
        "?": "？",
        '"': "＂",
        "<": "＜",
        ">": "＞",
        "|": "｜",
    }
)
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_NAME_BYTES = 255  # ext4, NTFS (in UTF-16 units, more than this), APFS


def document_filename(title: str, ext: str, *, fallback: str = "document") -> str:
    """``title.ext`` made safe to write on Linux, macOS and Windows.

    Nothing is dropped except control and format characters; only a name longer than a file
    system allows (255 bytes, about 80 Chinese characters) is shortened, at a character
    boundary, with "…" marking the cut.
    """
    name = unicodedata.normalize("NFC", title or "").translate(_REPLACEMENTS)
    name = "".join(
        " " if ch in "\t\n\r" else ch for ch in name if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    name = " ".join(name.split()).strip(" .") or fallback
    if name.split(".")[0].upper() in _RESERVED:
        name = f"{name}_"
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode())
    if len(name.encode()) > budget:
        cut = name.encode()[: budget - len("…".encode())].decode("utf-8", "ignore").rstrip(" .")
        name = f"{cut}…"
    return name + suffix
