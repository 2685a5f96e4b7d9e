"""The search-box language, parsed into a small syntax tree (pure: no Whoosh here).

What people type, and what it means::

    合同到期后服务怎么续签？          plain words: OR-ed, ranked by how much of them matches
                                     (in a large archive the commonest only rank: ranking.common_words)
    "服务等级协议" "service level"    quoted phrase: the words must be adjacent, in order
    合 同 编 号                       letter-spaced Chinese: the word it spells (合同编号)
    运维 AND 数据中心                 both required
    合同 OR 协议                      either
    NOT 草稿   -草稿                  excluded
    +续签                             required
    (变更 OR 事件) AND 机房            grouping
    type:合同  类型:sla               metadata field (Chinese and English names, codes or labels)
    title:验收  filename:报告.docx     a text field
    date:2026-01-01..2026-06-30       created between (inclusive; either end may be left open)
    created:[2026-01 TO 2026-06]      months and years are whole periods
    year:2025  year:2024..2026

Precedence, loosest first: juxtaposition (soft OR), OR, AND, then the prefixes NOT, - and +.
In a juxtaposed list, a plain word or phrase is optional (it raises the score), while a field
filter, an explicit AND/OR group or a ``+`` item is required and ``NOT``/``-`` items are
excluded: ``续签 type:合同`` means "contracts, best first those about 续签".

There is no wildcard, regex, fuzzy or boost syntax: ``*``, ``?``, ``~``, ``^`` and ``/`` are
ordinary characters, which the analyzer drops as punctuation (``*a*`` searches ``a``). Leading
wildcards cost seconds of CPU per query in Whoosh (reliability.md §1.7) and nobody types regex
into a document search.

A question typed or pasted in plain language is never refused for its punctuation: a quotation
mark without its partner is ordinary punctuation, and when the operators and brackets do not
make a well-formed query (``合同（续签`` or ``AND 机房``) the text is read again as plain words,
field filters kept. Only what clearly uses the query language and gets it wrong is refused, with a
bilingual :class:`InvalidInput`: a date or year that is not one, nesting deeper than
:data:`MAX_DEPTH`, more than :data:`MAX_NODES` field filters, a query longer than
:data:`MAX_QUERY_CHARS` (more than MAX_NODES words or operators are read as plain words). How many words of a long question are searched is the engines' to cut
(by how informative each is, see :data:`docsvc.core.search.MAX_QUERY_WORDS`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from docsvc.core.inputs import strip_controls
from docsvc.core.model import BUILTIN_DOC_TYPES, DocClass, DocStatus, ServiceCategory, ServiceScope
from docsvc.core.text import normalize, unspace_letters
from docsvc.errors import InvalidInput

if TYPE_CHECKING:
    from docsvc.core.synonyms import SynonymTable

MAX_QUERY_CHARS = 500
MAX_NODES = 64  # words, phrases and filters together
MAX_DEPTH = 8  # nested parentheses


class Field(StrEnum):
    """Canonical names of the fields a query can address."""

    CONTENT = "content"
    TITLE = "title"
    FILENAME = "filename"
    DOC_TYPE = "doc_type"
    SERVICE_CATEGORY = "service_category"
    DOC_CLASS = "doc_class"
    SERVICE_SCOPE = "service_scope"
    PROJECT = "project"
    COUNTERPARTY = "counterparty"
    TAG = "tag"
    STATUS = "status"
    YEAR = "year"
    CREATED = "created"
    EFFECTIVE = "effective"
    REVIEW = "review"
    EXTRACTION = "extraction"


# Names accepted before the colon (lowercased), English and Chinese.
FIELD_ALIASES: dict[str, Field] = {
    **{f.value: f for f in Field},
    "正文": Field.CONTENT,
    "内容": Field.CONTENT,
    "text": Field.CONTENT,
    "标题": Field.TITLE,
    "file": Field.FILENAME,
    "original_filename": Field.FILENAME,
    "文件名": Field.FILENAME,
    "文件": Field.FILENAME,
    "type": Field.DOC_TYPE,
    "类型": Field.DOC_TYPE,
    "文档类型": Field.DOC_TYPE,
    "category": Field.SERVICE_CATEGORY,
    "cat": Field.SERVICE_CATEGORY,
    "类别": Field.SERVICE_CATEGORY,
    "服务类别": Field.SERVICE_CATEGORY,
    "class": Field.DOC_CLASS,
    "文档类别": Field.DOC_CLASS,
    "文档分类": Field.DOC_CLASS,
    "scope": Field.SERVICE_SCOPE,
    "范畴": Field.SERVICE_SCOPE,
    "服务范畴": Field.SERVICE_SCOPE,
    "项目": Field.PROJECT,
    "party": Field.COUNTERPARTY,
    "相对方": Field.COUNTERPARTY,
    "客户": Field.COUNTERPARTY,
    "对方": Field.COUNTERPARTY,
    "tags": Field.TAG,
    "标签": Field.TAG,
    "状态": Field.STATUS,
    "年份": Field.YEAR,
    "年": Field.YEAR,
    "date": Field.CREATED,
    "created_at": Field.CREATED,
    "日期": Field.CREATED,
    "创建": Field.CREATED,
    "创建日期": Field.CREATED,
    "effective_date": Field.EFFECTIVE,
    "生效": Field.EFFECTIVE,
    "生效日期": Field.EFFECTIVE,
    "review_due": Field.REVIEW,
    "复审": Field.REVIEW,
    "复审日期": Field.REVIEW,
    "extraction_status": Field.EXTRACTION,
}

TEXT_FIELDS = frozenset({Field.CONTENT, Field.TITLE, Field.FILENAME})
DATE_FIELDS = frozenset({Field.CREATED, Field.EFFECTIVE, Field.REVIEW})

# Words a question is made of but no document is about. Dropped from plain (unquoted) words
# when something else remains, so 合同到期后服务怎么续签？ ranks by 合同/到期/服务/续签 and
# coordination does not reward documents for containing 怎么.
QUERY_STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 是 在 和 与 及 或 并 也 都 就 把 被 让 给 对 从 向 由 将 还 又 "
    "怎么 怎样 怎么样 如何 什么 哪些 哪个 哪里 为什么 为何 多少 几 请问 请 一下 可以 能否 能 "
    "是否 有没有 有 没有 需要 要 应该 应 会 我 我们 你 你们 您 他 她 它 他们 这 那 这个 那个 "
    "这些 那些 之 等 其 该 所 a an the of to in on for is are and or what how which who".split()
)


# --- the syntax tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Words to analyse (``phrase``: adjacent and in order). ``field`` None means everywhere
    (content, title and the bigram field)."""

    text: str
    field: Field | None = None
    phrase: bool = False


