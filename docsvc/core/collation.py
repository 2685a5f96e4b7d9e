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
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import Any

MAX_KEY = 500  # characters kept: a longer title is ordered by its first ~70 Chinese characters


@lru_cache(maxsize=1)
def _tables() -> tuple[Any, Any, Callable[[str], str], Any]:
    # Imported on first use: the dictionaries take a moment and some memory to load. pypinyin's
    # own tables and word segmentation, read directly: lazy_pinyin gives the same syllables but
    # at ~20 times the cost, which every archived document would pay three times.
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_tone3
    from pypinyin.seg.mmseg import seg

    @cache  # a few thousand syllables in all
    def tone3(syllable: str) -> str:
        return to_tone3(syllable, neutral_tone_with_five=True)

    return PHRASES_DICT, PINYIN_DICT, tone3, seg


def _syllables(text: str) -> Iterator[str]:
    phrases, chars, tone3, seg = _tables()
    for word in seg.cut(text):
        if len(word) > 1 and word in phrases:  # a word's reading: 长沙 chang2sha1, 银行 yin2hang2
            for readings in phrases[word]:
                yield tone3(readings[0])
            continue
        for ch in word:  # else each character's most common reading; other characters as they are
            reading = chars.get(ord(ch))
            yield tone3(reading.split(",", 1)[0]) if reading else ch.lower()


@lru_cache(maxsize=4096)  # projects and counterparties repeat from document to document
def sort_key(text: str) -> str:
    """The pinyin sort key of ``text`` (see the module's docstring); "" for empty text."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return ""
    return "".join(_syllables(text)).lower()[:MAX_KEY]
