"""Sort keys that put Chinese text in pinyin order (阿里 < 北京 < 长沙 < 招商), as a Chinese
reader expects a list of titles, projects or counterparties to be sorted.

The key is plain ASCII for Chinese characters (the syllables with their tone numbers, chosen by
pypinyin for the word, so 长沙 is "chang2sha1" and 银行 "yin2hang2"); other characters are kept,
lowercased. The tone digit ends each syllable, so "xi1an1" (西安) sorts before "xian1" (先) and the
key needs no separator. Stored in the catalog beside the text (documents.title_key …), the key is
ordered by the database itself, so paging stays correct on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

MAX_KEY = 500  # characters kept: a longer title is ordered by its first ~70 Chinese characters


@lru_cache(maxsize=1)
def _pinyin():
    # Imported on first use: its dictionaries take a moment and some memory to load.
    from pypinyin import Style, lazy_pinyin
    return lambda text: lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="default")


def sort_key(text: str) -> str:
    """The pinyin sort key of ``text`` (see the module's docstring); "" for empty text."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return ""
    return "".join(_pinyin()(text)).lower()[:MAX_KEY]