@dataclass(frozen=True)
class Synonyms:
    """A term of the synonym table (docsvc.core.synonyms) as typed, and its group: a document
    with any of the terms matches (each as a phrase). Made by :func:`expand`, never typed."""

    typed: str
    terms: tuple[str, ...]
    field: Field | None = None


@dataclass(frozen=True)
class Match:
    """An exact metadata value (already resolved: codes, not labels)."""

    field: Field
    values: tuple[str, ...]  # any of them


@dataclass(frozen=True)
class DateRange:
    field: Field
    start: dt.date | None  # inclusive
    end: dt.date | None  # inclusive


@dataclass(frozen=True)
class IntRange:
    field: Field
    start: int | None
    end: int | None


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Required:
    item: Node


@dataclass(frozen=True)
class Soft:
    """Juxtaposed items: plain words are optional and ranked by coordination, the rest keep
    their role (see :func:`role`)."""

    items: tuple[Node, ...]


Node = Text | Synonyms | Match | DateRange | IntRange | And | Or | Not | Required | Soft


class Role(StrEnum):
    SHOULD = "should"
    MUST = "must"
    MUST_NOT = "must_not"


def searched_texts(node: Node | None) -> Iterator[Text | Synonyms]:
    """The text a query searches for, in the order typed: its words, phrases and synonym
    groups, not what it excludes (under an odd number of NOTs)."""

    def walk(n: Node, *, positive: bool) -> Iterator[Text | Synonyms]:
        if isinstance(n, Not):
            yield from walk(n.item, positive=not positive)
        elif isinstance(n, Required):
            yield from walk(n.item, positive=positive)
        elif isinstance(n, (Soft, And, Or)):
            for item in n.items:
                yield from walk(item, positive=positive)
        elif positive and isinstance(n, (Text, Synonyms)):
            yield n

    return walk(node, positive=True) if node is not None else iter(())


def split_soft(items: tuple[Node, ...]) -> tuple[list[Node], list[Text | Synonyms], list[Node]]:
    """A juxtaposed list's items by role: the required ones, the optional words, and the
    excluded ones (taken out of their :class:`Not`)."""
    must: list[Node] = []
    should: list[Text | Synonyms] = []
    must_not: list[Node] = []
    for item in items:
        kind = role(item)
        if kind is Role.MUST_NOT:
            must_not.append(item.item)  # type: ignore[union-attr]
        elif kind is Role.SHOULD:
            should.append(item)  # type: ignore[arg-type]
        else:
            must.append(item)
    return must, should, must_not


def role(node: Node) -> Role:
    """The role of an item inside a :class:`Soft` list."""
    if isinstance(node, Not):
        return Role.MUST_NOT
    if isinstance(node, (Text, Synonyms)) and node.field is None:
        return Role.SHOULD
    return Role.MUST


# --- lexer ----------------------------------------------------------------------------------


class _Kind(StrEnum):
    WORD = "word"
    PHRASE = "phrase"
    LPAREN = "("
    RPAREN = ")"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    MINUS = "-"
    PLUS = "+"
    FIELD = "field"  # name: (the value follows as the next token)


@dataclass(frozen=True)
class _Tok:
    kind: _Kind
    text: str


_QUOTES = {'"': '"', "“": "”", "”": "”", "「": "」", "『": "』"}
_CLOSERS = frozenset(_QUOTES.values()) - frozenset(_QUOTES)
_OPERATORS = {"AND": _Kind.AND, "&&": _Kind.AND, "OR": _Kind.OR, "||": _Kind.OR, "NOT": _Kind.NOT}
_FIELD_RE = re.compile(r"([^\s:()\"“”「」『』]+):(?=\S)")
_SPACE_RE = re.compile(r"\s+")
_WORD_END_RE = re.compile(r"[\s()\"“”「」『』]")


def _invalid(zh: str, en: str) -> InvalidInput:
    return InvalidInput(f"搜索语句有误：{zh}", f"Invalid search query: {en}", field="q")


class _Malformed(InvalidInput):
    """Operators and brackets that do not make a query: :func:`parse_query` then reads the
    text as plain words instead of refusing it."""


def _malformed(zh: str, en: str) -> _Malformed:
    return _Malformed(f"搜索语句有误：{zh}", f"Invalid search query: {en}", field="q")


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(_Kind.LPAREN if c == "(" else _Kind.RPAREN, c))
            i += 1
        elif c in _CLOSERS:  # a closing mark with no opening one before it: punctuation
            i += 1
        elif c in _QUOTES:
            close = _QUOTES[c]
            j = q.find(close, i + 1)
            if c in "“”" and j < 0:
                j = q.find('"', i + 1)
            if j < 0:  # a stray quotation mark in pasted text: punctuation, not a phrase
                i += 1
                continue
            toks.append(_Tok(_Kind.PHRASE, q[i + 1 : j]))
            i = j + 1
        elif c in "-+" and i + 1 < n and not q[i + 1].isspace() and (not toks or _follows_space(q, i)):
            toks.append(_Tok(_Kind.MINUS if c == "-" else _Kind.PLUS, c))
            i += 1
        else:
            m = _FIELD_RE.match(q, i)
            if m and m.group(1).lower() in FIELD_ALIASES:
                toks.append(_Tok(_Kind.FIELD, m.group(1).lower()))
                i = m.end()
                continue
            end = _WORD_END_RE.search(q, i + 1)
            j = end.start() if end else n
            word = q[i:j]
            toks.append(_Tok(_OPERATORS.get(word, _Kind.WORD), word))
            i = j
    return toks


def _follows_space(q: str, i: int) -> bool:
    return i == 0 or q[i - 1].isspace() or q[i - 1] == "("


# --- parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.nodes = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def soft(self, depth: int, field: Field | None) -> Node:
        if depth > MAX_DEPTH:
            raise _invalid(f"括号嵌套超过 {MAX_DEPTH} 层。", f"parentheses nest deeper than {MAX_DEPTH}.")
        items: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind is not _Kind.RPAREN:
            items.append(self.or_expr(depth, field))
        if not items:
            raise _malformed("括号或查询中缺少搜索词。", "empty query or parentheses.")
        return items[0] if len(items) == 1 else Soft(tuple(items))

    def or_expr(self, depth: int, field: Field | None) -> Node:
        items = [self.and_expr(depth, field)]
        while (tok := self.peek()) is not None and tok.kind is _Kind.OR:
            self.take()
            items.append(self.and_expr(depth, field))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int, field: Field | None) -> Node:
        items = [self.unary(depth, field)]
        while (tok := self.peek()) is not None and tok.kind is _Kind.AND:
            self.take()
            items.append(self.unary(depth, field))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, depth: int, field: Field | None) -> Node:
        tok = self.peek()
        if tok is None or tok.kind in (_Kind.AND, _Kind.OR, _Kind.RPAREN):
            where_zh = f"“{tok.text}”前" if tok else "查询末尾"
            where_en = f"before '{tok.text}'" if tok else "at the end"
            raise _malformed(
                f"{where_zh}缺少搜索词：AND、OR、NOT 两侧都需要搜索词（要搜索这些英文单词本身，请加引号）。",
                f"a search term is missing {where_en}: AND, OR and NOT need a term on each side "
                "(to search for the words themselves, quote them).",
            )
        if tok.kind is _Kind.NOT or tok.kind is _Kind.MINUS:
            self.take()
            return Not(self.unary(depth, field))
        if tok.kind is _Kind.PLUS:
            self.take()
            return Required(self.unary(depth, field))
        return self.primary(depth, field)

    def primary(self, depth: int, field: Field | None) -> Node:
        tok = self.take()
        if tok.kind is _Kind.LPAREN:
            node = self.soft(depth + 1, field)
            if (close := self.peek()) is None or close.kind is not _Kind.RPAREN:
                raise _malformed("括号没有闭合。", "a parenthesis is not closed.")
            self.take()
            return node
        if tok.kind is _Kind.FIELD:
            if field is not None:
                raise _malformed("字段条件不能嵌套在另一个字段里。", "a field cannot be used inside another field.")
            target = FIELD_ALIASES[tok.text]
            value = self.peek()
            if value is None or value.kind not in (_Kind.WORD, _Kind.PHRASE, _Kind.LPAREN):
                raise _malformed(f"字段“{tok.text}:”后缺少值。", f"field '{tok.text}:' has no value.")
            if value.kind is _Kind.LPAREN:
                node = self.primary(depth, target)
                if isinstance(node, Soft) and target not in TEXT_FIELDS:
                    # type:(合同 sla) lists values: any of them.
                    node = Or(node.items)
                return node
            self.take()
            if target in DATE_FIELDS or target is Field.YEAR:
                return self.count(_range_or_value(target, self._range_text(value)))
            return self.count(_field_value(target, value.text, phrase=value.kind is _Kind.PHRASE))
        phrase = tok.kind is _Kind.PHRASE
        if field is not None and field not in TEXT_FIELDS:
            return self.count(_field_value(field, tok.text, phrase=phrase))
        return self.count(_text(tok.text, field, phrase=phrase))

    def _range_text(self, value: _Tok) -> str:
        """``[2026-01 TO 2026-06]`` arrives as several WORD tokens: join them back."""
        text = value.text
        if text.startswith("[") and not text.endswith("]"):
            parts = [text]
            while (tok := self.peek()) is not None and tok.kind is _Kind.WORD:
                parts.append(self.take().text)
                if tok.text.endswith("]"):
                    break
            text = " ".join(parts)
        return text

    def count(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _malformed(f"搜索条件过多（最多 {MAX_NODES} 个）。", f"too many search terms (at most {MAX_NODES}).")
        return node


def _text(text: str, field: Field | None, *, phrase: bool) -> Node:
    if not text.strip():
        raise _malformed("引号中没有内容。", "an empty phrase.")
    return Text(text, field, phrase)


def parse_query(q: str) -> Node | None:
    """Parse the search box. ``None`` for an empty query (list everything, e.g. with filters)."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"查询过长（{len(q)} 个字符），最多 {MAX_QUERY_CHARS} 个字符。",
            f"The query is too long ({len(q)} characters); at most {MAX_QUERY_CHARS}.",
            field="q",
        )
    # NFKC makes full-width （）：＋－ and ＡＮＤ work like their ASCII forms. Control characters
    # mean nothing in a question (a pasted tab or line break separates words, like a space).
    q = unicodedata.normalize("NFKC", strip_controls(q, allowed="", replacement=" ")).strip()
    # A letter-spaced heading pasted in (合 同 编 号) means the word, as it does in a document.
    q = unspace_letters(q)
    if not q:
        return None
    toks = _lex(q)
    parser = _Parser(toks)
    if parser.peek() is None:
        return None
    try:
        node = parser.soft(0, None)
        if parser.peek() is not None:  # a stray ")"
            raise _malformed("多了一个右括号“)”。", "an unmatched ')'.")
    except _Malformed:
        return _as_plain_words(toks)
    return node


def _as_plain_words(toks: list[_Tok]) -> Node | None:
    """The tokens of a query whose operators and brackets make no sense, read as a plain
    question: words (AND, OR and NOT among them) and balanced phrases, field filters kept,
    brackets and +/- dropped."""
    parser = _Parser(toks)
    items: list[Node] = []
    while (tok := parser.peek()) is not None:
        if (
            tok.kind is _Kind.FIELD
            and parser.i + 1 < len(toks)
            and toks[parser.i + 1].kind in (_Kind.WORD, _Kind.PHRASE)
        ):
            items.append(parser.primary(0, None))
            continue
        parser.take()
        if tok.kind is _Kind.PHRASE and tok.text.strip():
            items.append(Text(tok.text, phrase=True))
        elif tok.kind in (_Kind.WORD, _Kind.AND, _Kind.OR, _Kind.NOT, _Kind.FIELD):
            items.append(Text(tok.text if tok.kind is not _Kind.FIELD else tok.text + ":"))
    if not items:
        return None
    return items[0] if len(items) == 1 else Soft(tuple(items))


# --- synonyms -------------------------------------------------------------------------------

Expansion = tuple[str, tuple[str, ...]]  # a term as typed, and what else was searched for it


def expand(node: Node | None, table: SynonymTable | None) -> tuple[Node | None, tuple[Expansion, ...]]:
    """``node`` with each term of the synonym table in its plain words (not in quotes, not in
    a metadata field) searched as any of its group, and what was expanded."""
    if node is None or table is None or not table.groups:
        return node, ()
    applied: dict[str, tuple[str, ...]] = {}

    def words(t: Text) -> list[Node]:
        if t.phrase or t.field not in (None, Field.CONTENT, Field.TITLE):
            return [t]
        found = table.find(t.text)
        if not found:
            return [t]
        out: list[Node] = []
        cur = 0
        for start, end, group in found:
            if t.text[cur:start].strip():
                out.append(Text(t.text[cur:start], t.field))
            typed = t.text[start:end]
            out.append(Synonyms(typed, group, t.field))
            applied[typed] = tuple(g for g in group if normalize(g) != normalize(typed))
            cur = end
        if t.text[cur:].strip():
            out.append(Text(t.text[cur:], t.field))
        return out

    def walk(n: Node, *, soft: bool) -> list[Node]:
        if isinstance(n, Text):
            parts = words(n)
            # Outside a juxtaposed list the words of one Text are all required: keep them so.
            return parts if soft or len(parts) == 1 else [And(tuple(parts))]
        if isinstance(n, Soft):
            return [Soft(tuple(x for i in n.items for x in walk(i, soft=True)))]
        if isinstance(n, (And, Or)):
            return [type(n)(tuple(x for i in n.items for x in walk(i, soft=False)))]
        if isinstance(n, (Not, Required)):
            return [type(n)(walk(n.item, soft=False)[0])]
        return [n]

    top = walk(node, soft=True)
    result = top[0] if len(top) == 1 else Soft(tuple(top))
    return result, tuple(applied.items())


# --- field values ---------------------------------------------------------------------------


def _field_value(field: Field, value: str, *, phrase: bool) -> Node:
    value = value.strip()
    if field in TEXT_FIELDS:
        return _text(value, field, phrase=phrase)
    if field in DATE_FIELDS or field is Field.YEAR:
        return _range_or_value(field, value)
    if field in (Field.PROJECT, Field.COUNTERPARTY):
        # Exact value, or the words of it (handled by the adapter: analysed copy of the field).
        return Text(value, field, phrase=True)
    if field is Field.TAG:
        return Match(field, (value.lower(),))
    return Match(field, resolve_value(field, value))


def _choices(field: Field) -> list[tuple[str, tuple[str, ...]]]:
    """(code, names it may be called by) for an enumerated field."""
    if field is Field.DOC_TYPE:
        return [(c.code, (c.code, c.zh, c.en.lower())) for c in BUILTIN_DOC_TYPES]
    enum = {
        Field.SERVICE_CATEGORY: ServiceCategory,
        Field.DOC_CLASS: DocClass,
        Field.SERVICE_SCOPE: ServiceScope,
        Field.STATUS: DocStatus,
    }.get(field)
    if enum is None:
        return []
    out = []
    for m in enum:
        names = (m.value, m.name.lower(), m.zh, m.en.lower(), *_SHORT_NAMES.get(m.value, ()))
        if field is Field.DOC_CLASS:
            names += (m.zh.removesuffix("文档"),)  # 用户 / 现场
        out.append((m.value, names))
    return out


# What people call the spec's categories in everyday speech (the official names are long).
_SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "4.1": ("系统集成", "集成"),
    "4.2": ("运维", "运营维护", "运行维护"),
    "4.3": ("软件",),
    "4.4": ("数据加工", "数据处理"),
    "4.5": ("增值服务",),
    "4.6": ("数据库",),
    "4.7": ("电商",),
    "4.8": ("监理", "工程监理"),
    "4.9.1": ("测试", "软件测试"),
    "4.9.2": ("咨询",),
    "4.9.3": ("培训", "it培训"),
}


def resolve_value(field: Field, value: str) -> tuple[str, ...]:
    """Map what a person types (code, English or Chinese name, or part of the Chinese name) to
    the stored codes. Unknown values are kept as typed: they simply match nothing, and document
    types an operator added (DOCSVC_EXTRA_DOC_TYPES) still work by code."""
    v = value.strip().lower()
    choices = _choices(field)
    codes = tuple(code for code, names in choices if v in names)
    if not codes and len(v) >= 2 and re.search(r"[\u4e00-\u9fff]", v):
        codes = tuple(code for code, names in choices if any(v in name for name in names))
    if not codes:
        return (value.strip(),)
    if field is Field.SERVICE_CATEGORY:
        # Categories nest (4.3 software → 4.3.1 basic, 4.3.2 application …): a parent includes them.
        codes = tuple(c for c, _ in choices if any(c == p or c.startswith(p + ".") for p in codes))
    return codes


_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")
_RANGE_SPLIT_RE = re.compile(r"\.\.|\s*\bto\b\s*", re.IGNORECASE)


def _range_or_value(field: Field, raw: str) -> Node:
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    parts = _RANGE_SPLIT_RE.split(text)
    if len(parts) > 2:
        raise _invalid(f"范围“{raw}”格式不对。", f"range '{raw}' is malformed.")
    lo_raw = parts[0].strip()
    hi_raw = parts[-1].strip()
    if field is Field.YEAR:
        lo, hi = _year(lo_raw, raw), _year(hi_raw, raw)
        return IntRange(field, lo, hi)
    start = _date_bound(lo_raw, raw, end=False)
    end = _date_bound(hi_raw, raw, end=True)
    if start and end and end < start:
        raise _invalid(f"日期范围“{raw}”的结束早于开始。", f"date range '{raw}' ends before it starts.")
    return DateRange(field, start, end)


def _year(text: str, raw: str) -> int | None:
    if text in ("", "*"):
        return None
    if not re.fullmatch(r"\d{4}", text):
        raise _invalid(
            f"年份“{raw}”应为四位数字，例如 year:2026 或 year:2024..2026。",
            f"year '{raw}' should be four digits, e.g. year:2026 or year:2024..2026.",
        )
    return int(text)


def _date_bound(text: str, raw: str, *, end: bool) -> dt.date | None:
    """``2026`` / ``2026-03`` / ``2026-03-15`` as the first (or, for ``end``, the last) day."""
    if text in ("", "*"):
        return None
    m = _DATE_RE.match(text.replace("/", "-").replace(".", "-"))
    try:
        if not m:
            raise ValueError(text)
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        if month is None:
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        if day is None:
            last = calendar.monthrange(year, int(month))[1]
            return dt.date(year, int(month), last if end else 1)
        return dt.date(year, int(month), int(day))
    except ValueError:
        raise _invalid(
            f"日期“{raw}”无法识别，请使用 2026-01-01..2026-06-30 或 [2026-01 TO 2026-06] 这样的格式。",
            f"date '{raw}' is not understood; use e.g. 2026-01-01..2026-06-30 or [2026-01 TO 2026-06].",
        ) from None


__all__ = [
    "And",
    "DateRange",
    "FIELD_ALIASES",
    "Field",
    "IntRange",
    "MAX_QUERY_CHARS",
    "Match",
    "Node",
    "Not",
    "Or",
    "QUERY_STOPWORDS",
    "Required",
    "Role",
    "Soft",
    "Synonyms",
    "Text",
    "expand",
    "parse_query",
    "resolve_value",
    "role",
    "searched_texts",
    "split_soft",
]
